"""One SQLite database file, its connection and the thread that owns it.

Every statement on a file runs on that file's own single-thread executor, in
submission order, so the event loop never waits for disk I/O, fsync or a
long scan, and no two statements on one connection ever overlap.

Measured with ``bench/sqlite_inline_vs_thread.py`` (a primary-key read of a
small row from a WAL file on disk): inline about 9-11 us median, through the
dedicated thread about 140-150 us, through ``asyncio.to_thread`` 150-200 us —
the hop costs 13-18 times the read itself, more than the whole per-request
budget of the HTTP server. So the one read that is always tiny and frequent,
a KV ``get`` of a small value, runs inline on a read-only connection (see
:meth:`SQLiteFile.read_inline`); everything else goes through the thread.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from edgebind.errors import BackendUnavailable

__all__ = ["BUSY_TIMEOUT_MS", "SQLiteFile"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a statement waits for another process's write lock (``edgebind
#: serve --workers`` opens the same files from several processes).
BUSY_TIMEOUT_MS = 5000

Setup = Callable[[sqlite3.Connection], None]


class SQLiteFile:
    """A lazily opened SQLite database and the executor that serialises it.

    ``path`` None means a private in-memory database that lives as long as
    this object. ``synchronous`` is the ``PRAGMA synchronous`` level for the
    file (see the driver for which files use which). ``setup`` runs once on
    the new connection, on the executor thread, before any other work.
    ``statement_cache=False`` makes SQLite compile every statement afresh,
    so an authorizer sees every statement, not just the first of a kind.
    """

    def __init__(
        self,
        path: Path | None,
        *,
        label: str,
        synchronous: str = "NORMAL",
        setup: Setup | None = None,
        statement_cache: bool = True,
        binding: str = "",
    ) -> None:
        self.path = path
        self.label = label
        self.binding = binding
        self._synchronous = synchronous
        self._setup = setup
        self._cached_statements = 128 if statement_cache else 0
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=f"edgebind-sqlite-{label}"
        )
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._reader_lock = threading.Lock()
        self._closed = False

    @property
    def is_open(self) -> bool:
        """Whether the main connection has been opened (on first use)."""
        return self._conn is not None

    # ------------------------------------------------------------ running

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work(connection)`` on this file's thread and return its result."""
        if self._closed:
            raise BackendUnavailable(
                f"SQLite database {self.label!r} is closed",
                driver="sqlite",
                binding=self.binding,
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work)

    def _call(self, work: Callable[[sqlite3.Connection], T]) -> T:
        return work(self._connection())

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = self._open(readonly=False)
            if self._setup is not None:
                self._setup(self._conn)
        return self._conn

    def _open(self, *, readonly: bool) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: the driver writes BEGIN/COMMIT itself, so
            # the sqlite3 module never opens a transaction behind its back.
            conn = sqlite3.connect(
                target,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=self._cached_statements,
            )
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if self.path is not None and not readonly:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    logger.warning(
                        "SQLite file %s stays in journal mode %s, not WAL.",
                        self.path,
                        mode,
                    )
            conn.execute(f"PRAGMA synchronous = {self._synchronous}")
            conn.execute("PRAGMA trusted_schema = OFF")
            if readonly:
                conn.execute("PRAGMA query_only = ON")
        except (sqlite3.Error, OSError) as exc:
            raise BackendUnavailable(
                f"cannot open SQLite database {target}: {exc}; check that the "
                "directory exists and is writable",
                driver="sqlite",
                binding=self.binding,
            ) from exc
        return conn

    # -------------------------------------------------------- inline reads

    async def read_inline(
        self, work: Callable[[sqlite3.Connection], T]
    ) -> tuple[bool, T | None]:
        """Try ``work`` on the loop thread on a read-only connection.

        Returns ``(True, result)``, or ``(False, None)`` when the read could
        not be done inline (an in-memory database, which a second connection
        cannot see, or a lock held by a checkpoint) and the caller must use
        :meth:`run` instead. The read connection itself is opened on the
        file's thread, so no ``open()`` happens on the loop.
        """
        if self.path is None or self._closed:
            return False, None
        if self._reader is None:
            await self.run(lambda _conn: self._open_reader())
        reader = self._reader
        if reader is None or not self._reader_lock.acquire(blocking=False):
            return False, None
        try:
            return True, work(reader)
        except sqlite3.OperationalError as exc:
            # SQLITE_BUSY or a schema change racing the writer: the thread,
            # which may wait, answers instead of blocking the loop.
            logger.debug("Inline read of %s fell back to the thread: %s", self, exc)
            return False, None
        finally:
            self._reader_lock.release()

    def _open_reader(self) -> None:
        if self._reader is not None:
            return
        reader = self._open(readonly=True)
        # Never wait on the loop: a busy database is retried on the thread.
        reader.execute("PRAGMA busy_timeout = 0")
        self._reader = reader

    # ------------------------------------------------------------- closing

    async def aclose(self) -> None:
        """Close the connections and stop the thread; idempotent."""
        if self._closed:
            return
        self._closed = True
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._executor, self._close_connections)
        self._executor.shutdown(wait=False)

    def _close_connections(self) -> None:
        for conn in (self._reader, self._conn):
            if conn is not None:
                conn.close()
        self._reader = None
        self._conn = None

    def __repr__(self) -> str:
        where = "memory" if self.path is None else str(self.path)
        return f"SQLiteFile({self.label!r}, {where})"
