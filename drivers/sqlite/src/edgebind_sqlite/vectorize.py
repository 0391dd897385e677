"""Vectorize indexes: one SQLite file per index, exact search with NumPy.

Vectors live in SQLite (``values`` as a little-endian float32 BLOB, metadata
as JSON text); search is brute force over an in-memory float32 matrix loaded
from the file. The matrix is tagged with the index's mutation counter and
reloaded when the counter in the file has moved — after any write, by this
process or another one sharing the file. Each write therefore makes the next
search reload every vector: simple and always consistent, but O(n) per
write-then-search, a known cost for large, busy indexes.

Metadata filters become SQL over the JSON column that selects candidate
rows; the translation mirrors :func:`edgebind.filters.matches` exactly, using
``json_type`` to keep booleans (stored by SQLite's JSON functions as 1/0)
apart from numbers. A field name SQLite's JSON paths cannot spell (one with
a double quote, a backslash or a control character) is evaluated with
:func:`~edgebind.filters.matches` on the rows the rest of the filter left.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

from edgebind.errors import Conflict, ProvisionError
from edgebind.filters import (
    LIST_OPERATORS,
    Condition,
    FilterScalar,
    VectorFilter,
    matches,
)
from edgebind.resource import (
    Clock,
    ProvisionOutcome,
    ProvisionStatus,
    ResourceSpec,
)
from edgebind.vectorize import (
    IndexInfo,
    MutationResult,
    QueryOptions,
    Vector,
    VectorIndex,
    VectorMatch,
)
from edgebind_sqlite.connection import SQLiteFile

__all__ = ["SQLiteVectorIndex", "VectorStore", "filter_to_sql"]

logger = logging.getLogger(__name__)

Matrix = npt.NDArray[np.float32]
T = TypeVar("T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS vectors (
    id        TEXT PRIMARY KEY,
    namespace TEXT,
    vec       BLOB NOT NULL,
    metadata  TEXT
);
CREATE TABLE IF NOT EXISTS index_meta (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    dimensions INTEGER NOT NULL,
    metric     TEXT    NOT NULL,
    mutation   INTEGER NOT NULL DEFAULT 0,
    mutated_at REAL
);
"""

#: Ids per ``IN (...)`` list, well below SQLite's limit on parameters.
_CHUNK = 500


def format_mutation_id(counter: int) -> str:
    """Mutation ids are zero-padded counters: increasing as strings too."""
    return f"{counter:012d}"


# ------------------------------------------------------------------ filters


def _json_path(path: tuple[str, ...]) -> str | None:
    """``$."a"."b"``, or None when a segment cannot be written in a path."""
    for part in path:
        if any(ch in part for ch in '"\\') or any(ord(ch) < 0x20 for ch in part):
            return None
    return "$" + "".join(f'."{part}"' for part in path)


def _equal_sql(path: str, value: FilterScalar, params: list[Any]) -> str:
    """SQL true exactly when the field is present and scalar-equal to value.

    Never NULL: a missing field yields 0, so NOT(...) is safe for $ne/$nin.
    """
    if value is None:
        params.append(path)
        return "COALESCE(json_type(metadata, ?) = 'null', 0)"
    if isinstance(value, bool):
        params.append(path)
        return f"COALESCE(json_type(metadata, ?) = '{'true' if value else 'false'}', 0)"
    if isinstance(value, int | float):
        params.extend((path, path, value))
        return (
            "COALESCE(json_type(metadata, ?) IN ('integer', 'real') "
            "AND json_extract(metadata, ?) = ?, 0)"
        )
    params.extend((path, path, value))
    return (
        "COALESCE(json_type(metadata, ?) = 'text' AND json_extract(metadata, ?) = ?, 0)"
    )


