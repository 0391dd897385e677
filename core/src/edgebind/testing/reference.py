"""In-memory reference drivers, used only for the contract suite's self-test.

:class:`ReferenceDriver` serves KV and Vectorize from plain dicts and D1 from
an in-memory ``sqlite3`` database per resource name. It is the simplest code
that meets the contract, which makes it the model the suite checks itself
against: every contract test must pass on it, and deliberately broken
subclasses of it must each fail at least one test.

It is not registered as a plugin and must not be used to serve data: the
sqlite3 calls run on the event loop and nothing survives the process.
"""

from __future__ import annotations

import copy
import itertools
import logging
import sqlite3
import time
from dataclasses import dataclass, field
from typing import ClassVar

from edgebind.capabilities import D1Capabilities, KVCapabilities, VectorizeCapabilities
from edgebind.d1 import D1Database, D1Meta, D1Result, SQLParam
from edgebind.drivers import Driver
from edgebind.errors import QueryError
from edgebind.filters import matches
from edgebind.kv import KVListPage, KVNamespace, encode_cursor
from edgebind.resource import (
    Clock,
    Kind,
    ProvisionOutcome,
    ProvisionStatus,
    ResourceSpec,
    system_clock,
)
from edgebind.testing import oracle
from edgebind.vectorize import (
    IndexInfo,
    Metric,
    MutationResult,
    QueryOptions,
    Vector,
    VectorIndex,
    VectorMatch,
)

__all__ = ["ReferenceD1", "ReferenceDriver", "ReferenceKV", "ReferenceVectorIndex"]

logger = logging.getLogger(__name__)


# --------------------------------------------------------------------- KV


@dataclass(slots=True)
class _Entry:
    value: str
    expires_at: float | None


class ReferenceKV(KVNamespace):
    driver_name = "reference"
    capabilities: ClassVar[KVCapabilities] = KVCapabilities()

    def __init__(
        self, spec: ResourceSpec, store: dict[str, _Entry], *, clock: Clock
    ) -> None:
        super().__init__(spec, clock=clock)
        self._store = store

    def _live(self, entry: _Entry | None) -> bool:
        return entry is not None and (
            entry.expires_at is None or self.clock() < entry.expires_at
        )

    async def _get(self, key: str) -> str | None:
        entry = self._store.get(key)
        if entry is None or not self._live(entry):
            return None
        return entry.value

    async def _put(self, key: str, value: str, expires_at: float | None) -> None:
        self._store[key] = _Entry(value, expires_at)

    async def _delete(self, key: str) -> None:
        self._store.pop(key, None)

    async def _list(self, prefix: str, limit: int, after: str | None) -> KVListPage:
        # Python orders str by code point, which is the UTF-8 byte order.
        keys = sorted(
            key
            for key, entry in self._store.items()
            if key.startswith(prefix)
            and (after is None or key > after)
            and self._live(entry)
        )
        page = keys[:limit]
        cursor = encode_cursor(page[-1]) if len(keys) > limit else None
        return KVListPage(page, cursor)


# --------------------------------------------------------------------- D1


class ReferenceD1(D1Database):
    driver_name = "reference"
    capabilities: ClassVar[D1Capabilities] = D1Capabilities()

    def __init__(self, spec: ResourceSpec, connection: sqlite3.Connection) -> None:
        super().__init__(spec)
        self._connection = connection

    async def _execute(self, sql: str, params: list[SQLParam]) -> D1Result:
        started = time.perf_counter()
        before = self._connection.total_changes
        try:
            cursor = self._connection.execute(sql, params)
            rows = cursor.fetchall()
        except sqlite3.Error as exc:
            raise QueryError(str(exc)) from exc

        columns = [d[0] for d in cursor.description or ()]
        if len(set(columns)) != len(columns):
            raise QueryError(
                f"the result has more than one column named alike ({columns}); "
                "give each column its own name with AS"
            )
        changes = self._connection.total_changes - before
        return D1Result(
            results=[dict(zip(columns, row, strict=True)) for row in rows],
            meta=D1Meta(
                changes=changes,
                duration=(time.perf_counter() - started) * 1000,
                rows_read=len(rows),
                rows_written=changes,
                last_row_id=cursor.lastrowid or None,
            ),
        )


# -------------------------------------------------------------- Vectorize


@dataclass(slots=True)
class _IndexState:
    dimensions: int
    metric: Metric
    vectors: dict[str, Vector] = field(default_factory=dict)
    mutations: itertools.count[int] = field(default_factory=itertools.count)
    last_mutation: str | None = None

    def next_mutation(self) -> str:
        self.last_mutation = f"m{next(self.mutations)}"
        return self.last_mutation


