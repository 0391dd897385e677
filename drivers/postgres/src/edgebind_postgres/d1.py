"""D1 databases, each a PostgreSQL database of its own with a role of its own.

Isolation rests on what the D1 role may do, not on passwords: user SQL runs
only on connections that *log in* as that role (never as the admin role with
``SET ROLE``, which ``RESET ROLE`` would undo) to its own database. The role is
no superuser, cannot create databases or roles, is a member of no role, may
connect to its own database only (CONNECT is revoked from PUBLIC on every D1
database), may create tables in that database's ``public`` schema but not
schemas or extensions (it has no CREATE on the database, and the database is
owned by the admin role). So server files, programs, other databases, the KV
table and the admin role are out of its reach, and ``dblink`` or
``postgres_fdw`` cannot be installed (both need a superuser).

Each statement runs in its own transaction with ``statement_timeout`` set and
is rolled back when it fails, so a failing statement changes nothing.
Connections are reset with ``DISCARD ALL`` before reuse, so session state
(``SET``, temporary tables) never leaks from one request into the next.
"""

from __future__ import annotations

import logging
import math
import time
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg.types.string import TextLoader

from edgebind.capabilities import D1Capabilities
from edgebind.d1 import D1Database, D1Meta, D1Result, SQLParam
from edgebind.errors import BackendUnavailable, EdgebindError, QueryError
from edgebind.resource import ProvisionOutcome, ProvisionStatus, ResourceSpec
from edgebind_postgres.driver import (
    DRIVER_NAME,
    PostgresDriver,
    d1_identifier,
    is_unavailable,
)
from edgebind_postgres.placeholders import translate

if TYPE_CHECKING:
    AsyncConn = psycopg.AsyncConnection[Any]

__all__ = ["PostgresD1", "to_json_value"]

logger = logging.getLogger(__name__)

# Types loaded as PostgreSQL's own text instead of Python objects: dates and
# times come out as ISO 8601 strings (the session runs with DateStyle ISO,
# TimeZone UTC, IntervalStyle iso_8601), and JSON stays the text it was, as
# D1 on SQLite returns it. Text loading also accepts values Python's datetime
# cannot hold, such as 'infinity' or year 10000.
_TEXT_LOADED_TYPES = (
    "date",
    "time",
    "timetz",
    "timestamp",
    "timestamptz",
    "interval",
    "json",
    "jsonb",
    "uuid",
)

_CHANGING_COMMANDS = frozenset({"INSERT", "UPDATE", "DELETE", "MERGE"})
_NON_FINITE = {math.inf: "Infinity", -math.inf: "-Infinity"}