_RANGE_SQL = {"$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}


def _condition_sql(cond: Condition, path: str, params: list[Any]) -> str:
    if cond.op == "$eq":
        assert not isinstance(cond.value, tuple)
        return _equal_sql(path, cond.value, params)
    if cond.op == "$ne":
        assert not isinstance(cond.value, tuple)
        return f"NOT {_equal_sql(path, cond.value, params)}"
    if cond.op in LIST_OPERATORS:
        assert isinstance(cond.value, tuple)
        any_equal = " OR ".join(_equal_sql(path, v, params) for v in cond.value)
        return f"({any_equal})" if cond.op == "$in" else f"NOT ({any_equal})"
    # Range operators: the parser admits only numbers and strings here, and
    # both sides must be of the same family. Strings compare with SQLite's
    # BINARY collation, memcmp of UTF-8, which is code-point order.
    operator = _RANGE_SQL[cond.op]
    value = cond.value
    types = "('text')" if isinstance(value, str) else "('integer', 'real')"
    params.extend((path, path, value))
    return (
        f"COALESCE(json_type(metadata, ?) IN {types} "
        f"AND json_extract(metadata, ?) {operator} ?, 0)"
    )


def filter_to_sql(flt: VectorFilter) -> tuple[str, list[Any], VectorFilter | None]:
    """A WHERE clause and its parameters for the conditions SQL can express,
    plus a filter of the remaining conditions (None when there are none),
    which the caller applies with :func:`matches`."""
    clauses: list[str] = []
    params: list[Any] = []
    leftover: list[Condition] = []
    for cond in flt.conditions:
        path = _json_path(cond.path)
        if path is None:
            leftover.append(cond)
            continue
        clauses.append(_condition_sql(cond, path, params))
    where = " AND ".join(clauses) if clauses else "1"
    rest = VectorFilter(tuple(leftover)) if leftover else None
    return where, params, rest


# -------------------------------------------------------------------- store


@dataclass
class _Snapshot:
    """The index in memory, as of one mutation counter."""

    mutation: int
    rowids: npt.NDArray[np.int64]
    ids: list[str]
    namespace_codes: npt.NDArray[np.int32]
    namespace_of_code: list[str | None]
    code_of_namespace: dict[str | None, int]
    matrix: Matrix
    #: rows scaled to length 1, for cosine (None for the other metrics)
    unit: Matrix | None = field(default=None)


class VectorStore:
    """One index file, shared by every resource object opened on it."""

    def __init__(self, file: SQLiteFile, *, clock: Clock) -> None:
        self.file = file
        self.clock = clock
        self._checked: set[tuple[int, str]] = set()
        self._snapshot: _Snapshot | None = None

    def checked(self, spec: ResourceSpec) -> bool:
        """Whether this process already found the spec's settings stored."""
        return _declared(spec) in self._checked

    # Everything below runs on the file's thread.

    def ensure(
        self,
        conn: sqlite3.Connection,
        spec: ResourceSpec,
        *,
        where: str | None = None,
    ) -> ProvisionStatus:
        """Create the index with the spec's settings, or check the stored ones.

        ``where`` names the file in a mismatch's message; only ``provision``
        passes it, as a request's message must not show server paths.
        """
        dimensions, metric = _declared(spec)
        if (dimensions, metric) in self._checked:
            return ProvisionStatus.REUSED
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            row = conn.execute(
                "SELECT dimensions, metric FROM index_meta WHERE singleton = 1"
            ).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO index_meta (singleton, dimensions, metric) "
                    "VALUES (1, ?, ?)",
                    (dimensions, metric),
                )
                status = ProvisionStatus.CREATED
            elif (row[0], row[1]) != (dimensions, metric):
                raise ProvisionError(mismatch_message(spec, (row[0], row[1]), where))
            else:
                status = ProvisionStatus.REUSED
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        self._checked.add((dimensions, metric))
        return status

    def bump(self, conn: sqlite3.Connection) -> str:
        """Count one mutation inside the caller's write transaction."""
        row = conn.execute(
            "UPDATE index_meta SET mutation = mutation + 1, mutated_at = ? "
            "WHERE singleton = 1 RETURNING mutation",
            (self.clock(),),
        ).fetchone()
        return format_mutation_id(int(row[0]))

    def snapshot(
        self, conn: sqlite3.Connection, dimensions: int, metric: str
    ) -> _Snapshot:
        (mutation,) = conn.execute(
            "SELECT mutation FROM index_meta WHERE singleton = 1"
        ).fetchone()
        current = self._snapshot
        if current is not None and current.mutation == mutation:
            return current

        rows = conn.execute(
            "SELECT rowid, id, namespace, vec FROM vectors ORDER BY rowid"
        ).fetchall()
        code_of_namespace: dict[str | None, int] = {}
        codes = np.fromiter(
            (code_of_namespace.setdefault(r[2], len(code_of_namespace)) for r in rows),
            dtype=np.int32,
            count=len(rows),
        )
        matrix = np.frombuffer(b"".join(r[3] for r in rows), dtype="<f4")
        matrix = matrix.reshape(len(rows), dimensions).astype(np.float32)
        unit = None
        if metric == "cosine":
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            unit = (matrix / np.where(norms == 0, 1, norms)).astype(np.float32)
        snap = _Snapshot(
            mutation=mutation,
            rowids=np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)),
            ids=[r[1] for r in rows],
            namespace_codes=codes,
            namespace_of_code=list(code_of_namespace),
            code_of_namespace=code_of_namespace,
            matrix=matrix,
            unit=unit,
        )
        self._snapshot = snap
        logger.debug("Loaded %d vectors of %s.", len(rows), self.file)
        return snap

    def forget(self) -> None:
        self._snapshot = None


