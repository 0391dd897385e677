"""The Vectorize interface: a vector index with metadata filters and namespaces.

A vector id is unique in its index. ``namespace`` partitions search only:
``get_by_ids`` and ``delete_by_ids`` address ids whatever their namespace, an
upsert may move an id to another namespace, and a search without a namespace
covers every vector.

Scores follow Vectorize's convention for each metric: ``cosine`` is the cosine
similarity (highest first), ``euclidean`` the L2 distance (smallest first),
``dot-product`` the dot product (highest first).
"""

from __future__ import annotations

import json
import math
from abc import abstractmethod
from array import array
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Literal

from edgebind.capabilities import MAX_VECTOR_ID_BYTES, VectorizeCapabilities
from edgebind.errors import Conflict, InvalidArgument, NotFound
from edgebind.filters import VectorFilter
from edgebind.resource import Resource, ResourceSpec

__all__ = [
    "MAX_METADATA_BYTES",
    "METRICS",
    "IndexInfo",
    "Metric",
    "MutationResult",
    "QueryOptions",
    "ReturnMetadata",
    "Vector",
    "VectorIndex",
    "VectorMatch",
]

Metric = Literal["cosine", "euclidean", "dot-product"]
METRICS: tuple[Metric, ...] = ("cosine", "euclidean", "dot-product")
ReturnMetadata = Literal["all", "indexed", "none"]
MAX_METADATA_BYTES = 10 * 1024
MAX_METADATA_DEPTH = 32
INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
FLOAT32_MAX = 3.4028234663852886e38
MAX_NAMESPACE_BYTES = 64
MAX_BATCH = 5000


@dataclass(frozen=True, slots=True)
class Vector:
    id: str
    values: tuple[float, ...]
    metadata: dict[str, Any] | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class VectorMatch:
    id: str
    score: float
    values: tuple[float, ...] | None = None
    metadata: dict[str, Any] | None = None
    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class MutationResult:
    count: int
    mutation_id: str


@dataclass(frozen=True, slots=True)
class IndexInfo:
    dimensions: int
    metric: Metric
    vector_count: int
    processed_up_to_mutation: str | None = None
    processed_up_to_datetime: datetime | None = None


@dataclass(frozen=True, slots=True)
class QueryOptions:
    top_k: int = 10
    filter: VectorFilter | None = None
    namespace: str | None = None
    return_values: bool = False
    #: "indexed" is served as "all": Edgebind keeps no separate metadata
    #: indexes, so every metadata field is an indexed one.
    return_metadata: ReturnMetadata = "none"


