"""D1 databases: one SQLite file per declared database, fenced in.

Each call runs exactly one statement inside its own transaction: ``BEGIN``,
the statement, ``COMMIT`` — or ``ROLLBACK`` when anything fails, so a failing
statement changes nothing. Users' own transaction control (BEGIN, COMMIT,
ROLLBACK, SAVEPOINT, RELEASE) is refused with a 400 that says so: a call is
already a transaction, and a transaction left open between HTTP requests
would hold the write lock of the file for everyone.

What a statement may reach is decided by an authorizer on the connection,
checked when SQLite compiles the statement (the statement cache is off, so
every statement is checked):

* ATTACH and DETACH are refused, which also refuses every ``VACUUM``
  (SQLite attaches a scratch database for it; ``VACUUM INTO 'file'`` would
  write a copy anywhere the server can). Plain VACUUM could not run inside
  the per-call transaction anyway.
* Functions that reach files or change the engine are refused:
  load_extension, readfile, writefile, edit, fts3_tokenizer.
* PRAGMAs follow an allowlist (:data:`QUERY_PRAGMAS` with any argument,
  :data:`READ_ONLY_PRAGMAS` only without one, :data:`WRITABLE_PRAGMAS`
  either way); everything else — writable_schema, journal_mode=...,
  database_list (it shows server paths), foreign_keys=... — is refused.
* Tables of any schema other than ``main`` and ``temp`` are refused, and the
  raw-page table ``sqlite_dbpage`` is refused where it is compiled in.

Extension loading is switched off, ``trusted_schema`` is off, and no table
of Edgebind's own lives in a D1 file.

Each statement has a deadline, ``statement_timeout`` seconds after it starts
(the URL option, default 30, as on the postgres driver). A progress handler
installed for the user's statement alone checks :func:`time.monotonic` every
:data:`PROGRESS_INTERVAL` VM instructions and interrupts the statement once
the deadline has passed; the interrupted statement is rolled back like any
failing one and the caller gets a 400 saying so. Without it one runaway
statement would hold the file's only thread, and every later call on the
database would wait behind it for ever.
"""

from __future__ import annotations

import logging
import sqlite3
import time

from edgebind.d1 import D1Database, D1Meta, D1Result, SQLParam
from edgebind.errors import QueryError
from edgebind.resource import ProvisionOutcome, ProvisionStatus, ResourceSpec
from edgebind_sqlite.connection import SQLiteFile, is_backend_error

__all__ = [
    "PROGRESS_INTERVAL",
    "QUERY_PRAGMAS",
    "READ_ONLY_PRAGMAS",
    "STATEMENT_TIMEOUT",
    "WRITABLE_PRAGMAS",
    "D1Guard",
    "SQLiteD1Database",
    "prepare_d1_connection",
]

logger = logging.getLogger(__name__)

#: Seconds one D1 statement may run by default (the URL's statement_timeout).
STATEMENT_TIMEOUT = 30.0
#: VM instructions between two deadline checks. Measured with timeit on
#: SQLite 3.40 (bench noise is about +-20 %): a primary-key SELECT takes
#: 5-9 us with or without the handler, since it runs fewer instructions than
#: this and never calls it; a 1M-row recursive CTE (~250 ms) is 15-40 %
#: slower with a check every 100 instructions, within noise at 1000 and at
#: 10000. At 10000 the clock is still read about every 0.25 ms, far finer
#: than any timeout worth setting.
PROGRESS_INTERVAL = 10_000

#: Pragmas that inspect the schema or the data; their argument is a name.
QUERY_PRAGMAS = frozenset(
    {
        "table_info",
        "table_xinfo",
        "table_list",
        "index_list",
        "index_info",
        "index_xinfo",
        "foreign_key_list",
        "foreign_key_check",
        "integrity_check",
        "quick_check",
        "optimize",
    }
)
#: Pragmas that may be read but not set.
READ_ONLY_PRAGMAS = frozenset(
    {
        "foreign_keys",
        "schema_version",
        "data_version",
        "freelist_count",
        "page_count",
        "page_size",
        "encoding",
        "collation_list",
        "function_list",
        "pragma_list",
        "module_list",
        "compile_options",
        "auto_vacuum",
        "journal_mode",
        "synchronous",
    }
)
#: Pragmas that may be read and set: they touch only this database's data.
WRITABLE_PRAGMAS = frozenset({"user_version", "application_id", "defer_foreign_keys"})

DENIED_FUNCTIONS = frozenset(
    {"load_extension", "readfile", "writefile", "edit", "fts3_tokenizer"}
)
_TRANSACTION_MESSAGE = (
    "transaction control (BEGIN, COMMIT, ROLLBACK, SAVEPOINT, RELEASE) is not "
    "accepted: every query already runs in its own transaction, committed when "
    "the statement succeeds and rolled back when it fails"
)
_ATTACH_MESSAGE = (
    "ATTACH, DETACH and VACUUM are not allowed: a D1 database can reach no "
    "other database or file"
)
_ALLOWED_SCHEMAS = frozenset({"main", "temp"})


