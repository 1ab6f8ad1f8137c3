from hqcore.migrations import run_env
from services.intake.adapters import metadata

run_env(metadata)
