"""Test support: the pytest plugin of the service and end-to-end tiers (``plugin.py``)."""
