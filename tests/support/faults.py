"""Fault injection, for tests only: ``python -m tests.support.faults crash-after-commit intake``
runs a service whose process dies right after a unit of work commits events, before the outbox
relay can publish them (exit code 70). The runtime package knows nothing of it: the service
class is wrapped here with a unit-of-work provider that overrides the commit hook."""

import eventlet

eventlet.monkey_patch()  # noqa: E402  (as hqcore.run: before anything imports socket)

import os  # noqa: E402
import sys  # noqa: E402
from typing import Any  # noqa: E402

from hqcore import run  # noqa: E402
from hqcore.providers import UnitOfWorkProvider  # noqa: E402

CRASH_EXIT_CODE = 70


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


FAULTS = {"crash-after-commit": crash_after_commit}


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
