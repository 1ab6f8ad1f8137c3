"""RPC contracts of the supervision service's steps (requests carry the acting user as ``actor``)."""
