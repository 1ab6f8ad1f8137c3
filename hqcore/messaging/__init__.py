"""Messaging: the event envelope, the outbox and its relay, idempotent subscribers, RPC."""