def to_json_value(value: object) -> object:
    """A result value as JSON can carry it (see docs/drivers/postgres.md)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        return _NON_FINITE.get(value, value)
    if isinstance(value, Decimal):
        return _decimal_value(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return list(bytes(value))
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if isinstance(value, dict):
        return {str(key): to_json_value(item) for key, item in value.items()}
    return str(value)


def _decimal_value(value: Decimal) -> object:
    # numeric is PostgreSQL's type for literals like 1.5 and for sum(bigint):
    # whole values without a fractional part become ints, others floats.
    if not value.is_finite():
        return str(value)
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= 0:
        return int(value)
    as_float = float(value)
    return as_float if math.isfinite(as_float) else str(value)


async def _configure_session(conn: AsyncConn) -> None:
    for type_name in _TEXT_LOADED_TYPES:
        conn.adapters.register_loader(type_name, TextLoader)


async def _reset_session(conn: AsyncConn) -> None:
    await conn.execute("DISCARD ALL")


def _error_text(exc: psycopg.Error) -> str:
    diag = exc.diag
    text = diag.message_primary or str(exc).strip().splitlines()[0]
    if diag.message_detail:
        text += f" DETAIL: {diag.message_detail}"
    if diag.message_hint:
        text += f" HINT: {diag.message_hint}"
    return text


class PostgresD1(D1Database):
    driver_name = DRIVER_NAME
    capabilities: ClassVar[D1Capabilities] = D1Capabilities(
        dialect="postgresql",
        numbered_params=True,
        returning=True,
        rejects_duplicate_columns=True,
    )

    def __init__(self, spec: ResourceSpec, *, driver: PostgresDriver) -> None:
        super().__init__(spec)
        self._driver = driver
        #: the PostgreSQL database and the role that runs this D1's SQL
        self.identifier = d1_identifier(driver.settings.main_database, spec.name)
        self._source = driver.d1_source(
            self.identifier,
            configure=_configure_session,
            reset=_reset_session,
            on_connect_failure=self._explain_connect_failure,
        )

    # ------------------------------------------------------------ execution

    async def _execute(self, sql_text: str, params: list[SQLParam]) -> D1Result:
        translated = translate(sql_text)
        bound = translated.bind(params)
        timeout_ms = max(1, round(self._driver.settings.statement_timeout * 1000))
        begin = (
            f"BEGIN; SET LOCAL statement_timeout = {timeout_ms}; "
            "SET LOCAL standard_conforming_strings = on"
        )

        started = time.perf_counter()
        async with self._source.connection(binding=self.binding) as conn:
            try:
                await conn.execute(begin)
                result = await self._run(conn, translated.text, bound, started)
                await conn.execute("COMMIT")
            except psycopg.Error as exc:
                await _rollback_quietly(conn)
                raise self._translate(exc) from exc
            except BaseException:
                await _rollback_quietly(conn)
                raise
        return result

    async def _run(
        self, conn: AsyncConn, text: str, bound: list[object], started: float
    ) -> D1Result:
        cursor = conn.cursor()
        await cursor.execute(text, bound)

        rows: list[dict[str, Any]] = []
        if cursor.description is not None:
            columns = [column.name for column in cursor.description]
            repeated = sorted({name for name in columns if columns.count(name) > 1})
            if repeated:
                raise QueryError(
                    f"the result has more than one column named "
                    f"{', '.join(repeated)}; give each column its own name "
                    "with AS so no value is lost"
                )
            for record in await cursor.fetchall():
                rows.append(
                    {
                        name: to_json_value(value)
                        for name, value in zip(columns, record, strict=True)
                    }
                )

        command = (cursor.statusmessage or "").split(" ", 1)[0].upper()
        changes = 0
        if command in _CHANGING_COMMANDS and cursor.rowcount > 0:
            changes = cursor.rowcount
        last_row_id = None
        if command == "INSERT" and changes:
            last_row_id = await _last_sequence_value(conn)

        return D1Result(
            results=rows,
            meta=D1Meta(
                changes=changes,
                duration=(time.perf_counter() - started) * 1000,
                rows_read=len(rows),
                rows_written=changes,
                last_row_id=last_row_id,
            ),
        )

    def _translate(self, exc: psycopg.Error) -> EdgebindError:
        if is_unavailable(exc):
            return BackendUnavailable(
                f"PostgreSQL failed while running a statement on D1 database "
                f"{self.name!r}: {exc}",
                driver=DRIVER_NAME,
                binding=self.binding,
            )
        return QueryError(_error_text(exc))

    async def _explain_connect_failure(self, message: str) -> str:
        """Turn "database does not exist" into "run edgebind provision"."""
        try:
            conn = await self._driver.admin.connect_direct(binding=self.binding)
        except BackendUnavailable:
            return message
        try:
            cursor = await conn.execute(
                "SELECT (SELECT count(*) FROM pg_database WHERE datname = %s), "
                "(SELECT count(*) FROM pg_roles WHERE rolname = %s)",
                (self.identifier, self.identifier),
            )
            found = await cursor.fetchone()
        except psycopg.Error:
            return message
        finally:
            await conn.close()
        if found is not None and found[0] and found[1]:
            return message
        return (
            f"D1 database {self.name!r} has not been provisioned on PostgreSQL "
            f"{self._driver.settings.where}: its database and role "
            f"{self.identifier} are missing. Run `edgebind provision` (or "
            "`edgebind serve --provision`) to create them"
        )

    # --------------------------------------------------------- provisioning

    async def _provision(self) -> ProvisionOutcome:
        conn = await self._driver.admin.connect_direct(binding=self.binding)
        try:
            return await self._provision_on(conn)
        except psycopg.Error as exc:
            if is_unavailable(exc):
                raise self._translate(exc) from exc
            raise EdgebindError(
                f"provisioning D1 database {self.name!r} as PostgreSQL database "
                f"{self.identifier} failed: {_error_text(exc)}. The URL's role "
                "needs CREATEDB and CREATEROLE (or superuser)"
            ) from exc
        finally:
            await conn.close()

    async def _inspect(self) -> ProvisionOutcome:
        conn = await self._driver.admin.connect_direct(binding=self.binding)
        try:
            name = self.identifier
            missing = [
                f"{what} {name}"
                for what, query in (
                    ("role", "SELECT 1 FROM pg_roles WHERE rolname = %s"),
                    ("database", "SELECT 1 FROM pg_database WHERE datname = %s"),
                )
                if not await _exists(conn, query, name)
            ]
            if missing:
                return ProvisionOutcome(
                    ProvisionStatus.CREATED, "would create " + ", ".join(missing)
                )
            return self._outcome(await self._check(conn), created=[])
        except psycopg.Error as exc:
            raise self._translate(exc) from exc
        finally:
            await conn.close()

    def _outcome(self, problems: list[str], created: list[str]) -> ProvisionOutcome:
        name = self.identifier
        if problems:
            return ProvisionOutcome(
                ProvisionStatus.MISMATCHED,
                f"PostgreSQL database/role {name} for D1 database {self.name!r} "
                f"exists but is not as Edgebind makes it: {'; '.join(problems)}. "
                "Drop them (DROP DATABASE, DROP ROLE) to let provision recreate "
                "them, or fix them by hand",
            )
        if created:
            logger.info("provisioned D1 database %s: %s", self.name, created)
            return ProvisionOutcome(
                ProvisionStatus.CREATED, "created " + ", ".join(created)
            )
        return ProvisionOutcome(
            ProvisionStatus.REUSED, f"database and role {name} exist"
        )

    async def _provision_on(self, conn: AsyncConn) -> ProvisionOutcome:
        name = self.identifier
        ident = sql.Identifier(name)
        await conn.execute(
            "SELECT pg_advisory_lock(hashtextextended(%s, 0))", (f"edgebind-d1:{name}",)
        )

        created: list[str] = []
        if not await _exists(conn, "SELECT 1 FROM pg_roles WHERE rolname = %s", name):
            statement = sql.SQL(
                "CREATE ROLE {} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                "NOREPLICATION NOBYPASSRLS NOINHERIT"
            ).format(ident)
            password = self._driver.d1_role_password(name)
            if password is not None:
                statement = sql.SQL("{} PASSWORD {}").format(
                    statement, sql.Literal(password)
                )
            await conn.execute(statement)
            created.append(f"role {name}")

        if not await _exists(
            conn, "SELECT 1 FROM pg_database WHERE datname = %s", name
        ):
            # template0, not template1: whatever an operator installed in
            # template1 (dblink, say) must not appear inside a D1 database.
            await conn.execute(
                sql.SQL(
                    "CREATE DATABASE {} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C'"
                ).format(ident)
            )
            await conn.execute(
                sql.SQL("REVOKE ALL ON DATABASE {} FROM PUBLIC").format(ident)
            )
            await conn.execute(
                sql.SQL("GRANT CONNECT, TEMPORARY ON DATABASE {} TO {}").format(
                    ident, ident
                )
            )
            await self._prepare_schema()
            created.append(f"database {name}")

        return self._outcome(await self._check(conn), created)

    async def _prepare_schema(self) -> None:
        """As the admin role, inside the new database: only the D1 role may
        use and create in ``public``."""
        params = dict(self._driver.settings.admin_params)
        params["dbname"] = self.identifier
        conn = await psycopg.AsyncConnection.connect(
            psycopg.conninfo.make_conninfo("", **params), autocommit=True
        )
        try:
            ident = sql.Identifier(self.identifier)
            await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
            await conn.execute(
                sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(ident)
            )
        finally:
            await conn.close()

    async def _check(self, conn: AsyncConn) -> list[str]:
        """What differs from the database and role provision would create."""
        name = self.identifier
        problems: list[str] = []

        cursor = await conn.execute(
            "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
            "rolbypassrls, rolcanlogin, "
            "ARRAY(SELECT r.rolname FROM pg_auth_members m "
            "JOIN pg_roles r ON r.oid = m.roleid WHERE m.member = pg_roles.oid) "
            "FROM pg_roles WHERE rolname = %s",
            (name,),
        )
        role = await cursor.fetchone()
        if role is None:
            problems.append(f"role {name} is missing")
        else:
            flags = ("SUPERUSER", "CREATEDB", "CREATEROLE", "REPLICATION", "BYPASSRLS")
            granted = [flag for flag, on in zip(flags, role[:5], strict=True) if on]
            if granted:
                problems.append(f"role {name} has {', '.join(granted)}")
            if not role[5]:
                problems.append(f"role {name} cannot log in")
            if role[6]:
                problems.append(f"role {name} is a member of {', '.join(role[6])}")

        cursor = await conn.execute(
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), "
            "current_user FROM pg_database WHERE datname = %s",
            (name,),
        )
        database = await cursor.fetchone()
        if database is None:
            problems.append(f"database {name} is missing")
            return problems
        owner, encoding, admin = database
        if owner != admin:
            problems.append(
                f"database {name} is owned by role {owner}, not by {admin} "
                "(the role of the driver's URL)"
            )
        if encoding != "UTF8":
            problems.append(f"database {name} has encoding {encoding}, not UTF8")

        cursor = await conn.execute(
            "SELECT has_database_privilege('public', %s, 'CONNECT'), "
            "has_database_privilege(%s, %s, 'CREATE')",
            (name, name, name),
        )
        privileges = await cursor.fetchone()
        if privileges is not None and privileges[0]:
            problems.append(f"every role (PUBLIC) may connect to database {name}")
        if role is not None and privileges is not None and privileges[1]:
            problems.append(f"role {name} may CREATE schemas in database {name}")
        if role is not None:
            can_connect = await _exists(
                conn,
                "SELECT 1 WHERE has_database_privilege(%s, %s, 'CONNECT')",
                name,
                name,
            )
            if not can_connect:
                problems.append(f"role {name} may not connect to database {name}")
        return problems


async def _exists(conn: AsyncConn, query: str, *params: str) -> bool:
    cursor = await conn.execute(query, params)
    return await cursor.fetchone() is not None


async def _last_sequence_value(conn: AsyncConn) -> int | None:
    """lastval() after an INSERT: the id a serial or identity column drew.

    Connections are reset before reuse, so a value here was drawn by this
    statement; an INSERT that drew none leaves lastval() undefined, which a
    savepoint keeps from aborting the transaction.
    """
    await conn.execute("SAVEPOINT edgebind_last_row_id")
    try:
        cursor = await conn.execute("SELECT pg_catalog.lastval()")
    except pg_errors.ObjectNotInPrerequisiteState:
        await conn.execute("ROLLBACK TO SAVEPOINT edgebind_last_row_id")
        return None
    row = await cursor.fetchone()
    await conn.execute("RELEASE SAVEPOINT edgebind_last_row_id")
    return None if row is None else int(row[0])


async def _rollback_quietly(conn: AsyncConn) -> None:
    if conn.broken or conn.closed:
        return
    try:
        await conn.execute("ROLLBACK")
    except psycopg.Error:
        logger.warning("rolling back a failed D1 statement failed", exc_info=True)
