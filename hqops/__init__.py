"""Operator tooling, outside the runtime kit (``hqcore``) that every service process imports.

``python -m hqops.cli``: the operator commands (migrate, seed, dead letters, holidays, delegation,
policy tables); ``python -m hqops.supervisor``: the local supervisor of ``make run``;
``hqops.deadletters``: listing and replaying dead-lettered events; ``hqops.samples``: sample
households and demo actors for the benchmark and the tests. No service imports this package.
"""
