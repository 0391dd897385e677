"""The shared KV and D1 contracts, run against the PostgreSQL driver.

KV entries live in a schema unique to this session; every D1 database the
suite provisions (one PostgreSQL database and role each) is dropped at the
end of the session, so runs sharing one server never collide.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from edgebind.testing import D1Contract, FakeClock, KVContract
from edgebind_postgres import PostgresDriver
from tests.drivers.postgres.pg_helpers import (
    RecordingPostgresDriver,
    drop_d1_storage,
    drop_schema,
    unique,
    with_query,
)


@pytest.fixture(scope="module")
def contract_url(postgres_url: str) -> Iterator[str]:
    schema = unique("eb_contract_")
    yield with_query(postgres_url, schema=schema)
    drop_d1_storage(postgres_url, RecordingPostgresDriver.opened)
    drop_schema(postgres_url, schema)


class TestPostgresKV(KVContract):
    @pytest.fixture
    async def driver(
        self, contract_url: str, clock: FakeClock
    ) -> AsyncIterator[PostgresDriver]:
        pg_driver = RecordingPostgresDriver(contract_url, clock=clock)
        yield pg_driver
        await pg_driver.aclose()


class TestPostgresD1(D1Contract):
    @pytest.fixture
    async def driver(
        self, contract_url: str, clock: FakeClock
    ) -> AsyncIterator[PostgresDriver]:
        pg_driver = RecordingPostgresDriver(contract_url, clock=clock)
        yield pg_driver
        await pg_driver.aclose()
