"""A Vectorize index stored as one Qdrant collection.

The collection ``edgebind_<name>`` has the declared size and distance
(cosine -> Cosine, euclidean -> Euclid, dot-product -> Dot). Qdrant's scores
already follow Vectorize's convention for each: cosine similarity, L2
distance (smallest first) and dot product. Each point's payload holds only
Edgebind's keys (see :mod:`edgebind_qdrant.ids`): the vector id, the
namespace, the metadata as JSON text and the typed filter index, so a
metadata field can never collide with them.

The collection must exist before use: ``edgebind provision`` creates it.
Using an index whose collection is missing raises BackendUnavailable naming
that fix — it is the server's setup that is incomplete, not the request.

Known shortcomings, by design of the backend:

* ``insert`` checks for existing ids and then writes; two clients inserting
  the same new id at the same moment can both succeed (the later one wins).
* ``delete_by_ids`` reads which ids exist, then deletes; a concurrent upsert
  between the two may be counted wrongly (never deleted wrongly).
* Large batches are written in chunks of :data:`WRITE_CHUNK` points; a
  failure part-way leaves the earlier chunks written.
"""

from __future__ import annotations

import json
import logging
import math
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from qdrant_client import models

from edgebind.capabilities import VectorizeCapabilities
from edgebind.errors import BackendUnavailable, ProvisionError
from edgebind.resource import ProvisionOutcome, ProvisionStatus, ResourceSpec
from edgebind.vectorize import (
    IndexInfo,
    Metric,
    MutationResult,
    QueryOptions,
    Vector,
    VectorIndex,
    VectorMatch,
)
from edgebind_qdrant.client import MissingCollection, QdrantConnection, backend_errors
from edgebind_qdrant.filters import build_filter_index, translate_filter
from edgebind_qdrant.ids import (
    ID_KEY,
    INDEX_KEY,
    META_KEY,
    NAMESPACE_KEY,
    NORM_KEY,
    STATE_COLLECTION,
    collection_name,
    point_id,
    state_point_id,
)

if TYPE_CHECKING:
    from edgebind_qdrant.driver import QdrantDriver

logger = logging.getLogger(__name__)

__all__ = ["QdrantVectorIndex"]

DISTANCES: dict[Metric, models.Distance] = {
    "cosine": models.Distance.COSINE,
    "euclidean": models.Distance.EUCLID,
    "dot-product": models.Distance.DOT,
}
METRIC_OF: dict[models.Distance, Metric] = {d: m for m, d in DISTANCES.items()}

#: Points per upsert request: keeps request bodies well below server limits.
WRITE_CHUNK = 256

_STATE_PARAMS = models.VectorParams(size=1, distance=models.Distance.DOT)


