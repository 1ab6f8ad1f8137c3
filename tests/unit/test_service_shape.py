"""The one shape of every service, checked from the code itself.

- every RPC entrypoint has a registered request/response contract, and every event handler
  subscribes to registered event types;
- ``service.py`` holds entrypoints only, each one statement that hands a declared handler of
  ``handlers.py`` to the kit (the shared entrypoints come from ``hqcore.service_kit``);
- ``domain.py`` is pure (no nameko, no SQLAlchemy) and no service keeps a string-keyed bag.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

from hqcore.config import PROJECT_ROOT, SERVICES
from hqcore.contracts import EVENTS
from hqcore.contracts.registry import RPC
from hqcore.steps import spec_of

SERVICES_DIR = PROJECT_ROOT / "services"


def entrypoints(service_cls):
    for name, member in inspect.getmembers(service_cls):
        for entrypoint in getattr(member, "nameko_entrypoints", ()):
            yield name, entrypoint


@pytest.mark.parametrize("service", SERVICES)
def test_every_rpc_entrypoint_and_event_handler_has_a_registered_contract(service):
    cls = importlib.import_module(f"services.{service}.service").SERVICE
    kinds = {}
    for name, entrypoint in entrypoints(cls):
        kind = type(entrypoint).__name__
        kinds[name] = kind
        if kind == "Rpc":
            assert f"{service}.{name}" in RPC, f"{service}.{name} has no RPC contract"
        elif kind == "EventSubscriber":
            for event_type in entrypoint.event_types:
                assert any(t == event_type for t, _ in EVENTS), (
                    f"{service}.{name} subscribes to {event_type}, which has no contract"
                )
        else:
            # the operator's calendar broadcast (hqcore.service_kit) and periodic jobs
            assert kind in ("OperatorBroadcast", "Periodic"), f"{service}.{name}: {kind}"
    assert "ping" in kinds and kinds.get("get_document") == "Rpc"


def _class_methods(path: Path) -> list[ast.FunctionDef]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    [cls] = [n for n in tree.body if isinstance(n, ast.ClassDef)]
    return [n for n in cls.body if isinstance(n, ast.FunctionDef)]


@pytest.mark.parametrize("service", SERVICES)
def test_service_py_is_entrypoints_only_each_handing_a_declared_handler_to_the_kit(service):
    module = importlib.import_module(f"services.{service}.service")
    handlers = importlib.import_module(f"services.{service}.handlers")
    for method in _class_methods(SERVICES_DIR / service / "service.py"):
        assert method.decorator_list, f"{service}.{method.name} is not an entrypoint"
        body = [
            s
            for s in method.body
            if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        ]
        assert len(body) == 1, f"{service}.{method.name} is not one line into the kit"
        calls = [
            n
            for n in ast.walk(body[0])
            if isinstance(n, ast.Call)
            and isinstance(n.func, ast.Attribute)
            and isinstance(n.func.value, ast.Attribute)
            and isinstance(n.func.value.value, ast.Name)
            and n.func.value.value.id == "self"
            and n.func.value.attr == "work"
        ]
        assert calls, f"{service}.{method.name} does not call self.work"
        handler_args = [
            a
            for a in calls[0].args
            if isinstance(a, ast.Attribute)
            and isinstance(a.value, ast.Name)
            and a.value.id == "handlers"
        ]
        for arg in handler_args:
            spec_of(getattr(handlers, arg.attr))  # a declared handler of handlers.py
    assert hasattr(module, "SERVICE")


@pytest.mark.parametrize("service", SERVICES)
def test_domain_is_pure_and_no_service_keeps_a_string_keyed_bag(service):
    domain = (SERVICES_DIR / service / "domain.py").read_text(encoding="utf-8")
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(domain))
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    imported |= {
        node.module.split(".")[0]
        for node in ast.walk(ast.parse(domain))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not imported & {"nameko", "sqlalchemy", "kombu", "eventlet"}
    for path in (SERVICES_DIR / service).rglob("*.py"):
        assert 'details["' not in path.read_text(encoding="utf-8"), path