def _where(file: SQLiteFile) -> str:
    return "the in-memory index" if file.path is None else str(file.path)


def _declared(spec: ResourceSpec) -> tuple[int, str]:
    dimensions = spec.options["dimensions"]
    metric = spec.options.get("metric", "cosine")
    assert isinstance(dimensions, int) and isinstance(metric, str)
    return dimensions, metric


def mismatch_message(
    spec: ResourceSpec, stored: tuple[int, str], where: str | None
) -> str:
    """Why an index's stored settings cannot serve the declared ones.

    ``provision`` and ``--dry-run`` name the file to delete (``where``); a
    request, whose message reaches HTTP callers, points to ``edgebind
    provision`` instead of showing a server path.
    """
    dimensions, metric = _declared(spec)
    remedy = (
        "run `edgebind provision` to see the mismatch and the file to delete "
        "to start the index over"
        if where is None
        else f"delete {where} to start the index over"
    )
    return (
        f"Vectorize index {spec.name!r} already exists with "
        f"dimensions={stored[0]} and metric={stored[1]!r}, but the config "
        f"declares dimensions={dimensions} and metric={metric!r}; fix the "
        f"config to match, or {remedy}"
    )


def stored_settings(conn: sqlite3.Connection) -> tuple[int, str] | None:
    """The dimensions and metric stored in an index file, None when none are.

    Only reads, so it is safe on a read-only connection.
    """
    table = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'index_meta'"
    ).fetchone()
    if table is None:
        return None
    row = conn.execute(
        "SELECT dimensions, metric FROM index_meta WHERE singleton = 1"
    ).fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _rollback(conn: sqlite3.Connection) -> None:
    # Only when a transaction is open: a ROLLBACK after a BEGIN IMMEDIATE
    # that met a lock would raise "no transaction is active" and hide the
    # lock error the caller needs to see.
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _encode_values(values: tuple[float, ...]) -> bytes:
    return np.asarray(values, dtype="<f4").tobytes()


def _decode_values(blob: bytes) -> tuple[float, ...]:
    return tuple(np.frombuffer(blob, dtype="<f4").tolist())


def _encode_metadata(metadata: dict[str, Any] | None) -> str | None:
    if metadata is None:
        return None
    # ensure_ascii=False keeps keys unescaped, so JSON paths can find them.
    return json.dumps(metadata, ensure_ascii=False, separators=(",", ":"))


def _decode_metadata(text: str | None) -> dict[str, Any] | None:
    return None if text is None else dict(json.loads(text))


# ------------------------------------------------------------------ resource


