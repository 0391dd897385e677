"""KV on PostgreSQL: byte order, literal prefixes, the clock, the sweeper."""

from __future__ import annotations

import asyncio

from edgebind.kv import KVNamespace
from edgebind.resource import ResourceSpec
from edgebind.testing import FakeClock
from edgebind_postgres.kv import PostgresKV, prefix_upper_bound
from tests.drivers.postgres.pg_helpers import (
    RecordingPostgresDriver,
    admin_connection,
    unique,
)


async def test_keys_list_in_utf8_byte_order(kv: KVNamespace) -> None:
    keys = ["😀", "é", "a", "A", ",", "!", "z", "\uffff", "e"]
    for key in keys:
        await kv.put(key, "v")

    page = await kv.list()

    assert page.keys == sorted(keys, key=lambda key: key.encode("utf-8"))
    assert page.keys.index("é") < page.keys.index("\uffff") < page.keys.index("😀")


async def test_prefix_is_a_literal_range(kv: KVNamespace) -> None:
    for key in ["a%b", "a_b", "axb", "a\\b", "A%b", "a%", "é1", "é2", "ê"]:
        await kv.put(key, "v")

    assert (await kv.list(prefix="a%")).keys == ["a%", "a%b"]
    assert (await kv.list(prefix="a_")).keys == ["a_b"]
    assert (await kv.list(prefix="é")).keys == ["é1", "é2"]


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound(b"") is None
    assert prefix_upper_bound(b"ab") == b"ac"
    assert prefix_upper_bound(b"a\xff\xff") == b"b"
    assert prefix_upper_bound(b"\xff") is None


async def test_values_keep_nul(kv: KVNamespace) -> None:
    await kv.put("k\x00", "a\x00b")
    assert await kv.get("k\x00") == "a\x00b"


async def test_expiry_follows_the_injected_clock(
    kv: KVNamespace, clock: FakeClock
) -> None:
    await kv.put("short", "v", ttl=10)
    await kv.put("forever", "v")

    clock.advance(9.5)
    assert await kv.get("short") == "v"
    clock.advance(1)
    assert await kv.get("short") is None
    assert (await kv.list()).keys == ["forever"]


async def test_sweep_deletes_expired_rows(
    kv: KVNamespace, clock: FakeClock, driver: RecordingPostgresDriver
) -> None:
    assert isinstance(kv, PostgresKV)
    await kv.put("gone", "v", ttl=5)
    await kv.put("kept", "v", ttl=500)
    clock.advance(10)

    removed = await kv.sweep_expired()

    assert removed >= 1
    with admin_connection(driver.url) as conn:
        rows = conn.execute(
            f"SELECT convert_from(key, 'UTF8') FROM {kv.table_name} "
            "WHERE namespace = %s ORDER BY key",
            (kv.name,),
        ).fetchall()
    assert rows == [("kept",)]


async def test_cleanup_task_starts_on_use_and_stops_on_close(pg_url: str) -> None:
    driver = RecordingPostgresDriver(pg_url)
    kv = driver.open_kv(ResourceSpec("kv", unique("ns"), "TEST_KV"))
    assert cleanup_task_of(driver) is None

    await kv.provision()
    await kv.get("k")
    task = cleanup_task_of(driver)
    assert task is not None
    assert not task.done()

    await driver.aclose()
    assert task.cancelled()
    assert cleanup_task_of(driver) is None


def cleanup_task_of(driver: RecordingPostgresDriver) -> asyncio.Task[None] | None:
    # A call, not an attribute read, so the type checker does not carry the
    # None it saw before the driver was used past the calls that change it.
    return driver.cleanup_task


async def test_namespaces_do_not_share_keys(driver: RecordingPostgresDriver) -> None:
    first = driver.open_kv(ResourceSpec("kv", unique("ns"), "A_KV"))
    second = driver.open_kv(ResourceSpec("kv", unique("ns"), "B_KV"))
    await first.provision()
    await first.put("k", "first")

    assert await second.get("k") is None
    assert (await second.list()).keys == []
