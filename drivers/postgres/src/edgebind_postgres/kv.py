"""KV namespaces in one table of the URL's database.

Every namespace of a driver shares ``<schema>.kv_entries`` (schema
``edgebind`` unless the URL says ``?schema=``), keyed by namespace and key.
Keys and values are stored as UTF-8 ``bytea``: bytea compares byte by byte,
so keys list in UTF-8 byte order whatever the database's collation, and a
value may hold NUL, which ``text`` cannot. A prefix is matched as a key range
(``prefix <= key < next(prefix)``), never with LIKE, so ``%`` and ``_`` in a
prefix are literal and the primary-key index serves the scan.

Expiry is decided on every read against the injected clock, not the server's
``now()``; a background sweep deletes expired rows to reclaim space.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql

from edgebind.capabilities import KVCapabilities
from edgebind.errors import BackendUnavailable, EdgebindError
from edgebind.kv import KVListPage, KVNamespace, encode_cursor
from edgebind.resource import Clock, ProvisionOutcome, ProvisionStatus, ResourceSpec
from edgebind_postgres.driver import DRIVER_NAME, is_unavailable

if TYPE_CHECKING:
    from edgebind_postgres.driver import PostgresDriver

__all__ = ["KV_COLUMNS", "PostgresKV", "prefix_upper_bound"]

logger = logging.getLogger(__name__)

#: column name -> PostgreSQL type, as provisioning creates and checks them
KV_COLUMNS = {
    "namespace": "text",
    "key": "bytea",
    "value": "bytea",
    "expires_at": "double precision",
}

_SWEEP_BATCH = 1000


def prefix_upper_bound(prefix: bytes) -> bytes | None:
    """The smallest byte string above every string starting with ``prefix``.

    None when there is none (an empty prefix, or one of only 0xFF bytes,
    which UTF-8 never produces).
    """
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


class PostgresKV(KVNamespace):
    driver_name = DRIVER_NAME
    capabilities: ClassVar[KVCapabilities] = KVCapabilities()

    def __init__(
        self, spec: ResourceSpec, *, driver: PostgresDriver, clock: Clock
    ) -> None:
        super().__init__(spec, clock=clock)
        self._driver = driver
        self._schema = driver.settings.schema
        self._table = sql.Identifier(self._schema, "kv_entries")

    @property
    def table_name(self) -> str:
        return f"{self._schema}.kv_entries"

    # ----------------------------------------------------------- operations

    async def _get(self, key: str) -> str | None:
        query = sql.SQL(
            "SELECT value FROM {} WHERE namespace = %s AND key = %s "
            "AND (expires_at IS NULL OR expires_at > %s)"
        ).format(self._table)
        rows = await self._run(query, (self.name, key.encode(), self.clock()))
        if not rows:
            return None
        return bytes(rows[0][0]).decode("utf-8")

    async def _put(self, key: str, value: str, expires_at: float | None) -> None:
        query = sql.SQL(
            "INSERT INTO {} (namespace, key, value, expires_at) "
            "VALUES (%s, %s, %s, %s) ON CONFLICT (namespace, key) DO UPDATE "
            "SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at"
        ).format(self._table)
        await self._run(query, (self.name, key.encode(), value.encode(), expires_at))

    async def _delete(self, key: str) -> None:
        query = sql.SQL("DELETE FROM {} WHERE namespace = %s AND key = %s").format(
            self._table
        )
        await self._run(query, (self.name, key.encode()))

    async def _list(self, prefix: str, limit: int, after: str | None) -> KVListPage:
        lower = prefix.encode()
        conditions = [
            sql.SQL("namespace = %s"),
            sql.SQL("key >= %s"),
            sql.SQL("(expires_at IS NULL OR expires_at > %s)"),
        ]
        params: list[Any] = [self.name, lower, self.clock()]
        upper = prefix_upper_bound(lower)
        if upper is not None:
            conditions.append(sql.SQL("key < %s"))
            params.append(upper)
        if after is not None:
            conditions.append(sql.SQL("key > %s"))
            params.append(after.encode())
        # One row more than asked tells whether another page follows.
        params.append(limit + 1)
        query = sql.SQL("SELECT key FROM {} WHERE {} ORDER BY key LIMIT %s").format(
            self._table, sql.SQL(" AND ").join(conditions)
        )

        rows = await self._run(query, params)
        keys = [bytes(row[0]).decode("utf-8") for row in rows[:limit]]
        cursor = encode_cursor(keys[-1]) if len(rows) > limit else None
        return KVListPage(keys=keys, cursor=cursor)

    async def sweep_expired(self) -> int:
        """Delete the entries of every namespace that expired by the clock."""
        query = sql.SQL(
            "DELETE FROM {table} WHERE ctid = ANY(ARRAY("
            "SELECT ctid FROM {table} WHERE expires_at <= %s LIMIT %s))"
        ).format(table=self._table)
        removed = 0
        while True:
            async with self._driver.admin.connection(binding=self.binding) as conn:
                try:
                    cursor = await conn.execute(query, (self.clock(), _SWEEP_BATCH))
                except psycopg.Error as exc:
                    raise self._translate(exc) from exc
            removed += max(cursor.rowcount, 0)
            if cursor.rowcount < _SWEEP_BATCH:
                return removed

    async def _run(self, query: sql.Composed, params: Any) -> list[tuple[Any, ...]]:
        async with self._driver.admin.connection(binding=self.binding) as conn:
            self._driver.ensure_cleanup(self.sweep_expired)
            try:
                cursor = await conn.execute(query, params)
                return await cursor.fetchall() if cursor.description else []
            except psycopg.Error as exc:
                raise self._translate(exc) from exc

    def _translate(self, exc: psycopg.Error) -> EdgebindError:
        if isinstance(exc, pg_errors.UndefinedTable | pg_errors.InvalidSchemaName):
            return BackendUnavailable(
                f"the KV table {self.table_name} does not exist in PostgreSQL "
                f"database {self._driver.settings.main_database}; run "
                "`edgebind provision` (or `edgebind serve --provision`) to create it",
                driver=DRIVER_NAME,
                binding=self.binding,
            )
        if is_unavailable(exc):
            return BackendUnavailable(
                f"PostgreSQL at {self._driver.settings.where} failed: {exc}",
                driver=DRIVER_NAME,
                binding=self.binding,
            )
        return EdgebindError(
            f"PostgreSQL refused a KV operation on {self.table_name}: {exc}"
        )

    # --------------------------------------------------------- provisioning

    async def _provision(self) -> ProvisionOutcome:
        conn = await self._driver.admin.connect_direct(binding=self.binding)
        try:
            return await self._provision_on(conn)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        finally:
            await conn.close()

    async def _inspect(self) -> ProvisionOutcome:
        conn = await self._driver.admin.connect_direct(binding=self.binding)
        try:
            existing = await self._existing_table(conn)
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        finally:
            await conn.close()
        if existing is None:
            return ProvisionOutcome(
                ProvisionStatus.CREATED, f"would create table {self.table_name}"
            )
        return existing

    async def _existing_table(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> ProvisionOutcome | None:
        """REUSED or MISMATCHED for the KV table, or None when it is missing."""
        cursor = await conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = %s AND table_name = 'kv_entries'",
            (self._schema,),
        )
        found = {name: kind for name, kind in await cursor.fetchall()}
        if not found:
            return None
        if found != KV_COLUMNS:
            return ProvisionOutcome(
                ProvisionStatus.MISMATCHED,
                f"table {self.table_name} exists with columns {found}; the "
                f"postgres driver needs exactly {KV_COLUMNS}. Point the URL "
                "at another schema with ?schema=, or drop that table",
            )
        return ProvisionOutcome(
            ProvisionStatus.REUSED, f"table {self.table_name} exists"
        )

    async def _provision_on(
        self, conn: psycopg.AsyncConnection[Any]
    ) -> ProvisionOutcome:
        # Two servers provisioning at once must not both try to create.
        await conn.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))",
            (f"edgebind-kv:{self._schema}",),
        )
        existing = await self._existing_table(conn)
        if existing is not None:
            return existing

        schema = sql.Identifier(self._schema)
        await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(schema))
        await conn.execute(
            sql.SQL(
                "CREATE TABLE {} (namespace text NOT NULL, key bytea NOT NULL, "
                "value bytea NOT NULL, expires_at double precision, "
                "PRIMARY KEY (namespace, key))"
            ).format(self._table)
        )
        await conn.execute(
            sql.SQL(
                "CREATE INDEX {} ON {} (expires_at) WHERE expires_at IS NOT NULL"
            ).format(sql.Identifier("kv_entries_expires_at"), self._table)
        )
        logger.info("created KV table %s", self.table_name)
        return ProvisionOutcome(
            ProvisionStatus.CREATED, f"created table {self.table_name}"
        )
