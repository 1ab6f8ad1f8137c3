"""RPC contracts of the decision service's steps (requests carry the acting user as ``actor``)."""
