"""Fixtures for the PostgreSQL driver's own tests (real server only)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from edgebind.d1 import D1Database
from edgebind.kv import KVNamespace
from edgebind.resource import ResourceSpec
from edgebind.testing import FakeClock
from tests.drivers.postgres.pg_helpers import (
    RecordingPostgresDriver,
    drop_d1_storage,
    drop_schema,
    unique,
    with_query,
)


@pytest.fixture(scope="session")
def pg_url(postgres_url: str) -> Iterator[str]:
    """The server URL with a KV schema unique to this session; every D1
    database the session's drivers opened is dropped at the end."""
    schema = unique("eb_test_")
    url = with_query(postgres_url, schema=schema)
    yield url
    drop_d1_storage(postgres_url, RecordingPostgresDriver.opened)
    drop_schema(postgres_url, schema)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def driver(
    pg_url: str, clock: FakeClock
) -> AsyncIterator[RecordingPostgresDriver]:
    pg_driver = RecordingPostgresDriver(pg_url, clock=clock)
    yield pg_driver
    await pg_driver.aclose()


@pytest.fixture
async def kv(driver: RecordingPostgresDriver) -> KVNamespace:
    namespace = driver.open_kv(ResourceSpec("kv", unique("ns"), "TEST_KV"))
    await namespace.provision()
    return namespace


@pytest.fixture
async def db(driver: RecordingPostgresDriver) -> D1Database:
    database = driver.open_d1(ResourceSpec("d1", unique("db"), "TEST_DB"))
    await database.provision()
    return database
