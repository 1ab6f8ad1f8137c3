"""Service tier: nameko containers against the real broker. eventlet is patched first."""

import eventlet

eventlet.monkey_patch()  # noqa: E402  (before anything imports socket or threading)

import pytest  # noqa: E402
from nameko.containers import ServiceContainer  # noqa: E402

from hqcore.run import nameko_config  # noqa: E402

# The fixtures amqp_uri, backend, suite_env, settings, broker; imported after the patching.
pytest_plugins = ["tests.support.plugin"]


@pytest.fixture
def start_service(settings):
    """Start nameko containers of service classes under the test's settings."""
    containers = []

    def start(service_cls, settings_override=None):
        container = ServiceContainer(service_cls, nameko_config(settings_override or settings))
        container.start()
        containers.append(container)
        return container

    yield start
    for container in reversed(containers):
        container.stop()


@pytest.fixture
def rpc(settings):
    """nameko's standalone proxy, every call signed with the suite's request key as the
    gateway signs (SEC-14); ``rpc.<service>.<method>(..., idempotency_key=...)`` sends one."""
    from tests.support.plugin import signed_rpc

    with signed_rpc(settings, timeout=15) as proxy:
        yield proxy
