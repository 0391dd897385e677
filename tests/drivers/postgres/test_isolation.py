"""A D1 database's SQL reaches nothing outside it: attack by attack.

Each test runs the attack through the public ``execute`` and checks both
that PostgreSQL refused it and, where it matters, that nothing changed.
"""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from edgebind.d1 import D1Database
from edgebind.errors import QueryError
from edgebind.kv import KVNamespace
from edgebind.resource import ResourceSpec
from edgebind_postgres.d1 import PostgresD1
from tests.drivers.postgres.pg_helpers import (
    RecordingPostgresDriver,
    admin_connection,
    unique,
    with_query,
)


async def refused(db: D1Database, statement: str, message: str) -> None:
    with pytest.raises(QueryError, match=message):
        await db.execute(statement)


async def second_db(driver: RecordingPostgresDriver) -> PostgresD1:
    other = driver.open_d1(ResourceSpec("d1", unique("other"), "OTHER_DB"))
    await other.provision()
    assert isinstance(other, PostgresD1)
    return other


async def test_other_database_tables_are_invisible(
    db: D1Database, driver: RecordingPostgresDriver
) -> None:
    other = await second_db(driver)
    await other.execute("CREATE TABLE secrets (v text)")
    await other.execute("INSERT INTO secrets VALUES ('hidden')")

    await refused(db, "SELECT * FROM secrets", 'relation "secrets" does not exist')
    await refused(db, "SELECT * FROM public.secrets", "does not exist")
    await refused(
        db,
        f"SELECT * FROM {other.identifier}.public.secrets",
        "cross-database references are not implemented",
    )


async def test_kv_table_is_out_of_reach(
    db: D1Database, kv: KVNamespace, driver: RecordingPostgresDriver
) -> None:
    await kv.put("k", "v")
    schema = driver.settings.schema

    await refused(db, f"SELECT * FROM {schema}.kv_entries", "does not exist")
    await db.execute(f"SET search_path TO {schema}, public")
    await refused(db, "SELECT * FROM kv_entries", "does not exist")
    await refused(db, f"DELETE FROM {schema}.kv_entries", "does not exist")

    assert await kv.get("k") == "v"


async def test_search_path_does_not_outlive_its_request(pg_url: str) -> None:
    # One connection only, so the second request reuses the first's session.
    driver = RecordingPostgresDriver(with_query(pg_url, pool_max_size=1))
    try:
        db = driver.open_d1(ResourceSpec("d1", unique("db"), "TEST_DB"))
        await db.provision()
        await db.execute("SET search_path TO pg_catalog")
        await db.execute("CREATE TEMP TABLE scratch (v int)")

        shown = await db.execute("SHOW search_path")
        assert shown.results == [{"search_path": '"$user", public'}]
        await refused(db, "SELECT * FROM scratch", "does not exist")
    finally:
        await driver.aclose()


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("SET ROLE postgres", 'permission denied to set role "postgres"'),
        ("SET SESSION AUTHORIZATION postgres", "permission denied to set session"),
        ("SELECT pg_read_file('/etc/passwd')", "permission denied for function"),
        ("SELECT pg_ls_dir('/')", "permission denied for function"),
        ("SELECT lo_import('/etc/passwd')", "permission denied for function"),
        ("CREATE EXTENSION dblink", 'permission denied to create extension "dblink"'),
        ("CREATE EXTENSION postgres_fdw", "permission denied to create extension"),
        # A trusted extension needs CREATE on the database, which the role lacks.
        ("CREATE EXTENSION pgcrypto", "permission denied to create extension"),
        ("CREATE SCHEMA mine", "permission denied for database"),
        ("CREATE ROLE intruder", "permission denied to create role"),
        # Refused before the privilege check; the role has no CREATEDB either
        # (test_role_has_no_privileged_attributes).
        ("CREATE DATABASE intruder", "cannot run inside a transaction block"),
        ("ALTER ROLE postgres PASSWORD 'x'", "must be superuser"),
        ("ALTER ROLE postgres NOSUPERUSER", "must be superuser"),
        ("SELECT pg_reload_conf()", "permission denied for function"),
        ("SET session_replication_role = replica", "permission denied to set"),
        ("SELECT dblink_connect('dbname=postgres')", "does not exist"),
    ],
)
async def test_privileged_statements_are_refused(
    db: D1Database, statement: str, message: str
) -> None:
    await refused(db, statement, message)