class SQLiteVectorIndex(VectorIndex):
    driver_name = "sqlite"

    def __init__(self, spec: ResourceSpec, *, store: VectorStore) -> None:
        super().__init__(spec)
        self._store = store

    async def _provision(self) -> ProvisionOutcome:
        where = _where(self._store.file)
        status = await self._run(
            lambda conn: self._store.ensure(conn, self.spec, where=where)
        )
        return ProvisionOutcome(status, where)

    async def _inspect(self) -> ProvisionOutcome:
        file = self._store.file
        where = _where(file)
        if self._store.checked(self.spec):
            return ProvisionOutcome(ProvisionStatus.REUSED, where)
        declared = f"dimensions={self.dimensions} and metric={self.metric!r}"
        if file.path is None:
            # Memory exists once the connection is open; reading it then
            # creates nothing, and before that there is nothing to read.
            if not file.is_open:
                return ProvisionOutcome(
                    ProvisionStatus.CREATED, f"would create {where} with {declared}"
                )
            stored = await self._run(stored_settings)
        else:
            if not await file.exists():
                return ProvisionOutcome(
                    ProvisionStatus.CREATED, f"would create {where} with {declared}"
                )
            stored = await file.peek(stored_settings, binding=self.binding)
        if stored is None:
            return ProvisionOutcome(
                ProvisionStatus.CREATED,
                f"would create the index in {where} with {declared}",
            )
        if stored != (self.dimensions, self.metric):
            return ProvisionOutcome(
                ProvisionStatus.MISMATCHED, mismatch_message(self.spec, stored, where)
            )
        return ProvisionOutcome(ProvisionStatus.REUSED, where)

    async def _ping(self) -> None:
        await self._run(lambda conn: conn.execute("SELECT 1").fetchone())

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        # The file's binding is the first resource's; errors name this one.
        return await self._store.file.run(work, binding=self.binding)

    # ---------------------------------------------------------------- writes

    async def _upsert(self, vectors: list[Vector]) -> MutationResult:
        return await self._run(lambda conn: self._write(conn, vectors, False))

    async def _insert(self, vectors: list[Vector]) -> MutationResult:
        return await self._run(lambda conn: self._write(conn, vectors, True))

    def _write(
        self, conn: sqlite3.Connection, vectors: list[Vector], only_new: bool
    ) -> MutationResult:
        self._store.ensure(conn, self.spec)
        rows = [
            (v.id, v.namespace, _encode_values(v.values), _encode_metadata(v.metadata))
            for v in vectors
        ]
        conn.execute("BEGIN IMMEDIATE")
        try:
            if only_new:
                taken = self._existing_ids(conn, [v.id for v in vectors])
                if taken:
                    shown = ", ".join(repr(i) for i in taken[:5])
                    raise Conflict(
                        f"vector ids already exist in index {self.name!r}: "
                        f"{shown}; use upsert to replace them"
                    )
            conn.executemany(
                "INSERT INTO vectors (id, namespace, vec, metadata) VALUES "
                "(?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "namespace = excluded.namespace, vec = excluded.vec, "
                "metadata = excluded.metadata",
                rows,
            )
            mutation_id = self._store.bump(conn)
            conn.execute("COMMIT")
        except BaseException:
            _rollback(conn)
            raise
        return MutationResult(count=len(vectors), mutation_id=mutation_id)

    def _existing_ids(self, conn: sqlite3.Connection, ids: list[str]) -> list[str]:
        found: list[str] = []
        for chunk in _chunks(ids):
            marks = ", ".join("?" * len(chunk))
            found.extend(
                row[0]
                for row in conn.execute(
                    f"SELECT id FROM vectors WHERE id IN ({marks})", list(chunk)
                )
            )
        return found

    async def _delete_by_ids(self, ids: list[str]) -> MutationResult:
        def work(conn: sqlite3.Connection) -> MutationResult:
            self._store.ensure(conn, self.spec)
            before = conn.total_changes
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "DELETE FROM vectors WHERE id = ?", [(i,) for i in ids]
                )
                deleted = conn.total_changes - before
                mutation_id = self._store.bump(conn)
                conn.execute("COMMIT")
            except BaseException:
                _rollback(conn)
                raise
            return MutationResult(count=deleted, mutation_id=mutation_id)

        return await self._run(work)

    # ----------------------------------------------------------------- reads

    async def _get_by_ids(self, ids: list[str]) -> list[Vector]:
        def work(conn: sqlite3.Connection) -> list[Vector]:
            self._store.ensure(conn, self.spec)
            found: list[Vector] = []
            for chunk in _chunks(ids):
                marks = ", ".join("?" * len(chunk))
                for row in conn.execute(
                    "SELECT id, vec, metadata, namespace FROM vectors "
                    f"WHERE id IN ({marks})",
                    list(chunk),
                ):
                    found.append(
                        Vector(
                            id=row[0],
                            values=_decode_values(row[1]),
                            metadata=_decode_metadata(row[2]),
                            namespace=row[3],
                        )
                    )
            return found

        return await self._run(work)

    async def _describe(self) -> IndexInfo:
        def work(conn: sqlite3.Connection) -> IndexInfo:
            self._store.ensure(conn, self.spec)
            (count,) = conn.execute("SELECT count(*) FROM vectors").fetchone()
            mutation, mutated_at = conn.execute(
                "SELECT mutation, mutated_at FROM index_meta WHERE singleton = 1"
            ).fetchone()
            return IndexInfo(
                dimensions=self.dimensions,
                metric=self.metric,
                vector_count=int(count),
                processed_up_to_mutation=(
                    format_mutation_id(mutation) if mutation else None
                ),
                processed_up_to_datetime=(
                    None
                    if mutated_at is None
                    else datetime.fromtimestamp(mutated_at, tz=UTC)
                ),
            )

        return await self._run(work)

    async def _query(
        self, values: tuple[float, ...], options: QueryOptions
    ) -> list[VectorMatch]:
        return await self._run(lambda conn: self._search(conn, values, options))

    def _search(
        self,
        conn: sqlite3.Connection,
        values: tuple[float, ...],
        options: QueryOptions,
    ) -> list[VectorMatch]:
        self._store.ensure(conn, self.spec)
        snap = self._store.snapshot(conn, self.dimensions, self.metric)

        mask = np.ones(len(snap.ids), dtype=bool)
        if options.namespace is not None:
            code = snap.code_of_namespace.get(options.namespace)
            if code is None:
                return []
            mask &= snap.namespace_codes == code
        if options.filter is not None:
            allowed = self._filtered_rowids(conn, options.filter)
            mask &= np.isin(snap.rowids, allowed)
        candidates = np.flatnonzero(mask)
        if candidates.size == 0:
            return []

        scores, best_first = self._score(snap, candidates, values)
        k = min(options.top_k, candidates.size)
        if k < candidates.size:
            top = np.argpartition(best_first, k - 1)[:k]
        else:
            top = np.arange(candidates.size)
        top = top[np.argsort(best_first[top], kind="stable")]
        rows = candidates[top]

        metadata: dict[int, dict[str, Any] | None] = {}
        if options.return_metadata != "none":
            metadata = self._metadata_of(conn, [int(snap.rowids[r]) for r in rows])
        matches_out = []
        for position, row in zip(top, rows, strict=True):
            rowid = int(snap.rowids[row])
            matches_out.append(
                VectorMatch(
                    id=snap.ids[row],
                    score=float(scores[position]),
                    values=(
                        tuple(snap.matrix[row].tolist())
                        if options.return_values
                        else None
                    ),
                    metadata=metadata.get(rowid),
                    namespace=snap.namespace_of_code[snap.namespace_codes[row]],
                )
            )
        return matches_out

    def _score(
        self,
        snap: _Snapshot,
        candidates: npt.NDArray[np.intp],
        values: tuple[float, ...],
    ) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        """Scores of the candidate rows, and a key that sorts best first."""
        query = np.asarray(values, dtype=np.float32)
        if self.metric == "cosine":
            assert snap.unit is not None
            query = query / np.linalg.norm(query)
            scores = snap.unit[candidates] @ query
            return scores, -scores
        if self.metric == "euclidean":
            scores = np.linalg.norm(snap.matrix[candidates] - query, axis=1)
            return scores, scores
        scores = snap.matrix[candidates] @ query
        return scores, -scores

    def _filtered_rowids(
        self, conn: sqlite3.Connection, flt: VectorFilter
    ) -> npt.NDArray[np.int64]:
        where, params, rest = filter_to_sql(flt)
        if rest is None:
            rowids = [
                r[0]
                for r in conn.execute(
                    f"SELECT rowid FROM vectors WHERE {where}", params
                )
            ]
        else:
            rowids = [
                r[0]
                for r in conn.execute(
                    f"SELECT rowid, metadata FROM vectors WHERE {where}", params
                )
                if matches(_decode_metadata(r[1]), rest)
            ]
        return np.asarray(rowids, dtype=np.int64)

    def _metadata_of(
        self, conn: sqlite3.Connection, rowids: list[int]
    ) -> dict[int, dict[str, Any] | None]:
        marks = ", ".join("?" * len(rowids))
        return {
            row[0]: _decode_metadata(row[1])
            for row in conn.execute(
                f"SELECT rowid, metadata FROM vectors WHERE rowid IN ({marks})",
                rowids,
            )
        }
