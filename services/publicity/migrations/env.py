from hqcore.migrations import run_env
from services.publicity.adapters import metadata

run_env(metadata)