class VectorIndex(Resource):
    """One declared Vectorize index with fixed dimensions and metric."""

    capabilities: ClassVar[VectorizeCapabilities] = VectorizeCapabilities()

    def __init__(self, spec: ResourceSpec) -> None:
        super().__init__(spec)
        dimensions = spec.options.get("dimensions")
        metric = spec.options.get("metric", "cosine")
        if not isinstance(dimensions, int) or dimensions < 1:
            raise InvalidArgument(
                f"index {spec.name!r} needs a positive whole number of dimensions"
            )
        if metric not in METRICS:
            raise InvalidArgument(
                f"index {spec.name!r} has metric {metric!r}; "
                f"use one of {', '.join(METRICS)}"
            )
        self.dimensions: int = dimensions
        self.metric: Metric = metric

    # ----------------------------------------------------------------- public

    async def upsert(self, vectors: Sequence[Vector]) -> MutationResult:
        """Insert or replace vectors; metadata is replaced, never merged.

        Within one batch the last vector with a given id wins.
        """
        self._check_open()
        checked = self._check_batch(vectors)
        latest = {vector.id: vector for vector in checked}
        return await self._upsert(list(latest.values()))

    async def insert(self, vectors: Sequence[Vector]) -> MutationResult:
        """Insert new vectors; Conflict (409) if any id already exists.

        Nothing is written when any id conflicts.
        """
        self._check_open()
        checked = self._check_batch(vectors)
        seen: set[str] = set()
        for vector in checked:
            if vector.id in seen:
                raise InvalidArgument(
                    f"vector id {vector.id!r} appears twice in one insert; "
                    "ids must be unique within a batch"
                )
            seen.add(vector.id)
        existing = await self._get_by_ids(list(seen))
        if existing:
            taken = ", ".join(repr(v.id) for v in existing[:5])
            raise Conflict(
                f"vector ids already exist in index {self.name!r}: {taken}; "
                "use upsert to replace them"
            )
        return await self._insert(checked)

    async def query(
        self, vector: Sequence[float], options: QueryOptions | None = None
    ) -> list[VectorMatch]:
        """The ``top_k`` nearest vectors, best first, by the index's metric."""
        self._check_open()
        opts = options or QueryOptions()
        self._check_options(opts)
        values = self._check_values(vector, "query vector")
        return await self._query(values, opts)

    async def query_by_id(
        self, vector_id: str, options: QueryOptions | None = None
    ) -> list[VectorMatch]:
        """As :meth:`query`, using a stored vector (which matches itself)."""
        self._check_open()
        opts = options or QueryOptions()
        self._check_options(opts)
        self._check_id(vector_id)
        found = await self._get_by_ids([vector_id])
        if not found:
            raise NotFound(
                f"vector {vector_id!r} does not exist in index {self.name!r}"
            )
        return await self._query(found[0].values, opts)

    async def get_by_ids(self, ids: Sequence[str]) -> list[Vector]:
        """The stored vectors among ``ids``, in the order asked; unknown ids are
        left out."""
        self._check_open()
        wanted = self._check_ids(ids)
        found = {v.id: v for v in await self._get_by_ids(wanted)}
        return [found[i] for i in dict.fromkeys(wanted) if i in found]

    async def delete_by_ids(self, ids: Sequence[str]) -> MutationResult:
        """Delete ``ids``; missing ids are ignored and not counted."""
        self._check_open()
        wanted = list(dict.fromkeys(self._check_ids(ids)))
        return await self._delete_by_ids(wanted)

    async def describe(self) -> IndexInfo:
        self._check_open()
        return await self._describe()

    # ------------------------------------------------------- driver interface

    @abstractmethod
    async def _upsert(self, vectors: list[Vector]) -> MutationResult:
        """Write vectors (ids unique in the list); count is len(vectors)."""

    async def _insert(self, vectors: list[Vector]) -> MutationResult:
        """Write vectors known not to exist. Drivers that can detect a
        conflict atomically override this and raise Conflict themselves."""
        return await self._upsert(vectors)

    @abstractmethod
    async def _query(
        self, values: tuple[float, ...], options: QueryOptions
    ) -> list[VectorMatch]:
        """Nearest neighbours of ``values`` honouring every field of
        ``options``; include ``values`` / ``metadata`` only when asked."""

    @abstractmethod
    async def _get_by_ids(self, ids: list[str]) -> list[Vector]:
        """Stored vectors among ``ids``, in any order."""

    @abstractmethod
    async def _delete_by_ids(self, ids: list[str]) -> MutationResult:
        """Delete ``ids``; count only those that existed."""

    @abstractmethod
    async def _describe(self) -> IndexInfo: ...

    # ------------------------------------------------------------- validation

    def _check_batch(self, vectors: Sequence[Vector]) -> list[Vector]:
        if not isinstance(vectors, list | tuple):
            raise InvalidArgument("vectors must be a list")
        if not vectors:
            raise InvalidArgument("vectors is empty; send at least one vector")
        if len(vectors) > MAX_BATCH:
            raise InvalidArgument(
                f"{len(vectors)} vectors in one request; the limit is {MAX_BATCH}"
            )
        checked = []
        for position, vector in enumerate(vectors):
            where = f"vectors[{position}]"
            self._check_id(vector.id, where)
            values = self._check_values(vector.values, f"{where}.values")
            metadata = _check_metadata(vector.metadata, where)
            namespace = _check_namespace(vector.namespace, where)
            checked.append(Vector(vector.id, values, metadata, namespace))
        return checked

    def _check_id(self, vector_id: Any, where: str = "id") -> None:
        if not isinstance(vector_id, str) or not vector_id:
            raise InvalidArgument(f"{where}: a vector id must be a non-empty string")
        size = len(vector_id.encode("utf-8", "surrogatepass"))
        if size > MAX_VECTOR_ID_BYTES:
            raise InvalidArgument(
                f"{where}: vector id is {size} bytes; the limit is "
                f"{MAX_VECTOR_ID_BYTES} bytes"
            )

    def _check_ids(self, ids: Sequence[str]) -> list[str]:
        if not isinstance(ids, list | tuple):
            raise InvalidArgument("ids must be a list of vector ids")
        if not ids:
            raise InvalidArgument("ids is empty; send at least one vector id")
        if len(ids) > MAX_BATCH:
            raise InvalidArgument(
                f"{len(ids)} ids in one request; the limit is {MAX_BATCH}"
            )
        for position, vector_id in enumerate(ids):
            self._check_id(vector_id, f"ids[{position}]")
        return list(ids)

    def _check_values(self, values: Sequence[float], where: str) -> tuple[float, ...]:
        if not isinstance(values, list | tuple):
            raise InvalidArgument(f"{where} must be a list of numbers")
        if len(values) != self.dimensions:
            raise InvalidArgument(
                f"{where} has {len(values)} dimensions; index {self.name!r} "
                f"has {self.dimensions}"
            )
        out = []
        for value in values:
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidArgument(f"{where} must contain only numbers")
            try:
                number = float(value)
            except OverflowError:
                number = math.inf
            if not math.isfinite(number):
                raise InvalidArgument(f"{where} contains a value that is not finite")
            out.append(number)

        # Indexes keep 32-bit floats: a double beyond their range would be
        # stored as infinity, and one too small would round to zero.
        stored = array("f", out)
        if not all(map(math.isfinite, stored)):
            raise InvalidArgument(
                f"{where} has a value beyond the range of 32-bit floats "
                f"(about ±{FLOAT32_MAX:.4g}); scale the vector down"
            )
        if self.metric == "cosine" and not any(stored):
            raise InvalidArgument(
                f"{where} is all zeros (as 32-bit floats); cosine similarity "
                "is undefined for a zero vector"
            )
        return tuple(out)

    def _check_options(self, opts: QueryOptions) -> None:
        max_top_k = self.capabilities.max_top_k
        top_k = opts.top_k
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise InvalidArgument(f"topK must be a whole number from 1 to {max_top_k}")
        if not 1 <= top_k <= max_top_k:
            raise InvalidArgument(f"topK must be from 1 to {max_top_k}, got {top_k}")
        _check_namespace(opts.namespace, "namespace")
        if opts.return_metadata not in ("all", "indexed", "none"):
            raise InvalidArgument(
                'returnMetadata must be true, false, "all", "indexed" or "none"'
            )


