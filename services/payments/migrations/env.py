from hqcore.migrations import run_env
from services.payments.adapters import metadata

run_env(metadata)