class D1Guard:
    """The authorizer of one D1 connection, and what it saw.

    SQLite calls it while compiling each statement. A refusal records a
    reason, which replaces SQLite's bare "not authorized" in the error.
    """

    def __init__(self) -> None:
        self.internal = False
        self.denied: str | None = None
        self.inserted = False

    def reset(self) -> None:
        self.denied = None
        self.inserted = False

    def __call__(
        self,
        action: int,
        arg1: str | None,
        arg2: str | None,
        schema: str | None,
        trigger: str | None,
    ) -> int:
        reason = self._check(action, arg1, arg2, schema, trigger)
        if reason is None:
            return sqlite3.SQLITE_OK
        self.denied = reason
        return sqlite3.SQLITE_DENY

    def _check(
        self,
        action: int,
        arg1: str | None,
        arg2: str | None,
        schema: str | None,
        trigger: str | None,
    ) -> str | None:
        if action in (sqlite3.SQLITE_TRANSACTION, sqlite3.SQLITE_SAVEPOINT):
            return None if self.internal else _TRANSACTION_MESSAGE
        if action in (sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH):
            return _ATTACH_MESSAGE
        if action == sqlite3.SQLITE_PRAGMA:
            return _check_pragma(arg1 or "", arg2)
        if action == sqlite3.SQLITE_FUNCTION:
            name = (arg2 or "").lower()
            if name in DENIED_FUNCTIONS:
                return f"the SQL function {name}() is not allowed in D1"
            return None
        if schema is not None and schema not in _ALLOWED_SCHEMAS:
            return f"schema {schema!r} is out of reach: a D1 database is one file"
        if (
            action
            in (
                sqlite3.SQLITE_READ,
                sqlite3.SQLITE_INSERT,
                sqlite3.SQLITE_UPDATE,
                sqlite3.SQLITE_DELETE,
            )
            and (arg1 or "").lower() == "sqlite_dbpage"
        ):
            return "the raw page table sqlite_dbpage is not allowed in D1"
        if (
            action == sqlite3.SQLITE_INSERT
            and trigger is None
            and not (arg1 or "").lower().startswith("sqlite_")
        ):
            self.inserted = True
        return None


def _check_pragma(name: str, argument: str | None) -> str | None:
    pragma = name.lower()
    if pragma in QUERY_PRAGMAS or pragma in WRITABLE_PRAGMAS:
        return None
    if pragma in READ_ONLY_PRAGMAS:
        if argument is None:
            return None
        hint = (
            "; use PRAGMA defer_foreign_keys = ON to check foreign keys at commit"
            if pragma == "foreign_keys"
            else ""
        )
        return f"PRAGMA {pragma} may be read but not set in D1{hint}"
    return f"PRAGMA {pragma} is not allowed in D1; allowed are " + ", ".join(
        sorted(QUERY_PRAGMAS | READ_ONLY_PRAGMAS | WRITABLE_PRAGMAS)
    )


def prepare_d1_connection(conn: sqlite3.Connection, guard: D1Guard) -> None:
    """Lock a fresh connection down for user SQL, with ``guard`` as its
    authorizer. Runs once per connection, on the file's thread."""
    # Foreign keys are enforced, as on Cloudflare D1.
    conn.execute("PRAGMA foreign_keys = ON")
    if hasattr(conn, "enable_load_extension"):
        conn.enable_load_extension(False)
    # SQLITE_DBCONFIG_DEFENSIVE needs Connection.setconfig (Python 3.12+);
    # on 3.11 the authorizer's refusal of writable_schema covers the same
    # ground for the ways SQL can reach it.
    setconfig = getattr(conn, "setconfig", None)
    defensive = getattr(sqlite3, "SQLITE_DBCONFIG_DEFENSIVE", None)
    if setconfig is not None and defensive is not None:
        setconfig(defensive, True)
    conn.set_authorizer(guard)