def _check_metadata(metadata: Any, where: str) -> dict[str, Any] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, Mapping):
        raise InvalidArgument(f"{where}.metadata must be an object")
    _check_json_tree(metadata, f"{where}.metadata")
    try:
        encoded = json.dumps(metadata, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(
            f"{where}.metadata must hold only JSON values with finite numbers"
        ) from exc
    size = len(encoded.encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise InvalidArgument(
            f"{where}.metadata is {size} bytes as JSON; the limit is "
            f"{MAX_METADATA_BYTES} bytes"
        )
    return dict(metadata)


def _check_json_tree(root: Mapping[str, Any], where: str) -> None:
    """Refuse metadata nested deeper than MAX_METADATA_DEPTH, or holding
    integers beyond 64 bits, which no backend can store or compare exactly.

    Walks with an explicit stack, so a hostile depth cannot exhaust Python's.
    """
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping | list | tuple):
            if depth > MAX_METADATA_DEPTH:
                raise InvalidArgument(
                    f"{where} nests deeper than {MAX_METADATA_DEPTH} levels"
                )
            children = node.values() if isinstance(node, Mapping) else node
            stack.extend((child, depth + 1) for child in children)
        elif (
            isinstance(node, int)
            and not isinstance(node, bool)
            and not INT64_MIN <= node <= INT64_MAX
        ):
            raise InvalidArgument(
                f"{where} holds the integer {node}, beyond 64 bits; store "
                "it as a string"
            )


def _check_namespace(namespace: Any, where: str) -> str | None:
    if namespace is None:
        return None
    if not isinstance(namespace, str) or not namespace:
        raise InvalidArgument(f"{where}: namespace must be a non-empty string")
    if len(namespace.encode("utf-8", "surrogatepass")) > MAX_NAMESPACE_BYTES:
        raise InvalidArgument(
            f"{where}: namespace is longer than {MAX_NAMESPACE_BYTES} bytes"
        )
    return namespace
