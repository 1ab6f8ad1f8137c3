"""Fault injection, for tests only: ``python -m tests.support.faults FAULT SERVICE`` runs a
service with a fault. The runtime package knows nothing of them; each is applied here, in the
service's own process:

- ``crash-after-commit``: the process dies right after a unit of work commits events, before
  the outbox relay can publish them (exit code 70); the service class is wrapped with a
  unit-of-work provider that overrides the commit hook.
- ``duplicate-events``: every event the outbox relay publishes is published twice, with the
  same event id, as a broker redelivery or a relay that died before marking a row would do
  (the fault tier checks that the end state is the same as without duplicates). With
  ``HQ_FAULT_DUPLICATE_WHILE=<path>`` in the environment, only while that file exists, so one
  suite can run cases without and then with duplicates.
"""

import eventlet

eventlet.monkey_patch()  # noqa: E402  (as hqcore.run: before anything imports socket)

import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Mapping  # noqa: E402
from typing import Any  # noqa: E402

from hqcore import run  # noqa: E402
from hqcore.messaging.outbox import EventPublisher  # noqa: E402
from hqcore.providers import UnitOfWorkProvider  # noqa: E402

CRASH_EXIT_CODE = 70
DUPLICATE_SWITCH = "HQ_FAULT_DUPLICATE_WHILE"


class CrashAfterCommit(UnitOfWorkProvider):
    """Dies between the commit and the publish: the events stay in the outbox."""

    def after_commit(self) -> None:
        os._exit(CRASH_EXIT_CODE)


def crash_after_commit(service_cls: Any) -> Any:
    work = service_cls.work
    faulty = CrashAfterCommit(
        work.tables,
        repositories=work.repositories,
        ports=work.ports,
        templates=work.templates_folder,
        view=work.view,
    )
    return type(service_cls.__name__, (service_cls,), {"work": faulty})


def duplicate_events(service_cls: Any) -> Any:
    """Patch this process's ``EventPublisher`` to publish each envelope twice."""
    publish = EventPublisher.publish
    switch = os.environ.get(DUPLICATE_SWITCH)

    def publish_twice(self: EventPublisher, envelope: Mapping[str, Any]) -> None:
        publish(self, envelope)
        if switch is None or os.path.exists(switch):
            publish(self, envelope)

    EventPublisher.publish = publish_twice  # type: ignore[method-assign]
    return service_cls


FAULTS = {"crash-after-commit": crash_after_commit, "duplicate-events": duplicate_events}


def command(python: str, fault: str, service: str) -> list[str]:
    """The command line that runs ``service`` with ``fault``."""
    return [python, "-m", "tests.support.faults", fault, service]


if __name__ == "__main__":
    fault, *rest = sys.argv[1:] or ["?"]
    if fault not in FAULTS:
        print(
            f"usage: python -m tests.support.faults {{{'|'.join(FAULTS)}}} SERVICE", file=sys.stderr
        )
        sys.exit(2)
    sys.exit(run.main(rest, wrap=FAULTS[fault]))
