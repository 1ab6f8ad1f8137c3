"""RPC contracts of the payments service's steps (requests carry the acting user as ``actor``)."""
