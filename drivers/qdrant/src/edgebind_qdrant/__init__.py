"""Edgebind's Qdrant driver: Vectorize indexes on a Qdrant server or embedded."""

from edgebind_qdrant.driver import QdrantDriver

__all__ = ["QdrantDriver"]
