"""How Edgebind names map onto Qdrant: collections, point ids, payload keys.

Qdrant point ids must be unsigned integers or UUIDs, while a Vectorize id is
any string of up to 64 bytes. Each vector id becomes the UUID version 5 of its
UTF-8 bytes under a fixed namespace, so the mapping needs no lookup table and
every process computes the same point for the same id. The original id is kept
in the payload under :data:`ID_KEY`, which is how a point found by search is
turned back into its vector id. Two ids sharing a UUID would need a SHA-1
collision within 122 bits; reads still compare the stored id to the one asked
for, so such a collision could never return the wrong vector.
"""

from __future__ import annotations

import hashlib
import logging
import uuid

logger = logging.getLogger(__name__)

__all__ = [
    "ID_KEY",
    "INDEX_KEY",
    "META_KEY",
    "NAMESPACE_KEY",
    "NORM_KEY",
    "STATE_COLLECTION",
    "collection_name",
    "point_id",
    "state_point_id",
]

#: Fixed namespace of the UUID5 point ids; changing it orphans stored points.
POINT_ID_NAMESPACE = uuid.UUID("0f6d3c1e-8a4b-5c2d-9e7f-3a1b2c4d5e6f")

#: Payload keys. User metadata never lands at the top level of a payload, so
#: no metadata field can collide with these.
ID_KEY = "__edgebind_id"
NAMESPACE_KEY = "__edgebind_ns"
#: The metadata exactly as given, as JSON text, so that types survive
#: (an int stays an int, big integers keep every digit).
META_KEY = "__edgebind_meta"
#: The typed filter index built from the metadata (see edgebind_qdrant.filters).
INDEX_KEY = "__edgebind_f"
#: For cosine indexes: the L2 norm of the vector as given. Qdrant normalises
#: cosine vectors when it stores them; the norm restores the original values.
NORM_KEY = "__edgebind_norm"

#: One small collection per Qdrant server records each index's last mutation.
#: Index names start with a letter or digit, so no index collection
#: (``edgebind_<name>``) can be named like this one.
STATE_COLLECTION = "edgebind__state"


def collection_name(index_name: str) -> str:
    """The Qdrant collection holding index ``index_name``."""
    return f"edgebind_{index_name}"


def _uuid5(name: bytes) -> uuid.UUID:
    # uuid.uuid5 only accepts str before Python 3.12 and would reject the lone
    # surrogates a vector id may carry, so the same SHA-1 recipe is spelled out.
    digest = hashlib.sha1(POINT_ID_NAMESPACE.bytes + name, usedforsecurity=False)
    return uuid.UUID(bytes=digest.digest()[:16], version=5)


def point_id(vector_id: str) -> str:
    """The Qdrant point id (a UUID string) of Vectorize id ``vector_id``."""
    return str(_uuid5(vector_id.encode("utf-8", "surrogatepass")))


def state_point_id(index_name: str) -> str:
    """The point of :data:`STATE_COLLECTION` holding ``index_name``'s state."""
    return str(_uuid5(b"state\x00" + index_name.encode("utf-8")))
