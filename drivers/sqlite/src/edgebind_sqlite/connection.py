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

__all__ = ["BUSY_TIMEOUT_MS", "SQLiteFile", "is_backend_error", "is_lock_error"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How long a statement waits for another process's write lock (``edgebind
#: serve --workers`` opens the same files from several processes).
BUSY_TIMEOUT_MS = 5000

Setup = Callable[[sqlite3.Connection], None]

_LOCK_CODES = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_LOCK_TEXTS = (
    "database is locked",
    "database table is locked",
    "database schema is locked",
)
#: Result codes that blame the file or the machine, never the statement: a
#: D1 query that meets one was fine and may succeed when retried.
_BACKEND_CODES = _LOCK_CODES | frozenset(
    {
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_NOTADB,
        sqlite3.SQLITE_PROTOCOL,
    }
)


def _primary_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    # Extended codes (SQLITE_BUSY_SNAPSHOT, SQLITE_IOERR_WRITE, ...) carry
    # their primary code in the low byte.
    return code & 0xFF if isinstance(code, int) else None


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite giving up on a lock (SQLITE_BUSY/LOCKED)."""
    if not isinstance(exc, sqlite3.Error):
        return False
    if _primary_code(exc) in _LOCK_CODES:
        return True
    # The text is checked too, because an error raised by the sqlite3 module
    # itself carries no result code.
    text = str(exc).lower()
    return any(fragment in text for fragment in _LOCK_TEXTS)


def is_backend_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a condition of the file or the disk (a lock, an I/O
    error, a read-only or full disk, a damaged file), not of a statement."""
    if not isinstance(exc, sqlite3.Error):
        return False
    return is_lock_error(exc) or _primary_code(exc) in _BACKEND_CODES


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
        busy_timeout_ms: int = BUSY_TIMEOUT_MS,
    ) -> None:
        self.path = path
        self.label = label
        self.binding = binding
        self.busy_timeout_ms = busy_timeout_ms
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

    async def run(
        self, work: Callable[[sqlite3.Connection], T], *, binding: str | None = None
    ) -> T:
        """Run ``work(connection)`` on this file's thread and return its result.

        A ``sqlite3.Error`` that ``work`` lets escape becomes
        :class:`BackendUnavailable` naming ``binding`` (default: the file's),
        so no raw backend exception reaches the server. The KV file is shared
        by every namespace, so its callers pass their own binding.
        """
        who = self.binding if binding is None else binding
        self._check_not_closed(who)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, work, who)

    def _check_not_closed(self, binding: str) -> None:
        if self._closed:
            raise BackendUnavailable(
                f"SQLite database {self.label!r} is closed",
                driver="sqlite",
                binding=binding,
            )

    def _call(self, work: Callable[[sqlite3.Connection], T], binding: str) -> T:
        try:
            return work(self._connection(binding))
        except sqlite3.Error as exc:
            raise self.unavailable(exc, binding) from exc

    def unavailable(self, exc: sqlite3.Error, binding: str) -> BackendUnavailable:
        """The typed error for a failure of the file rather than the request."""
        if is_lock_error(exc):
            return BackendUnavailable(
                f"SQLite database {self._where()} is locked: another process "
                "holds its write lock and did not release it within "
                f"{self.busy_timeout_ms} ms; retry the request (SQLite: {exc})",
                driver="sqlite",
                binding=binding,
            )
        return BackendUnavailable(
            f"SQLite database {self._where()} failed: {exc}",
            driver="sqlite",
            binding=binding,
        )

    def _where(self) -> str:
        # The file name, not its path: the message reaches HTTP callers, who
        # need not learn where the server keeps its files.
        return f"{self.label} (in memory)" if self.path is None else self.path.name

    def _connection(self, binding: str) -> sqlite3.Connection:
        if self._conn is None:
            conn = self._open(readonly=False, binding=binding)
            if self._setup is not None:
                try:
                    self._setup(conn)
                except BaseException:
                    # Kept only once set up, so a setup that met a lock runs
                    # again on the next call instead of being skipped.
                    conn.close()
                    raise
            self._conn = conn
        return self._conn

    def _open(self, *, readonly: bool, binding: str) -> sqlite3.Connection:
        target = ":memory:" if self.path is None else str(self.path)
        conn: sqlite3.Connection | None = None
        try:
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: the driver writes BEGIN/COMMIT itself, so
            # the sqlite3 module never opens a transaction behind its back.
            conn = sqlite3.connect(
                target,
                timeout=self.busy_timeout_ms / 1000,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=self._cached_statements,
            )
            conn.execute(f"PRAGMA busy_timeout = {self.busy_timeout_ms}")
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
            if conn is not None:
                conn.close()
            # Switching a fresh file to WAL needs the lock; saying "check the
            # directory" then would send the operator the wrong way.
            if isinstance(exc, sqlite3.Error) and is_lock_error(exc):
                raise self.unavailable(exc, binding) from exc
            raise BackendUnavailable(
                f"cannot open SQLite database {target}: {exc}; check that the "
                "directory exists and is writable",
                driver="sqlite",
                binding=binding,
            ) from exc
        return conn

    # ------------------------------------------------------ side-effect free

    async def exists(self) -> bool:
        """Whether the database file is on disk (False in memory), checked off
        the loop and without creating anything."""
        path = self.path
        if path is None:
            return False
        return await asyncio.to_thread(path.is_file)

    async def peek(
        self, work: Callable[[sqlite3.Connection], T], *, binding: str | None = None
    ) -> T:
        """Run ``work`` on a throwaway read-only connection that creates
        nothing: no folder, no database file, no ``-wal`` or ``-shm`` file.

        For ``--dry-run``; the caller checks :meth:`exists` first. Runs on
        this file's thread, so the loop never waits for the disk.
        """
        who = self.binding if binding is None else binding
        self._check_not_closed(who)
        if self.path is None:
            raise ValueError("peek() needs a database file; memory has none")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, self._peek, work, self.path, who
        )

    def _peek(
        self, work: Callable[[sqlite3.Connection], T], path: Path, binding: str
    ) -> T:
        wal = path.with_name(path.name + "-wal")
        # mode=ro alone still creates the -wal and -shm files of a WAL
        # database and leaves them behind. Without a -wal file everything
        # is in the main file, which immutable=1 reads creating nothing;
        # with one, SQLite must read it, and it is already there.
        flags = "mode=ro" if wal.exists() else "mode=ro&immutable=1"
        uri = f"{path.resolve().as_uri()}?{flags}"
        try:
            conn = sqlite3.connect(uri, uri=True, timeout=self.busy_timeout_ms / 1000)
        except sqlite3.Error as exc:
            raise self.unavailable(exc, binding) from exc
        try:
            return work(conn)
        except sqlite3.Error as exc:
            raise self.unavailable(exc, binding) from exc
        finally:
            conn.close()

    # -------------------------------------------------------- inline reads

    async def read_inline(
        self, work: Callable[[sqlite3.Connection], T], *, binding: str | None = None
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
            who = self.binding if binding is None else binding
            await self.run(lambda _conn: self._open_reader(who), binding=binding)
        reader = self._reader
        if reader is None or not self._reader_lock.acquire(blocking=False):
            return False, None
        try:
            return True, work(reader)
        except sqlite3.Error as exc:
            # SQLITE_BUSY or a schema change racing the writer: the thread,
            # which may wait, answers instead of blocking the loop (and turns
            # any lasting failure into a typed error).
            logger.debug("Inline read of %s fell back to the thread: %s", self, exc)
            return False, None
        finally:
            self._reader_lock.release()

    def _open_reader(self, binding: str) -> None:
        if self._reader is not None:
            return
        reader = self._open(readonly=True, binding=binding)
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
