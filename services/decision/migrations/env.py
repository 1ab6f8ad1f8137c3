from hqcore.migrations import run_env
from services.decision.adapters import metadata

run_env(metadata)
