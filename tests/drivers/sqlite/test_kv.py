"""KV on SQLite: byte order, literal prefixes, TTL, sweeping, durability."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from edgebind.errors import BackendUnavailable
from edgebind.kv import decode_cursor
from edgebind_sqlite import SQLiteDriver
from edgebind_sqlite.kv import INLINE_VALUE_BYTES, KVStore, prefix_successor
from tests.drivers.sqlite.conftest import ManualClock, kv_spec


def test_prefix_successor() -> None:
    assert prefix_successor(b"ab") == b"ac"
    assert prefix_successor(b"a\xff\xff") == b"b"
    assert prefix_successor(b"\xff") is None
    assert prefix_successor(b"") is None


async def test_keys_list_in_utf8_byte_order(driver: SQLiteDriver) -> None:
    kv = driver.open_kv(kv_spec())
    keys = ["é", "a", "A", "😀", ",", "!", "ab", "\uffff"]
    for key in keys:
        await kv.put(key, "v")

    page = await kv.list()

    assert page.keys == sorted(keys, key=lambda k: k.encode("utf-8"))
    assert page.cursor is None


@pytest.mark.parametrize("meta", ["%", "_", "\\", "*", "[", "?"])
async def test_prefix_metacharacters_are_literal(
    driver: SQLiteDriver, meta: str
) -> None:
    kv = driver.open_kv(kv_spec())
    for key in (f"a{meta}1", f"a{meta}2", "ab", "aX", "a", f"b{meta}"):
        await kv.put(key, "v")

    page = await kv.list(prefix=f"a{meta}")

    assert page.keys == [f"a{meta}1", f"a{meta}2"]


async def test_last_page_has_no_cursor_even_when_exactly_full(
    driver: SQLiteDriver,
) -> None:
    kv = driver.open_kv(kv_spec())
    for key in ("p1", "p2", "p3", "q1"):
        await kv.put(key, "v")

    first = await kv.list(prefix="p", limit=2)
    assert first.keys == ["p1", "p2"]
    assert first.cursor is not None
    assert decode_cursor(first.cursor) == "p2"

    second = await kv.list(prefix="p", limit=1, cursor=first.cursor)
    assert second.keys == ["p3"]
    assert second.cursor is None


async def test_an_expired_key_does_not_hold_a_cursor_open(
    driver: SQLiteDriver, clock: ManualClock
) -> None:
    kv = driver.open_kv(kv_spec())
    await kv.put("k1", "v")
    await kv.put("k2", "v", ttl=10)
    clock.advance(11)

    page = await kv.list(limit=1)

    assert page.keys == ["k1"]
    assert page.cursor is None


async def test_ttl_expires_lazily_on_get_and_list(
    driver: SQLiteDriver, clock: ManualClock
) -> None:
    kv = driver.open_kv(kv_spec())
    await kv.put("short", "v", ttl=5)
    clock.advance(4.9)
    assert await kv.get("short") == "v"

    clock.advance(0.2)

    assert await kv.get("short") is None
    assert (await kv.list()).keys == []


async def test_overwrite_without_ttl_clears_the_ttl(
    driver: SQLiteDriver, clock: ManualClock
) -> None:
    kv = driver.open_kv(kv_spec())
    await kv.put("k", "old", ttl=5)
    await kv.put("k", "new")
    clock.advance(60)

    assert await kv.get("k") == "new"


async def test_sweep_deletes_expired_rows(
    driver: SQLiteDriver, data_dir: Path, clock: ManualClock
) -> None:
    kv = driver.open_kv(kv_spec())
    await kv.put("gone", "v", ttl=5)
    await kv.put("kept", "v", ttl=500)
    await kv.put("forever", "v")
    clock.advance(10)
    store = kv._store

    removed = await store.sweep()

    assert removed == 1
    with sqlite3.connect(data_dir / "kv.sqlite3") as conn:
        left = sorted(row[0] for row in conn.execute("SELECT key FROM kv_entries"))
    assert left == [b"forever", b"kept"]


def _sweeper(store: KVStore) -> asyncio.Task[None] | None:
    return store._cleanup


async def test_sweeper_starts_on_first_use_and_stops_on_close(
    data_dir: Path,
) -> None:
    driver = SQLiteDriver(f"sqlite:///{data_dir}")
    kv = driver.open_kv(kv_spec())
    assert _sweeper(kv._store) is None

    await kv.get("k")
    task = _sweeper(kv._store)
    assert task is not None
    assert not task.done()

    await driver.aclose()
    assert task.cancelled()


async def test_namespaces_are_isolated(driver: SQLiteDriver) -> None:
    one = driver.open_kv(kv_spec("one"))
    two = driver.open_kv(kv_spec("two"))
    await one.put("k", "from one")

    assert await two.get("k") is None
    assert (await two.list()).keys == []
    await two.delete("k")
    assert await one.get("k") == "from one"


async def test_large_values_round_trip_through_the_thread(
    driver: SQLiteDriver,
) -> None:
    kv = driver.open_kv(kv_spec())
    big = "é" * INLINE_VALUE_BYTES  # twice the inline limit in bytes
    small = "x" * 10
    await kv.put("big", big)
    await kv.put("small", small)
    await kv.put("empty", "")

    assert await kv.get("big") == big
    assert await kv.get("small") == small
    assert await kv.get("empty") == ""


async def test_values_persist_across_close_and_reopen(
    data_dir: Path, clock: ManualClock
) -> None:
    first = SQLiteDriver(f"sqlite:///{data_dir}", clock=clock)
    await first.open_kv(kv_spec()).put("durable", "yes", ttl=100)
    await first.aclose()

    second = SQLiteDriver(f"sqlite:///{data_dir}", clock=clock)
    kv = second.open_kv(kv_spec())

    assert await kv.get("durable") == "yes"
    clock.advance(101)
    assert await kv.get("durable") is None
    await second.aclose()


async def test_kv_file_is_in_wal_mode(driver: SQLiteDriver, data_dir: Path) -> None:
    await driver.open_kv(kv_spec()).put("k", "v")

    with sqlite3.connect(data_dir / "kv.sqlite3") as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()

    assert mode == "wal"


async def test_memory_mode_keeps_data_for_the_drivers_lifetime(
    clock: ManualClock,
) -> None:
    driver = SQLiteDriver("sqlite://:memory:", clock=clock)
    await driver.open_kv(kv_spec()).put("k", "v")

    again = driver.open_kv(kv_spec())

    assert await again.get("k") == "v"
    assert (await again.list()).keys == ["k"]
    await driver.aclose()


async def test_use_after_driver_close_is_backend_unavailable(
    driver: SQLiteDriver,
) -> None:
    kv = driver.open_kv(kv_spec())
    await kv.put("k", "v")
    await driver.aclose()

    with pytest.raises(BackendUnavailable, match="closed"):
        await kv.put("k", "v2")


async def test_unopenable_directory_is_backend_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    driver = SQLiteDriver(f"sqlite:///{blocker}/data")

    with pytest.raises(BackendUnavailable, match="cannot open SQLite database"):
        await driver.open_kv(kv_spec()).put("k", "v")
    await driver.aclose()


async def test_parallel_writers_all_persist(driver: SQLiteDriver) -> None:
    kv = driver.open_kv(kv_spec())

    await asyncio.gather(*(kv.put(f"k{i:03d}", str(i)) for i in range(100)))

    assert len((await kv.list()).keys) == 100


async def test_small_reads_run_inline_on_file_databases(
    driver: SQLiteDriver,
) -> None:
    kv = driver.open_kv(kv_spec())
    await kv.put("k", "v")

    done, result = await kv._store.file.read_inline(
        lambda conn: conn.execute("SELECT count(*) FROM kv_entries").fetchone()[0]
    )

    assert (done, result) == (True, 1)


async def test_memory_databases_never_read_inline() -> None:
    driver = SQLiteDriver("sqlite://:memory:")
    kv = driver.open_kv(kv_spec())
    await kv.put("k", "v")

    done, result = await kv._store.file.read_inline(lambda conn: 1)

    assert (done, result) == (False, None)
    await driver.aclose()