class QdrantVectorIndex(VectorIndex):
    driver_name = "qdrant"
    capabilities: ClassVar[VectorizeCapabilities] = VectorizeCapabilities()

    def __init__(self, spec: ResourceSpec, driver: QdrantDriver) -> None:
        super().__init__(spec)
        self._driver = driver
        self.collection = collection_name(spec.name)
        self._params = models.VectorParams(
            size=self.dimensions, distance=DISTANCES[self.metric]
        )
        #: set once the collection was seen with the declared settings
        self._verified = False

    # ------------------------------------------------------------ plumbing

    def _errors(self) -> Any:
        return backend_errors(url=self._driver.display_url, binding=self.binding)

    def _missing_error(self, exc: BaseException | None = None) -> BackendUnavailable:
        self._verified = False
        return BackendUnavailable(
            f"Vectorize index {self.name!r} has no Qdrant collection "
            f"{self.collection!r} at {self._driver.display_url}; run "
            "`edgebind provision` to create it",
            driver="qdrant",
            binding=self.binding,
        )

    async def _connection(self) -> QdrantConnection:
        return await self._driver.connection(self.binding)

    async def _ready(self) -> QdrantConnection:
        """The connection, once the collection is known to match the config."""
        connection = await self._connection()
        if self._verified:
            return connection
        try:
            with self._errors():
                info = await connection.get_collection(self.collection)
        except MissingCollection as exc:
            raise self._missing_error(exc) from exc
        mismatch = self._mismatch(info)
        if mismatch:
            raise ProvisionError(mismatch)
        self._verified = True
        return connection

    def _mismatch(self, info: models.CollectionInfo) -> str:
        """Both settings, in words, when the collection differs from the config."""
        params = info.config.params.vectors
        if not isinstance(params, models.VectorParams):
            return (
                f"Qdrant collection {self.collection!r} uses named vectors; index "
                f"{self.name!r} needs one unnamed vector of {self.dimensions} "
                f"dimensions ({self.metric}). Delete or rename the collection"
            )
        if params.size == self.dimensions and params.distance == self._params.distance:
            return ""
        found_metric = METRIC_OF.get(params.distance, params.distance.value)
        return (
            f"Vectorize index {self.name!r} is declared with {self.dimensions} "
            f"dimensions ({self.metric}), but Qdrant collection "
            f"{self.collection!r} has {params.size} dimensions ({found_metric}); "
            "change the config to match, or delete the collection and run "
            "`edgebind provision` again"
        )

    async def _call(self, connection: QdrantConnection, call: Any) -> Any:
        """Await ``call`` (a coroutine) with errors translated."""
        try:
            with self._errors():
                return await call
        except MissingCollection as exc:
            raise self._missing_error(exc) from exc

    # -------------------------------------------------------- provisioning

    async def _provision(self) -> ProvisionOutcome:
        connection = await self._connection()
        with self._errors():
            exists = await connection.collection_exists(self.collection)
            if not exists:
                await connection.create_collection(self.collection, self._params)
                status = ProvisionStatus.CREATED
            else:
                info = await connection.get_collection(self.collection)
                mismatch = self._mismatch(info)
                if mismatch:
                    raise ProvisionError(mismatch)
                status = ProvisionStatus.REUSED
            await self._ensure_state_collection(connection)
        self._verified = True
        logger.info("qdrant collection %s: %s", self.collection, status.value)
        return ProvisionOutcome(status, self._described(status))

    def _described(self, status: ProvisionStatus) -> str:
        verb = {ProvisionStatus.CREATED: "created", ProvisionStatus.REUSED: "reused"}
        return (
            f"{verb.get(status, status.value)} collection {self.collection} "
            f"({self.dimensions} dimensions, {self.metric})"
        )

    async def _inspect(self) -> ProvisionOutcome:
        connection = await self._connection()
        with self._errors():
            if not await connection.collection_exists(self.collection):
                return ProvisionOutcome(
                    ProvisionStatus.CREATED,
                    "would create collection "
                    f"{self.collection} ({self.dimensions} dimensions, {self.metric})",
                )
            info = await connection.get_collection(self.collection)
        mismatch = self._mismatch(info)
        if mismatch:
            return ProvisionOutcome(ProvisionStatus.MISMATCHED, mismatch)
        return ProvisionOutcome(
            ProvisionStatus.REUSED, self._described(ProvisionStatus.REUSED)
        )

    async def _ensure_state_collection(self, connection: QdrantConnection) -> None:
        if self._driver.state_ready:
            return
        if not await connection.collection_exists(STATE_COLLECTION):
            try:
                await connection.create_collection(STATE_COLLECTION, _STATE_PARAMS)
            except Exception:
                # another process may have created it in between
                if not await connection.collection_exists(STATE_COLLECTION):
                    raise
        self._driver.state_ready = True

    async def _record_mutation(self, connection: QdrantConnection) -> str:
        mutation_id = uuid.uuid4().hex
        point = models.PointStruct(
            id=state_point_id(self.name),
            vector=[1.0],
            payload={
                "index": self.name,
                "mutation": mutation_id,
                "at": datetime.fromtimestamp(self._driver.clock(), UTC).isoformat(),
            },
        )
        with self._errors():
            await self._ensure_state_collection(connection)
            await connection.upsert(STATE_COLLECTION, [point])
        return mutation_id

    # ------------------------------------------------------------- writing

    def _point(self, vector: Vector) -> models.PointStruct:
        payload: dict[str, Any] = {ID_KEY: vector.id}
        if vector.namespace is not None:
            payload[NAMESPACE_KEY] = vector.namespace
        if vector.metadata is not None:
            payload[META_KEY] = json.dumps(vector.metadata, separators=(",", ":"))
            payload[INDEX_KEY] = build_filter_index(vector.metadata)
        if self.metric == "cosine":
            payload[NORM_KEY] = math.sqrt(math.fsum(x * x for x in vector.values))
        return models.PointStruct(
            id=point_id(vector.id), vector=list(vector.values), payload=payload
        )

    async def _upsert(self, vectors: list[Vector]) -> MutationResult:
        connection = await self._ready()
        points = [self._point(vector) for vector in vectors]
        for start in range(0, len(points), WRITE_CHUNK):
            chunk = points[start : start + WRITE_CHUNK]
            await self._call(connection, connection.upsert(self.collection, chunk))
        mutation_id = await self._record_mutation(connection)
        return MutationResult(count=len(vectors), mutation_id=mutation_id)

    async def _delete_by_ids(self, ids: list[str]) -> MutationResult:
        connection = await self._ready()
        found = await self._records(connection, ids, with_vectors=False)
        if found:
            await self._call(
                connection,
                connection.delete(self.collection, [str(r.id) for r in found]),
            )
        mutation_id = await self._record_mutation(connection)
        return MutationResult(count=len(found), mutation_id=mutation_id)

    # ------------------------------------------------------------- reading

    async def _records(
        self, connection: QdrantConnection, ids: list[str], *, with_vectors: bool
    ) -> list[models.Record]:
        wanted = set(ids)
        records: list[models.Record] = await self._call(
            connection,
            connection.retrieve(
                self.collection,
                [point_id(vector_id) for vector_id in dict.fromkeys(ids)],
                with_payload=True,
                with_vectors=with_vectors,
            ),
        )
        # the stored id must be the one asked for (see ids.py on collisions)
        return [r for r in records if (r.payload or {}).get(ID_KEY) in wanted]

    def _values(self, raw: Any, payload: dict[str, Any]) -> tuple[float, ...]:
        if not isinstance(raw, list):
            raise BackendUnavailable(
                f"Qdrant collection {self.collection!r} returned a vector of an "
                "unexpected shape; it was not created by Edgebind",
                driver="qdrant",
                binding=self.binding,
            )
        scale = float(payload.get(NORM_KEY, 1.0)) if self.metric == "cosine" else 1.0
        return tuple(float(x) * scale for x in raw)

    @staticmethod
    def _metadata(payload: dict[str, Any]) -> dict[str, Any] | None:
        text = payload.get(META_KEY)
        if text is None:
            return None
        metadata: dict[str, Any] = json.loads(text)
        return metadata

    async def _get_by_ids(self, ids: list[str]) -> list[Vector]:
        connection = await self._ready()
        records = await self._records(connection, ids, with_vectors=True)
        vectors = []
        for record in records:
            payload = record.payload or {}
            vectors.append(
                Vector(
                    id=payload[ID_KEY],
                    values=self._values(record.vector, payload),
                    metadata=self._metadata(payload),
                    namespace=payload.get(NAMESPACE_KEY),
                )
            )
        return vectors

    async def _query(
        self, values: tuple[float, ...], options: QueryOptions
    ) -> list[VectorMatch]:
        query_filter = translate_filter(options.filter, namespace=options.namespace)
        connection = await self._ready()
        with_metadata = options.return_metadata != "none"
        payload_keys = [ID_KEY, NAMESPACE_KEY]
        if with_metadata:
            payload_keys.append(META_KEY)
        if options.return_values:
            payload_keys.append(NORM_KEY)
        points: list[models.ScoredPoint] = await self._call(
            connection,
            connection.query(
                self.collection,
                list(values),
                limit=options.top_k,
                query_filter=query_filter,
                with_payload=payload_keys,
                with_vectors=options.return_values,
            ),
        )
        matches = []
        for point in points:
            payload = point.payload or {}
            matches.append(
                VectorMatch(
                    id=payload[ID_KEY],
                    score=self._score(point.score),
                    values=(
                        self._values(point.vector, payload)
                        if options.return_values
                        else None
                    ),
                    metadata=self._metadata(payload) if with_metadata else None,
                    namespace=payload.get(NAMESPACE_KEY),
                )
            )
        return matches

    def _score(self, raw: float) -> float:
        score = float(raw)
        if self.metric == "cosine":
            # float32 rounding can step just outside what a cosine can be
            return max(-1.0, min(1.0, score))
        return score

    async def _describe(self) -> IndexInfo:
        connection = await self._ready()
        count: int = await self._call(connection, connection.count(self.collection))
        mutation, at = await self._last_mutation(connection)
        return IndexInfo(
            dimensions=self.dimensions,
            metric=self.metric,
            vector_count=count,
            processed_up_to_mutation=mutation,
            processed_up_to_datetime=at,
        )

    async def _last_mutation(
        self, connection: QdrantConnection
    ) -> tuple[str | None, datetime | None]:
        try:
            with self._errors():
                records = await connection.retrieve(
                    STATE_COLLECTION,
                    [state_point_id(self.name)],
                    with_payload=True,
                    with_vectors=False,
                )
        except MissingCollection:
            return None, None
        if not records or not records[0].payload:
            return None, None
        payload = records[0].payload
        at = payload.get("at")
        return payload.get("mutation"), datetime.fromisoformat(at) if at else None

    async def _ping(self) -> None:
        # Reachability only: a missing or different collection is reported by
        # provision and by every data call, not by the health check.
        connection = await self._connection()
        with self._errors():
            await connection.collection_exists(self.collection)
