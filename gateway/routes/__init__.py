"""The gateway's routes for each step of the procedure, one module per owning service.

Each module defines a Blueprint ``bp`` and ``OPERATIONS`` (its OpenAPI entries)."""
from gateway.routes import decision, intake, payments, publicity, supervision, verification

MODULES = (intake, verification, publicity, decision, payments, supervision)
BLUEPRINTS = [module.bp for module in MODULES]
OPERATIONS = tuple(op for module in MODULES for op in module.OPERATIONS)
