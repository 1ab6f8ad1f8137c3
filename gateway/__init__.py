"""The HTTP gateway of the suite: ``create_app`` builds it, ``python -m gateway`` serves it."""

from gateway.app import create_app  # noqa: F401
