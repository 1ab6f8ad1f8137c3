from hqcore.migrations import run_env
from services.verification.adapters import metadata

run_env(metadata)
