from hqcore.migrations import run_env
from services.supervision.adapters import metadata

run_env(metadata)
