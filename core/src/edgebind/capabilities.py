"""What a driver declares it can do, one frozen dataclass per resource kind.

The interfaces enforce the numeric limits before a driver sees a call, and the
contract suite reads the flags to decide which cases apply: a capability that
is declared is tested to work, one that is left out is tested to be absent.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "MAX_KV_KEY_BYTES",
    "MAX_KV_LIST_LIMIT",
    "MAX_KV_TTL_SECONDS",
    "MAX_KV_VALUE_BYTES",
    "MAX_VECTOR_DIMENSIONS",
    "MAX_VECTOR_TOP_K",
    "D1Capabilities",
    "KVCapabilities",
    "VectorizeCapabilities",
]

MAX_KV_KEY_BYTES = 512
MAX_KV_VALUE_BYTES = 25 * 1024 * 1024
MAX_KV_LIST_LIMIT = 1000
#: 100 years: long enough for any real expiry, short enough for every
#: backend's own expiry arithmetic (Redis counts milliseconds in 64 bits).
MAX_KV_TTL_SECONDS = 100 * 365 * 24 * 3600
MAX_VECTOR_TOP_K = 100
MAX_VECTOR_DIMENSIONS = 1536 * 4
MAX_VECTOR_ID_BYTES = 64


@dataclass(frozen=True, slots=True)
class KVCapabilities:
    ttl: bool = True
    min_ttl_seconds: int = 1
    max_key_bytes: int = MAX_KV_KEY_BYTES
    max_value_bytes: int = MAX_KV_VALUE_BYTES
    max_list_limit: int = MAX_KV_LIST_LIMIT
    #: keys list in ascending UTF-8 byte order
    list_ordered: bool = True
    #: the driver reads time through the injected clock, so TTL tests can
    #: jump forward instead of sleeping
    injectable_clock: bool = True


@dataclass(frozen=True, slots=True)
class D1Capabilities:
    #: the SQL dialect statements are written in: "sqlite" or "postgresql"
    dialect: str = "sqlite"
    #: ``?NNN`` numbered parameters
    numbered_params: bool = True
    #: ``RETURNING`` clauses
    returning: bool = True
    #: a result with two columns of one name is refused, not last-wins
    rejects_duplicate_columns: bool = True


@dataclass(frozen=True, slots=True)
class VectorizeCapabilities:
    metrics: frozenset[str] = frozenset({"cosine", "euclidean", "dot-product"})
    filter_operators: frozenset[str] = frozenset(
        {"$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte"}
    )
    #: search returns the exact nearest neighbours (brute force), not ANN
    exact: bool = True
    #: below 1.0 for approximate backends; the contract checks recall
    min_recall: float = 1.0
    max_top_k: int = MAX_VECTOR_TOP_K
    max_dimensions: int = MAX_VECTOR_DIMENSIONS
    namespaces: bool = True