class ReferenceVectorIndex(VectorIndex):
    driver_name = "reference"
    capabilities: ClassVar[VectorizeCapabilities] = VectorizeCapabilities()

    def __init__(self, spec: ResourceSpec, indexes: dict[str, _IndexState]) -> None:
        super().__init__(spec)
        self._indexes = indexes

    @property
    def _state(self) -> _IndexState:
        # Storage appears on first use, like the embedded SQLite driver's.
        state = self._indexes.get(self.name)
        if state is None:
            state = _IndexState(self.dimensions, self.metric)
            self._indexes[self.name] = state
        return state

    async def _provision(self) -> ProvisionOutcome:
        state = self._indexes.get(self.name)
        if state is None:
            self._indexes[self.name] = _IndexState(self.dimensions, self.metric)
            return ProvisionOutcome(ProvisionStatus.CREATED)
        if (state.dimensions, state.metric) != (self.dimensions, self.metric):
            return ProvisionOutcome(
                ProvisionStatus.MISMATCHED,
                f"index {self.name!r} exists with {state.dimensions} dimensions "
                f"and metric {state.metric}; the config asks for "
                f"{self.dimensions} dimensions and metric {self.metric}",
            )
        return ProvisionOutcome(ProvisionStatus.REUSED)

    async def _upsert(self, vectors: list[Vector]) -> MutationResult:
        state = self._state
        for vector in vectors:
            state.vectors[vector.id] = copy.deepcopy(vector)
        return MutationResult(len(vectors), state.next_mutation())

    async def _query(
        self, values: tuple[float, ...], options: QueryOptions
    ) -> list[VectorMatch]:
        state = self._state
        candidates = {
            v.id: v
            for v in state.vectors.values()
            if (options.namespace is None or v.namespace == options.namespace)
            and matches(v.metadata, options.filter)
        }
        best = oracle.nearest(
            state.metric,
            values,
            ((v.id, v.values) for v in candidates.values()),
            options.top_k,
        )
        return [self._match(candidates[vid], score, options) for vid, score in best]

    @staticmethod
    def _match(vector: Vector, score: float, options: QueryOptions) -> VectorMatch:
        with_metadata = options.return_metadata != "none"
        return VectorMatch(
            id=vector.id,
            score=score,
            values=vector.values if options.return_values else None,
            metadata=copy.deepcopy(vector.metadata) if with_metadata else None,
            namespace=vector.namespace,
        )

    async def _get_by_ids(self, ids: list[str]) -> list[Vector]:
        vectors = self._state.vectors
        return [copy.deepcopy(vectors[i]) for i in ids if i in vectors]

    async def _delete_by_ids(self, ids: list[str]) -> MutationResult:
        state = self._state
        deleted = sum(1 for i in ids if state.vectors.pop(i, None) is not None)
        return MutationResult(deleted, state.next_mutation())

    async def _describe(self) -> IndexInfo:
        state = self._state
        return IndexInfo(
            dimensions=state.dimensions,
            metric=state.metric,
            vector_count=len(state.vectors),
            processed_up_to_mutation=state.last_mutation,
        )


# ----------------------------------------------------------------- driver


class ReferenceDriver(Driver):
    """Every kind, in memory. Resources of one name share their data."""

    name = "reference"
    schemes = ("reference",)
    kinds: ClassVar[frozenset[Kind]] = frozenset({"kv", "d1", "vectorize"})
    description = "in-memory reference driver for the contract suite's self-test"

    kv_capabilities = ReferenceKV.capabilities
    d1_capabilities = ReferenceD1.capabilities
    vectorize_capabilities = ReferenceVectorIndex.capabilities

    def __init__(self, url: str = "reference://", *, clock: Clock = system_clock):
        super().__init__(url, clock=clock)
        self._kv: dict[str, dict[str, _Entry]] = {}
        self._d1: dict[str, sqlite3.Connection] = {}
        self._vectorize: dict[str, _IndexState] = {}

    def open_kv(self, spec: ResourceSpec) -> KVNamespace:
        return ReferenceKV(spec, self._kv.setdefault(spec.name, {}), clock=self.clock)

    def open_d1(self, spec: ResourceSpec) -> D1Database:
        connection = self._d1.get(spec.name)
        if connection is None:
            # Autocommit, so each statement is its own transaction and a
            # failing one leaves nothing behind.
            connection = sqlite3.connect(
                ":memory:", isolation_level=None, check_same_thread=False
            )
            self._d1[spec.name] = connection
        return ReferenceD1(spec, connection)

    def open_vectorize(self, spec: ResourceSpec) -> VectorIndex:
        return ReferenceVectorIndex(spec, self._vectorize)

    async def aclose(self) -> None:
        for connection in self._d1.values():
            connection.close()
        self._d1.clear()
