"""``make bench``: the suite's messaging paths measured against raw kombu in the same run.

``python -m bench`` (``--quick`` for a small run). Modules: ``report`` (pure: percentiles,
ratios, the table and the ``BENCH`` JSON line), ``env`` (temporary var dir, RabbitMQ vhost and
service processes), ``raw`` (the bare-kombu baselines), ``rpc`` (section 1: a request needing
one RPC) and ``events`` (section 2: outbox -> broker -> idempotent handler).
"""
