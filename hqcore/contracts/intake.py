"""RPC contracts of the intake service's steps (requests carry the acting user as ``actor``)."""
