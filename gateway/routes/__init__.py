"""Every route of the gateway, one module per owning service (``intake``, ``verification``,
``publicity``, ``decision``, ``payments``, ``supervision``), plus ``cases`` (the case and its
documents across the services), ``session`` (login) and ``system`` (health, metrics, clock,
API documents).

Every module has one shape:

- ``bp = Blueprint(<module>, __name__)`` and one small view per route;
- a view first takes the acting user, ``actor = current_actor()`` (401), then builds the RPC
  request with ``validated(<contract>, {...body or query, ...path})`` (400 naming the field,
  before any RPC), calls ``call(<service>, <method>, actor, **request)`` (every step and every
  read gets ``actor=``; the service authorises it again) and answers
  ``jsonify(present(answer, actor))`` (personal data masked for the roles that must not see
  it). A step on one case is the whole of that in one line: ``case_step(<service>, <method>,
  case_id)``;
- ``OPERATIONS``: the module's routes as ``gateway.openapi.Operation`` entries, which the
  OpenAPI document and the docs page are built from.
"""

from gateway.routes import (
    cases,
    decision,
    intake,
    payments,
    publicity,
    session,
    supervision,
    system,
    verification,
)

MODULES = (system, session, intake, cases, verification, publicity, decision, payments, supervision)
BLUEPRINTS = [module.bp for module in MODULES]
OPERATIONS = tuple(op for module in MODULES for op in module.OPERATIONS)
