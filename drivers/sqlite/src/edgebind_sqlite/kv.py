"""KV namespaces in one SQLite file, keyed by (namespace, key).

Keys are stored as BLOBs of their UTF-8 bytes, which SQLite compares with
memcmp, so ``ORDER BY key`` is exactly the UTF-8 byte order the contract asks
for, and a prefix is matched as the byte range ``[prefix, successor)`` — no
LIKE, so ``%``, ``_`` and ``\\`` in a prefix are ordinary characters.

Expired entries are invisible at once (every read compares ``expires_at``
with the injected clock) and are deleted later by a background task that
starts on first use and stops when the driver closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3

from edgebind.kv import KVListPage, KVNamespace, encode_cursor
from edgebind.resource import Clock, ResourceSpec
from edgebind_sqlite.connection import SQLiteFile

__all__ = ["KVStore", "SQLiteKVNamespace", "create_kv_schema", "prefix_successor"]

logger = logging.getLogger(__name__)

#: Values up to this size are read inline on the loop (see connection.py for
#: the measurement); larger ones are read on the file's thread.
INLINE_VALUE_BYTES = 64 * 1024
#: Seconds between two sweeps for expired entries.
CLEANUP_INTERVAL_SECONDS = 60.0
#: Rows deleted per statement by a sweep, so a sweep never holds the write
#: lock for long.
CLEANUP_BATCH = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv_entries (
    namespace  TEXT    NOT NULL,
    key        BLOB    NOT NULL,
    value      TEXT    NOT NULL,
    size       INTEGER NOT NULL,
    expires_at REAL,
    PRIMARY KEY (namespace, key)
);
CREATE INDEX IF NOT EXISTS kv_entries_expiry
    ON kv_entries (expires_at) WHERE expires_at IS NOT NULL;
"""

_LIVE = "(expires_at IS NULL OR expires_at > ?)"


def prefix_successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with
    ``prefix``, or None when there is none (empty or all-0xFF prefix)."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def create_kv_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(_SCHEMA)


class KVStore:
    """The KV file shared by every namespace of one driver, and its sweeper."""

    def __init__(self, file: SQLiteFile, *, clock: Clock) -> None:
        self.file = file
        self.clock = clock
        self._cleanup: asyncio.Task[None] | None = None

    def ensure_cleanup(self) -> None:
        """Start the sweeper on the running loop unless one already runs there.

        A sweeper left on an earlier, finished loop is replaced: tests and
        the CLI may use one driver from more than one loop.
        """
        loop = asyncio.get_running_loop()
        task = self._cleanup
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._cleanup = loop.create_task(
            self._sweep_forever(), name=f"edgebind-sqlite-kv-cleanup-{id(self)}"
        )

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(CLEANUP_INTERVAL_SECONDS)
            try:
                removed = await self.sweep()
            except Exception:
                logger.exception("Sweeping expired KV entries failed; will retry.")
                continue
            if removed:
                logger.debug("Removed %d expired KV entries.", removed)

    async def sweep(self) -> int:
        """Delete expired entries now; returns how many were removed."""
        now = self.clock()

        def work(conn: sqlite3.Connection) -> int:
            removed = 0
            while True:
                cursor = conn.execute(
                    "DELETE FROM kv_entries WHERE rowid IN (SELECT rowid FROM "
                    "kv_entries WHERE expires_at <= ? LIMIT ?)",
                    (now, CLEANUP_BATCH),
                )
                removed += cursor.rowcount
                if cursor.rowcount < CLEANUP_BATCH:
                    return removed

        return await self.file.run(work)

    async def aclose(self) -> None:
        task, self._cleanup = self._cleanup, None
        if task is not None and not task.done():
            task.cancel()
            # A task of another (finished) loop cannot be awaited from here.
            if task.get_loop() is asyncio.get_running_loop():
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        await self.file.aclose()


