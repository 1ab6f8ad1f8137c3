"""End-to-end tier: the whole suite as separate processes on PostgreSQL, driven through the
gateway's HTTP (``tests.support.suite``). One suite for the session: each test makes its own
cases and filters what it reads by them."""

import pytest

from tests.support.suite import running_suite


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    with running_suite(tmp_path_factory.mktemp("suite") / "var") as suite:
        yield suite