class SQLiteD1Database(D1Database):
    driver_name = "sqlite"

    def __init__(
        self,
        spec: ResourceSpec,
        *,
        file: SQLiteFile,
        guard: D1Guard,
        statement_timeout: float = STATEMENT_TIMEOUT,
    ) -> None:
        super().__init__(spec)
        self._file = file
        self._guard = guard
        self.statement_timeout = statement_timeout

    async def _execute(self, sql: str, params: list[SQLParam]) -> D1Result:
        return await self._file.run(
            lambda conn: self._run(conn, sql, params), binding=self.binding
        )

    def _run(
        self, conn: sqlite3.Connection, sql: str, params: list[SQLParam]
    ) -> D1Result:
        guard = self._guard
        started = time.perf_counter()
        written_before = conn.total_changes
        _control(conn, guard, "BEGIN")
        try:
            guard.reset()
            deadline = _Deadline(self.statement_timeout)
            # Installed for the user's statement only and removed before
            # COMMIT or ROLLBACK, so it can never interrupt the driver's own
            # statements, which must run to the end.
            conn.set_progress_handler(deadline, PROGRESS_INTERVAL)
            try:
                cursor = conn.execute(sql, params)
                rows = cursor.fetchall()
            except (sqlite3.Error, sqlite3.Warning, OverflowError) as exc:
                if deadline.passed:
                    raise _timeout_error(self.statement_timeout) from exc
                self._raise_if_backend(exc)
                raise _query_error(exc, guard.denied) from exc
            finally:
                conn.set_progress_handler(None, 0)
            columns = [column[0] for column in cursor.description or ()]
            _check_unique_columns(columns)
            changes = max(cursor.rowcount, 0)
            inserted = guard.inserted
            last_row_id = cursor.lastrowid if inserted and changes else None
            try:
                _control(conn, guard, "COMMIT")
            except sqlite3.Error as exc:
                self._raise_if_backend(exc)
                raise _query_error(exc, None) from exc
        except BaseException:
            if conn.in_transaction:
                _control(conn, guard, "ROLLBACK")
            raise
        results = [
            {
                name: list(value) if isinstance(value, bytes) else value
                for name, value in zip(columns, row, strict=True)
            }
            for row in rows
        ]
        meta = D1Meta(
            changes=changes,
            duration=(time.perf_counter() - started) * 1000,
            rows_read=len(rows),
            rows_written=conn.total_changes - written_before,
            last_row_id=last_row_id,
        )
        return D1Result(results=results, meta=meta)

    def _raise_if_backend(self, exc: BaseException) -> None:
        # A lock timeout, an I/O error or a full disk says nothing about the
        # statement, which may well succeed when retried: a 503, not a 400.
        if isinstance(exc, sqlite3.Error) and is_backend_error(exc):
            raise self._file.unavailable(exc, self.binding) from exc

    async def _provision(self) -> ProvisionOutcome:
        # The database exists once its file does (or, in memory, once its
        # connection is open); opening it is what creates it.
        path = self._file.path
        existed = self._file.is_open if path is None else await self._file.exists()
        await self._file.run(
            lambda conn: conn.execute("SELECT 1").fetchone(), binding=self.binding
        )
        status = ProvisionStatus.REUSED if existed else ProvisionStatus.CREATED
        return ProvisionOutcome(status, _where(self._file))

    async def _inspect(self) -> ProvisionOutcome:
        # The same test as _provision, minus the opening that creates the
        # file (and its folder).
        path = self._file.path
        existed = self._file.is_open if path is None else await self._file.exists()
        if existed:
            return ProvisionOutcome(ProvisionStatus.REUSED, _where(self._file))
        target = "the database in memory" if path is None else str(path)
        return ProvisionOutcome(ProvisionStatus.CREATED, f"would create {target}")

    async def _ping(self) -> None:
        await self._file.run(
            lambda conn: conn.execute("SELECT 1").fetchone(), binding=self.binding
        )


class _Deadline:
    """The progress handler of one statement: true (interrupt) once
    ``seconds`` have passed since it was made."""

    def __init__(self, seconds: float) -> None:
        # monotonic, not time.time: a clock set back by NTP or by hand must
        # neither stretch a deadline nor fire it early.
        self._at = time.monotonic() + seconds
        #: whether it interrupted the statement; an interrupt is told apart
        #: from every other error by this, not by SQLite's text
        self.passed = False

    def __call__(self) -> bool:
        if time.monotonic() >= self._at:
            self.passed = True
        return self.passed


def _timeout_error(seconds: float) -> QueryError:
    unit = "second" if seconds == 1 else "seconds"
    return QueryError(
        f"the statement was cancelled after {seconds:g} {unit}, the D1 "
        "statement_timeout, and rolled back, so it changed nothing; make it do "
        "less work (an index, a LIMIT, a bounded recursive CTE) or raise the "
        "limit with the sqlite URL option statement_timeout=<seconds>, for "
        "example sqlite:///.edgebind/dev?statement_timeout=60"
    )


def _control(conn: sqlite3.Connection, guard: D1Guard, statement: str) -> None:
    guard.internal = True
    try:
        conn.execute(statement)
    finally:
        guard.internal = False


def _check_unique_columns(columns: list[str]) -> None:
    seen: set[str] = set()
    for name in columns:
        if name in seen:
            raise QueryError(
                f"the result has more than one column named {name!r}; give the "
                "columns distinct names with AS, for example "
                f"SELECT a.{name} AS a_{name}, b.{name} AS b_{name}"
            )
        seen.add(name)


def _query_error(exc: BaseException, denied: str | None) -> QueryError:
    text = str(exc)
    if denied is not None:
        return QueryError(f"{denied} (SQLite: {text})")
    if isinstance(exc, sqlite3.Warning) or "one statement at a time" in text:
        return QueryError(
            "only one SQL statement per query is accepted; send each statement "
            f"in its own request (SQLite: {text})"
        )
    if "cannot VACUUM" in text:
        return QueryError(
            "VACUUM is not available in D1: every query runs inside its own "
            f"transaction, and VACUUM INTO could write outside it (SQLite: {text})"
        )
    if isinstance(exc, OverflowError):
        return QueryError(
            f"a parameter is too large for SQLite's 64-bit integers: {text}"
        )
    return QueryError(text)


def _where(file: SQLiteFile) -> str:
    return "in memory" if file.path is None else str(file.path)