class SQLiteKVNamespace(KVNamespace):
    driver_name = "sqlite"

    def __init__(self, spec: ResourceSpec, *, store: KVStore, clock: Clock) -> None:
        super().__init__(spec, clock=clock)
        self._store = store
        self._namespace = spec.name

    async def _get(self, key: str) -> str | None:
        self._store.ensure_cleanup()
        raw_key = key.encode("utf-8")
        now = self.clock()

        def read_small(conn: sqlite3.Connection) -> tuple[str | None, int] | None:
            # The CASE keeps SQLite from loading a large value's overflow
            # pages at all when it is not going to be returned inline.
            row = conn.execute(
                "SELECT CASE WHEN size <= ? THEN value END, size FROM kv_entries "
                f"WHERE namespace = ? AND key = ? AND {_LIVE}",
                (INLINE_VALUE_BYTES, self._namespace, raw_key, now),
            ).fetchone()
            return None if row is None else (row[0], row[1])

        done, found = await self._store.file.read_inline(
            read_small, binding=self.binding
        )
        if done:
            if found is None:
                return None
            value, _size = found
            if value is not None:
                return value

        def read_any(conn: sqlite3.Connection) -> str | None:
            row = conn.execute(
                f"SELECT value FROM kv_entries WHERE namespace = ? AND key = ? "
                f"AND {_LIVE}",
                (self._namespace, raw_key, now),
            ).fetchone()
            return None if row is None else str(row[0])

        return await self._store.file.run(read_any, binding=self.binding)

    async def _put(self, key: str, value: str, expires_at: float | None) -> None:
        self._store.ensure_cleanup()
        raw_key = key.encode("utf-8")
        size = len(value.encode("utf-8"))

        def work(conn: sqlite3.Connection) -> None:
            # One statement is atomic on its own; the upsert replaces the TTL
            # too, so a write without TTL clears an earlier one.
            conn.execute(
                "INSERT INTO kv_entries (namespace, key, value, size, expires_at) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (namespace, key) DO UPDATE SET "
                "value = excluded.value, size = excluded.size, "
                "expires_at = excluded.expires_at",
                (self._namespace, raw_key, value, size, expires_at),
            )

        await self._store.file.run(work, binding=self.binding)

    async def _delete(self, key: str) -> None:
        self._store.ensure_cleanup()
        raw_key = key.encode("utf-8")

        def work(conn: sqlite3.Connection) -> None:
            conn.execute(
                "DELETE FROM kv_entries WHERE namespace = ? AND key = ?",
                (self._namespace, raw_key),
            )

        await self._store.file.run(work, binding=self.binding)

    async def _list(self, prefix: str, limit: int, after: str | None) -> KVListPage:
        self._store.ensure_cleanup()
        low = prefix.encode("utf-8")
        high = prefix_successor(low)
        now = self.clock()

        clauses = ["namespace = ?", "key >= ?", _LIVE]
        params: list[object] = [self._namespace, low, now]
        if high is not None:
            clauses.append("key < ?")
            params.append(high)
        if after is not None:
            clauses.append("key > ?")
            params.append(after.encode("utf-8"))
        # One row more than asked tells whether another page follows.
        params.append(limit + 1)
        sql = (
            f"SELECT key FROM kv_entries WHERE {' AND '.join(clauses)} "
            "ORDER BY key LIMIT ?"
        )

        def work(conn: sqlite3.Connection) -> list[bytes]:
            return [row[0] for row in conn.execute(sql, params)]

        raw_keys = await self._store.file.run(work, binding=self.binding)
        keys = [raw.decode("utf-8") for raw in raw_keys[:limit]]
        cursor = encode_cursor(keys[-1]) if len(raw_keys) > limit else None
        return KVListPage(keys=keys, cursor=cursor)

    async def _ping(self) -> None:
        await self._store.file.run(
            lambda conn: conn.execute("SELECT 1").fetchone(), binding=self.binding
        )
