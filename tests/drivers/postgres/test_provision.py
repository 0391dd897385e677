"""Provisioning: created once, reused after, mismatches named, and no
silent creation at request time."""

from __future__ import annotations

import pytest
from psycopg import sql

from edgebind.errors import BackendUnavailable
from edgebind.resource import ProvisionStatus, ResourceSpec
from edgebind_postgres.d1 import PostgresD1
from edgebind_postgres.driver import d1_identifier
from edgebind_postgres.kv import PostgresKV
from tests.drivers.postgres.pg_helpers import (
    RecordingPostgresDriver,
    admin_connection,
    drop_schema,
    unique,
    with_query,
)


def open_d1(driver: RecordingPostgresDriver, name: str | None = None) -> PostgresD1:
    db = driver.open_d1(ResourceSpec("d1", name or unique("db"), "TEST_DB"))
    assert isinstance(db, PostgresD1)
    return db


async def test_d1_provision_twice_creates_then_reuses(
    driver: RecordingPostgresDriver,
) -> None:
    db = open_d1(driver)

    first = await db.provision()
    second = await db.provision()

    assert first.status is ProvisionStatus.CREATED
    assert db.identifier in first.detail
    assert second.status is ProvisionStatus.REUSED
    assert (await db.execute("SELECT 1 AS one")).results == [{"one": 1}]


async def test_d1_is_never_created_at_request_time(
    driver: RecordingPostgresDriver,
) -> None:
    db = open_d1(driver)

    with pytest.raises(BackendUnavailable, match="edgebind provision") as caught:
        await db.execute("SELECT 1")

    assert caught.value.binding == "TEST_DB"
    assert caught.value.driver == "postgres"
    with admin_connection(driver.url) as conn:
        found = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (db.identifier,)
        ).fetchone()
    assert found == (0,)


async def test_d1_owned_by_another_role_is_a_mismatch(
    driver: RecordingPostgresDriver,
) -> None:
    db = open_d1(driver)
    stranger = unique("eb_stranger_")
    # Recorded so the session's cleanup drops them even if this test fails.
    RecordingPostgresDriver.opened.add(stranger)
    with admin_connection(driver.url) as conn:
        conn.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(stranger)))
        conn.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(db.identifier), sql.Identifier(stranger)
            )
        )

    outcome = await db.provision()

    assert outcome.status is ProvisionStatus.MISMATCHED
    assert f"owned by role {stranger}" in outcome.detail
    assert "PUBLIC" in outcome.detail


async def test_d1_role_with_privileges_is_a_mismatch(
    driver: RecordingPostgresDriver,
) -> None:
    db = open_d1(driver)
    await db.provision()
    with admin_connection(driver.url) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(db.identifier))
        )

    outcome = await db.provision()

    assert outcome.status is ProvisionStatus.MISMATCHED
    assert "has CREATEDB" in outcome.detail


async def test_d1_dry_run_reports_without_creating(
    driver: RecordingPostgresDriver,
) -> None:
    db = open_d1(driver)

    planned = await db.inspect()

    assert planned.status is ProvisionStatus.CREATED
    assert (
        planned.detail == f"would create role {db.identifier}, database {db.identifier}"
    )
    with admin_connection(driver.url) as conn:
        found = conn.execute(
            "SELECT (SELECT count(*) FROM pg_database WHERE datname = %s), "
            "(SELECT count(*) FROM pg_roles WHERE rolname = %s)",
            (db.identifier, db.identifier),
        ).fetchone()
    assert found == (0, 0)

    await db.provision()
    assert (await db.inspect()).status is ProvisionStatus.REUSED

    with admin_connection(driver.url) as conn:
        conn.execute(
            sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(db.identifier))
        )
    drifted = await db.inspect()
    assert drifted.status is ProvisionStatus.MISMATCHED
    assert "has CREATEDB" in drifted.detail


def test_identifiers_are_deterministic_and_bounded() -> None:
    assert d1_identifier("app", "analytics") == "app_d1_analytics"
    assert d1_identifier("app", "Main") != d1_identifier("app", "main")
    assert d1_identifier("app", "a-b") != d1_identifier("app", "a_b")

    long_name = "x" * 64
    identifier = d1_identifier("a_rather_long_main_database", long_name)
    assert len(identifier.encode()) <= 63
    assert identifier == d1_identifier("a_rather_long_main_database", long_name)
    assert d1_identifier("MyDB", "n").islower()


async def test_kv_provision_twice_then_mismatch(postgres_url: str) -> None:
    schema = unique("eb_kvprov_")
    driver = RecordingPostgresDriver(with_query(postgres_url, schema=schema))
    try:
        kv = driver.open_kv(ResourceSpec("kv", "cache", "CACHE_KV"))
        with pytest.raises(BackendUnavailable, match="edgebind provision"):
            await kv.get("k")

        planned = await kv.inspect()
        assert planned.status is ProvisionStatus.CREATED
        assert "would create" in planned.detail
        with pytest.raises(BackendUnavailable, match="edgebind provision"):
            await kv.get("k")  # the dry run created nothing

        assert (await kv.provision()).status is ProvisionStatus.CREATED
        assert (await kv.provision()).status is ProvisionStatus.REUSED
        assert (await kv.inspect()).status is ProvisionStatus.REUSED

        with admin_connection(postgres_url) as conn:
            conn.execute(
                sql.SQL("ALTER TABLE {} ALTER COLUMN value TYPE text").format(
                    sql.Identifier(schema, "kv_entries")
                )
            )
        assert (await kv.inspect()).status is ProvisionStatus.MISMATCHED
        outcome = await kv.provision()
        assert outcome.status is ProvisionStatus.MISMATCHED
        assert isinstance(kv, PostgresKV)
        assert kv.table_name in outcome.detail
    finally:
        await driver.aclose()
        drop_schema(postgres_url, schema)
