"""RPC contracts of the verification service's steps (requests carry the acting user as ``actor``)."""
