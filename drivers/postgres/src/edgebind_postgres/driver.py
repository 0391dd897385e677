"""The PostgreSQL driver: one server URL, lazily opened pools, KV and D1.

The URL's own role (the "admin" role) owns the KV table and provisions D1
databases; user SQL never runs as it. Every pool is created on first use, so
opening resources performs no I/O and a server starts while PostgreSQL is
down. A pool that cannot reach the server is dropped, and the next request
connects afresh: a dead server fails requests within the connect timeout,
and a server that comes back is used again without a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg_pool import AsyncConnectionPool

from edgebind.capabilities import D1Capabilities, KVCapabilities
from edgebind.d1 import D1Database
from edgebind.drivers import Driver
from edgebind.errors import BackendUnavailable
from edgebind.kv import KVNamespace
from edgebind.resource import Clock, ResourceSpec, system_clock

__all__ = ["PostgresDriver", "PostgresSettings"]

logger = logging.getLogger(__name__)

DRIVER_NAME = "postgres"

AsyncConn = psycopg.AsyncConnection[Any]
Configure = Callable[[AsyncConn], Awaitable[None]]

# Query parameters this driver reads itself; libpq would reject them.
_DEFAULT_CONNECT_TIMEOUT = 5
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
_MAX_IDENTIFIER_BYTES = 63

# SQLSTATE classes and codes that mean "the server is not there right now".
_UNAVAILABLE_SQLSTATE_CLASSES = ("08",)
_UNAVAILABLE_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


@dataclass(frozen=True, slots=True)
class PostgresSettings:
    """What the driver reads from its URL (see ``docs/drivers/postgres.md``)."""

    #: libpq connection parameters of the admin role, connect_timeout included
    admin_params: dict[str, str]
    #: seconds a single D1 statement may run
    statement_timeout: float = 30.0
    #: seconds a request waits for a pooled connection
    pool_timeout: float = 10.0
    pool_max_size: int = 10
    #: schema in the URL's database that holds the KV table
    schema: str = "edgebind"
    #: seconds between sweeps that delete expired KV entries
    kv_cleanup_interval: float = 300.0

    @property
    def main_database(self) -> str:
        return (
            self.admin_params.get("dbname")
            or self.admin_params.get("user")
            or "postgres"
        )

    @property
    def where(self) -> str:
        host = self.admin_params.get("host", "localhost")
        port = self.admin_params.get("port", "5432")
        return f"{host}:{port}/{self.main_database}"

    @classmethod
    def from_url(cls, url: str) -> PostgresSettings:
        """Parse ``url``; ValueError says which part is wrong."""
        parts = urlsplit(url)
        if parts.scheme not in PostgresDriver.schemes:
            raise ValueError(
                f"URL scheme {parts.scheme!r} is not one the postgres driver "
                "serves; write postgresql://user@host:port/database"
            )

        own: dict[str, str] = {}
        passed: list[tuple[str, str]] = []
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key in _OWN_KEYS:
                own[key] = value
            else:
                passed.append((key, value))

        libpq_url = urlunsplit(
            ("postgresql", parts.netloc, parts.path, urlencode(passed), "")
        )
        try:
            params = {
                key: str(value) for key, value in conninfo_to_dict(libpq_url).items()
            }
        except psycopg.ProgrammingError as exc:
            raise ValueError(f"PostgreSQL URL is not valid: {exc}") from exc
        params.setdefault("connect_timeout", str(_DEFAULT_CONNECT_TIMEOUT))

        schema = own.get("schema", "edgebind")
        if not _IDENTIFIER.fullmatch(schema) or len(schema) > _MAX_IDENTIFIER_BYTES:
            raise ValueError(
                f"schema={schema!r} in the URL must be a lower-case PostgreSQL "
                "identifier (letters, digits, _), at most 63 characters"
            )
        return cls(
            admin_params=params,
            statement_timeout=_positive(own, "statement_timeout", 30.0),
            pool_timeout=_positive(own, "pool_timeout", 10.0),
            pool_max_size=int(_positive(own, "pool_max_size", 10, whole=True)),
            schema=schema,
            kv_cleanup_interval=_positive(own, "kv_cleanup_interval", 300.0),
        )


_OWN_KEYS = frozenset(
    {
        "statement_timeout",
        "pool_timeout",
        "pool_max_size",
        "schema",
        "kv_cleanup_interval",
    }
)


def _positive(
    own: dict[str, str], key: str, default: float, *, whole: bool = False
) -> float:
    raw = own.get(key)
    if raw is None:
        return default
    try:
        value = int(raw) if whole else float(raw)
    except ValueError:
        value = -1
    if not (value > 0 and math.isfinite(value)):
        kind = "a whole number" if whole else "a number of seconds"
        raise ValueError(f"{key}={raw!r} in the URL must be {kind} above 0")
    return value


def d1_identifier(main_database: str, name: str) -> str:
    """The PostgreSQL database and role name of D1 database ``name``.

    Deterministic, at most 63 bytes, lower-case letters, digits and ``_``.
    A name that is not already in that form, or too long, gets a hash of the
    exact declared name appended, so ``Main`` and ``main`` stay apart.
    """
    readable = f"{main_database}_d1_{name}"
    if _IDENTIFIER.fullmatch(readable) and len(readable) <= _MAX_IDENTIFIER_BYTES:
        return readable
    cleaned = re.sub(r"[^a-z0-9_]", "_", readable.lower())
    if not cleaned[:1].isalpha():
        cleaned = "d" + cleaned
    digest = hashlib.sha256(f"{main_database}\0{name}".encode()).hexdigest()[:10]
    return f"{cleaned[: _MAX_IDENTIFIER_BYTES - 11]}_{digest}"


def is_unavailable(exc: psycopg.Error) -> bool:
    """Whether ``exc`` means the server (not the statement) failed."""
    if isinstance(exc, psycopg.InterfaceError):
        return True
    state = exc.sqlstate
    if state is None:
        # psycopg's own connection errors carry no SQLSTATE.
        return isinstance(exc, psycopg.OperationalError)
    return state[:2] in _UNAVAILABLE_SQLSTATE_CLASSES or state in _UNAVAILABLE_SQLSTATES


class ConnectionSource:
    """A lazily created pool for one set of connection parameters.

    The pool appears on the first request, after one direct connection has
    shown the server answers (so a refused connection fails the request at
    once, with libpq's own message, instead of after the pool timeout). A
    pool that times out or hands out a broken connection is dropped; the
    next request starts over.
    """

    def __init__(
        self,
        params: dict[str, str],
        settings: PostgresSettings,
        *,
        label: str,
        max_size: int,
        configure: Configure | None = None,
        reset: Configure | None = None,
        on_connect_failure: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.params = params
        self.settings = settings
        self.label = label
        self.max_size = max_size
        self._configure = configure
        self._reset = reset
        self._on_connect_failure = on_connect_failure
        self._pool: AsyncConnectionPool[AsyncConn] | None = None
        self._lock = asyncio.Lock()

    @property
    def conninfo(self) -> str:
        return make_conninfo("", **self.params)

    async def connect_direct(self, *, binding: str) -> AsyncConn:
        """One unpooled autocommit connection (for provisioning and probes)."""
        try:
            return await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        except psycopg.Error as exc:
            message = f"cannot connect to PostgreSQL {self.label}: {_first_line(exc)}"
            if self._on_connect_failure is not None:
                message = await self._on_connect_failure(message)
            raise BackendUnavailable(
                message, driver=DRIVER_NAME, binding=binding
            ) from exc

    async def _get_pool(self, binding: str) -> AsyncConnectionPool[AsyncConn]:
        async with self._lock:
            if self._pool is not None:
                return self._pool

            probe = await self.connect_direct(binding=binding)
            await probe.close()

            pool: AsyncConnectionPool[AsyncConn] = AsyncConnectionPool(
                self.conninfo,
                min_size=1,
                max_size=self.max_size,
                kwargs={"autocommit": True, "prepare_threshold": None},
                configure=self._configure,
                reset=self._reset,
                check=AsyncConnectionPool.check_connection,
                timeout=self.settings.pool_timeout,
                name=self.label,
                open=False,
            )
            await pool.open(wait=False)
            self._pool = pool
            return pool

    async def drop(self, pool: AsyncConnectionPool[AsyncConn] | None = None) -> None:
        """Close the current pool (only if it is still ``pool``, when given)."""
        async with self._lock:
            current = self._pool
            if current is None or (pool is not None and current is not pool):
                return
            self._pool = None
        await current.close(timeout=1.0)

    @contextlib.asynccontextmanager
    async def connection(self, *, binding: str) -> AsyncIterator[AsyncConn]:
        """A pooled connection; BackendUnavailable when the server is away.

        Errors raised by the caller's block pass through unchanged; a
        connection the block left broken makes the pool start over.
        """
        pool = await self._get_pool(binding)
        try:
            conn = await pool.getconn()
        except psycopg.OperationalError as exc:
            await self.drop(pool)
            raise BackendUnavailable(
                f"no connection to PostgreSQL {self.label} within "
                f"{self.settings.pool_timeout:g} s: {_first_line(exc)}",
                driver=DRIVER_NAME,
                binding=binding,
            ) from exc

        try:
            yield conn
        finally:
            broken = conn.broken or conn.closed
            await pool.putconn(conn)
            if broken:
                await self.drop(pool)

    async def aclose(self) -> None:
        await self.drop()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


class PostgresDriver(Driver):
    """KV namespaces and D1 databases on one PostgreSQL server."""

    name: ClassVar[str] = DRIVER_NAME
    schemes: ClassVar[tuple[str, ...]] = ("postgresql", "postgres")
    kinds = frozenset({"kv", "d1"})
    description: ClassVar[str] = (
        "PostgreSQL server: KV in a table of its own, each D1 database in a "
        "PostgreSQL database of its own"
    )

    kv_capabilities: ClassVar[KVCapabilities | None] = KVCapabilities()
    d1_capabilities: ClassVar[D1Capabilities | None] = D1Capabilities(
        dialect="postgresql",
        numbered_params=True,
        returning=True,
        rejects_duplicate_columns=True,
    )

    def __init__(self, url: str, *, clock: Clock = system_clock) -> None:
        super().__init__(url, clock=clock)
        self.settings = PostgresSettings.from_url(url)
        self.admin = ConnectionSource(
            self.settings.admin_params,
            self.settings,
            label=f"at {self.settings.where}",
            max_size=self.settings.pool_max_size,
        )
        self._d1_sources: dict[str, ConnectionSource] = {}
        self._cleanup_task: asyncio.Task[None] | None = None
        self._closed = False

    @classmethod
    def validate_url(cls, url: str) -> None:
        PostgresSettings.from_url(url)

    # ------------------------------------------------------------- resources

    def open_kv(self, spec: ResourceSpec) -> KVNamespace:
        from edgebind_postgres.kv import PostgresKV

        return PostgresKV(spec, driver=self, clock=self.clock)

    def open_d1(self, spec: ResourceSpec) -> D1Database:
        from edgebind_postgres.d1 import PostgresD1

        return PostgresD1(spec, driver=self)

    # ------------------------------------------------------------ D1 plumbing

    def d1_role_password(self, role: str) -> str | None:
        """The D1 role's password, derived from the admin password.

        With no admin password (trust or peer authentication) the D1 roles
        get none either. Isolation never rests on these passwords: it rests
        on what the roles may do once connected.
        """
        admin_password = self.settings.admin_params.get("password")
        if not admin_password:
            return None
        digest = hmac.new(admin_password.encode(), role.encode(), hashlib.sha256)
        return digest.hexdigest()

    def d1_source(
        self,
        identifier: str,
        *,
        configure: Configure,
        reset: Configure,
        on_connect_failure: Callable[[str], Awaitable[str]],
    ) -> ConnectionSource:
        """The connection source running user SQL of one D1 database."""
        source = self._d1_sources.get(identifier)
        if source is not None:
            return source

        params = dict(self.settings.admin_params)
        params["dbname"] = identifier
        params["user"] = identifier
        params.pop("password", None)
        password = self.d1_role_password(identifier)
        if password is not None:
            params["password"] = password
        # Session defaults from the startup packet outrank ALTER ROLE ... SET,
        # so user SQL cannot raise its own timeout for later connections.
        timeout_ms = max(1, round(self.settings.statement_timeout * 1000))
        startup = (
            f"-c statement_timeout={timeout_ms} -c TimeZone=UTC "
            "-c DateStyle=ISO,YMD -c IntervalStyle=iso_8601"
        )
        params["options"] = f"{params.get('options', '')} {startup}".strip()

        source = ConnectionSource(
            params,
            self.settings,
            label=f"D1 database {identifier} at {self.settings.where}",
            max_size=min(5, self.settings.pool_max_size),
            configure=configure,
            reset=reset,
            on_connect_failure=on_connect_failure,
        )
        self._d1_sources[identifier] = source
        return source

    # ------------------------------------------------------------ KV cleanup

    def ensure_cleanup(self, sweep: Callable[[], Awaitable[int]]) -> None:
        """Start the expired-entry sweeper once, on the first KV use."""
        if self._closed or self._cleanup_task is not None:
            return
        self._cleanup_task = asyncio.get_running_loop().create_task(
            self._cleanup_loop(sweep), name="edgebind-postgres-kv-cleanup"
        )

    @property
    def cleanup_task(self) -> asyncio.Task[None] | None:
        return self._cleanup_task

    async def _cleanup_loop(self, sweep: Callable[[], Awaitable[int]]) -> None:
        while True:
            await asyncio.sleep(self.settings.kv_cleanup_interval)
            try:
                removed = await sweep()
            except Exception:
                # Reads already hide expired entries; a failed sweep only
                # delays reclaiming space, so log and try again later.
                logger.warning("sweeping expired KV entries failed", exc_info=True)
            else:
                if removed:
                    logger.debug("removed %d expired KV entries", removed)

    async def aclose(self) -> None:
        self._closed = True
        task, self._cleanup_task = self._cleanup_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for source in self._d1_sources.values():
            await source.aclose()
        self._d1_sources.clear()
        await self.admin.aclose()
