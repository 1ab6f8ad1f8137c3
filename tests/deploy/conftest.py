"""Deploy tier: the files operators deploy with (Dockerfiles, compose, Kubernetes manifests,
Prometheus rules and the Grafana dashboard), checked offline, and the monitoring against a real
Prometheus scraping the suite run as processes (``tests.support.suite``, started only for the
tests that ask for ``suite``)."""

import pytest

from tests.support.suite import running_suite


@pytest.fixture(scope="session")
def suite(tmp_path_factory):
    with running_suite(tmp_path_factory.mktemp("suite") / "var") as suite:
        yield suite
