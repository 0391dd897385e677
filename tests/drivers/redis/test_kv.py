"""KV behaviour the Redis driver must get right beyond the shared contract:
byte order, cursors while writing, TTL by the injected clock, dead-key pages."""

from __future__ import annotations

import pytest

from edgebind.errors import InvalidArgument
from edgebind.kv import KVNamespace, encode_cursor
from edgebind.testing.clock import FakeClock
from edgebind_redis.kv import DEAD_KEY_BUDGET, SWEEP_LIMIT
from tests.drivers.redis.conftest import MakeNamespace


async def all_keys(
    namespace: KVNamespace, *, prefix: str = "", limit: int, max_pages: int = 5000
) -> list[str]:
    """Every key, page by page; fails instead of looping on a stuck cursor."""
    keys: list[str] = []
    cursor = None
    for _ in range(max_pages):
        page = await namespace.list(prefix=prefix, limit=limit, cursor=cursor)
        assert len(page.keys) <= limit
        keys.extend(page.keys)
        if page.cursor is None:
            return keys
        cursor = page.cursor
    pytest.fail(f"the cursor chain did not end within {max_pages} pages")


async def test_keys_list_in_utf8_byte_order(make_namespace: MakeNamespace) -> None:
    namespace = make_namespace()
    # Sorted by UTF-8 bytes; Python's str order would put "\uffff" after the emoji's
    # surrogate-free code point differently, so the expected list is explicit.
    expected = ["\x00", "!", ",", "A", "a", "a\x00b", "ab", "é", "\uffff", "😀"]
    for key in reversed(expected):
        await namespace.put(key, key)

    assert (await namespace.list()).keys == expected
    assert await all_keys(namespace, limit=3) == expected
    assert expected == sorted(expected, key=lambda key: key.encode())


async def test_values_round_trip_exactly(make_namespace: MakeNamespace) -> None:
    namespace = make_namespace()
    values = {"empty": "", "nul": "a\x00b", "emoji": "😀" * 1000, "json": '{"a": 1}'}
    for key, value in values.items():
        await namespace.put(key, value)

    for key, value in values.items():
        assert await namespace.get(key) == value


async def test_prefix_is_literal_and_bounded(make_namespace: MakeNamespace) -> None:
    namespace = make_namespace()
    for key in ["a", "a*", "a*b", "a[", "a\\", "a%", "a_", "ab", "b", "a\U0010ffff"]:
        await namespace.put(key, "v")

    assert (await namespace.list(prefix="a*")).keys == ["a*", "a*b"]
    assert (await namespace.list(prefix="a\\")).keys == ["a\\"]
    assert (await namespace.list(prefix="a\U0010ffff")).keys == ["a\U0010ffff"]
    assert (await namespace.list(prefix="c")).keys == []
    assert (await namespace.list(prefix="c")).cursor is None
    assert await all_keys(namespace, prefix="a", limit=2) == [
        "a", "a%", "a*", "a*b", "a[", "a\\", "a_", "ab", "a\U0010ffff",
    ]  # fmt: skip


async def test_cursor_before_the_prefix_starts_at_the_prefix(
    make_namespace: MakeNamespace,
) -> None:
    namespace = make_namespace()
    for key in ["a", "b1", "b2", "c"]:
        await namespace.put(key, "v")
    first = await namespace.list(limit=1)

    page = await namespace.list(prefix="b", cursor=first.cursor)
    past = await namespace.list(prefix="b", cursor=encode_cursor("c"))

    assert first.keys == ["a"]
    assert page.keys == ["b1", "b2"]
    assert past.keys == []


async def test_cursor_stays_exact_while_others_write(
    make_namespace: MakeNamespace,
) -> None:
    namespace = make_namespace()
    original = [f"k{number:03d}" for number in range(0, 300, 2)]
    for key in original:
        await namespace.put(key, "v")

    seen: list[str] = []
    added_ahead: list[str] = []
    deleted_ahead: list[str] = []
    cursor = None
    round_number = 0
    while True:
        page = await namespace.list(limit=20, cursor=cursor)
        seen.extend(page.keys)
        if page.cursor is None:
            break
        cursor = page.cursor
        last = page.keys[-1]
        round_number += 1

        # Behind the cursor: must never show up. Ahead: must show up, or be
        # gone if deleted before the scan reached it.
        await namespace.put(f"k{int(last[1:]) - 1:03d}", "behind")
        ahead = int(last[1:]) + 21
        if ahead < 300:
            await namespace.put(f"k{ahead:03d}", "ahead")
            added_ahead.append(f"k{ahead:03d}")
        doomed = f"k{int(last[1:]) + 40:03d}"
        if round_number % 2 == 0 and doomed in original:
            await namespace.delete(doomed)
            deleted_ahead.append(doomed)

    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    expected = (set(original) - set(deleted_ahead)) | set(added_ahead)
    assert set(seen) == expected


async def test_ttl_follows_the_injected_clock(
    make_namespace: MakeNamespace, clock: FakeClock
) -> None:
    namespace = make_namespace()
    await namespace.put("k", "v", ttl=60)
    await namespace.put("other", "v")

    clock.advance(59.9)
    assert await namespace.get("k") == "v"
    assert (await namespace.list()).keys == ["k", "other"]

    clock.advance(0.1)
    assert (await namespace.list()).keys == ["other"]
    assert await namespace.get("k") is None


async def test_rewriting_resets_or_clears_the_ttl(
    make_namespace: MakeNamespace, clock: FakeClock
) -> None:
    namespace = make_namespace()
    await namespace.put("reset", "v", ttl=10)
    await namespace.put("cleared", "v", ttl=10)

    clock.advance(5)
    await namespace.put("reset", "v2", ttl=10)
    await namespace.put("cleared", "v2")
    clock.advance(9)

    assert await namespace.get("reset") == "v2"
    clock.advance(1)
    assert await namespace.get("reset") is None
    clock.advance(10_000)
    assert await namespace.get("cleared") == "v2"


async def test_list_pages_over_more_dead_keys_than_one_call_examines(
    make_namespace: MakeNamespace, clock: FakeClock
) -> None:
    namespace = make_namespace()
    dead_count = DEAD_KEY_BUDGET + SWEEP_LIMIT + 200
    for number in range(dead_count):
        await namespace.put(f"dead-{number:05d}", "v", ttl=1)
    await namespace.put("live-1", "v")
    await namespace.put("live-2", "v")
    clock.advance(2)

    first = await namespace.list(limit=1)
    rest = await all_keys(namespace, limit=1) if first.cursor else []

    # The first call ran out of budget on dead keys: a short page that still
    # points onwards, so nothing live is lost.
    assert first.keys == []
    assert first.cursor is not None
    assert rest == ["live-1", "live-2"]


async def test_a_foreign_cursor_is_rejected(make_namespace: MakeNamespace) -> None:
    namespace = make_namespace()

    with pytest.raises(InvalidArgument):
        await namespace.list(cursor="not-a-cursor")
