"""RPC contracts of the publicity service's steps (requests carry the acting user as ``actor``)."""