async def test_files_and_programs_are_refused(db: D1Database) -> None:
    await db.execute("CREATE TABLE t (v text)")
    await db.execute("INSERT INTO t VALUES ('row')")

    await refused(db, "COPY t TO '/tmp/edgebind-escape'", "pg_write_server_files")
    await refused(db, "COPY t FROM '/etc/passwd'", "pg_read_server_files")
    await refused(db, "COPY t FROM PROGRAM 'id'", "pg_execute_server_program")
    await refused(db, "COPY (SELECT 1) TO PROGRAM 'id'", "pg_execute_server_program")

    count = await db.execute("SELECT count(*) AS n FROM t")
    assert count.results == [{"n": 1}]


async def test_role_has_no_privileged_attributes(db: D1Database) -> None:
    result = await db.execute(
        "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, "
        "rolbypassrls, current_user = session_user AS logged_in_as_itself, "
        "(SELECT count(*) FROM pg_auth_members WHERE member = pg_roles.oid) "
        "AS memberships FROM pg_roles WHERE rolname = current_user"
    )
    assert result.results == [
        {
            "rolsuper": False,
            "rolcreatedb": False,
            "rolcreaterole": False,
            "rolreplication": False,
            "rolbypassrls": False,
            "logged_in_as_itself": True,
            "memberships": 0,
        }
    ]


async def test_role_cannot_connect_to_another_d1_database(
    db: D1Database, driver: RecordingPostgresDriver
) -> None:
    # Even a client that logs in as the role directly (trust auth lets it)
    # is refused by the other database's missing CONNECT privilege.
    assert isinstance(db, PostgresD1)
    other = await second_db(driver)
    params = dict(driver.settings.admin_params)
    params.update(dbname=other.identifier, user=db.identifier)

    with pytest.raises(psycopg.OperationalError, match="permission denied"):
        await psycopg.AsyncConnection.connect(
            psycopg.conninfo.make_conninfo("", **params)
        )


async def test_role_cannot_read_kv_even_when_connected_to_main_database(
    db: D1Database, kv: KVNamespace, driver: RecordingPostgresDriver
) -> None:
    await kv.put("k", "v")
    assert isinstance(db, PostgresD1)
    params = dict(driver.settings.admin_params)
    params["user"] = db.identifier
    conn = await psycopg.AsyncConnection.connect(
        psycopg.conninfo.make_conninfo("", **params), autocommit=True
    )
    try:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            await conn.execute(f"SELECT * FROM {driver.settings.schema}.kv_entries")
    finally:
        await conn.close()


async def test_statement_timeout_cancels_long_statements(pg_url: str) -> None:
    driver = RecordingPostgresDriver(with_query(pg_url, statement_timeout=0.2))
    try:
        db = driver.open_d1(ResourceSpec("d1", unique("db"), "TEST_DB"))
        await db.provision()
        async with asyncio.timeout(20):
            await refused(db, "SELECT pg_sleep(30)", "statement timeout")
    finally:
        await driver.aclose()


async def test_timeout_cannot_be_lifted_for_later_requests(pg_url: str) -> None:
    driver = RecordingPostgresDriver(
        with_query(pg_url, statement_timeout=0.2, pool_max_size=1)
    )
    try:
        db = driver.open_d1(ResourceSpec("d1", unique("db"), "TEST_DB"))
        await db.provision()
        await db.execute("SET statement_timeout = 0")
        # A role may set its own defaults; the driver's startup options win.
        await db.execute("ALTER ROLE CURRENT_USER SET statement_timeout = 0")
        assert isinstance(db, PostgresD1)
        await driver.d1_source(
            db.identifier,
            configure=_unused,
            reset=_unused,
            on_connect_failure=_unused_message,
        ).drop()

        shown = await db.execute("SHOW statement_timeout")
        assert shown.results == [{"statement_timeout": "200ms"}]
    finally:
        await driver.aclose()


async def _unused(conn: object) -> None:
    raise AssertionError("the source already exists; these are not used")


async def _unused_message(message: str) -> str:
    raise AssertionError("the source already exists; these are not used")


async def test_failing_statement_changes_nothing(db: D1Database) -> None:
    await db.execute("CREATE TABLE u (v int UNIQUE)")
    await db.execute("INSERT INTO u VALUES (1)")

    with pytest.raises(QueryError, match="duplicate key"):
        await db.execute("INSERT INTO u VALUES (2), (3), (1)")

    count = await db.execute("SELECT count(*) AS n FROM u")
    assert count.results == [{"n": 1}]


def test_d1_databases_are_closed_to_public(db: D1Database, postgres_url: str) -> None:
    assert isinstance(db, PostgresD1)
    with admin_connection(postgres_url) as conn:
        row = conn.execute(
            "SELECT has_database_privilege('public', %s, 'CONNECT'), "
            "has_database_privilege(%s, %s, 'CREATE')",
            (db.identifier, db.identifier, db.identifier),
        ).fetchone()
    assert row == (False, False)
