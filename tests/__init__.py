"""The test tiers (``unit``, ``service``, ``e2e``); a package so ``tests.support`` imports."""
