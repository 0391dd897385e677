"""How the driver lays namespaces out in Redis: hash tags, isolation, cleanup."""

from __future__ import annotations

import asyncio
import random

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from edgebind.testing.clock import FakeClock
from edgebind_redis.kv import BACKSTOP_GRACE_SECONDS, namespace_prefix
from tests.drivers.redis.conftest import MakeNamespace, raw_keys, unique_name

# Names the config would refuse, used here to prove the encoding holds anyway.
TRICKY_NAMES = ["a}b", "{a", "a:b", "a:v:", "x}:idx", "%41", "A", "a b", "ünï"]


async def zset_members(client: Redis, key: bytes) -> set[bytes]:
    members = await client.zrange(key, 0, -1)
    return {member for member in members if isinstance(member, bytes)}


def hash_tag(key: bytes) -> bytes:
    """The part of ``key`` Redis Cluster hashes (the text in the first {...})."""
    start = key.index(b"{")
    end = key.index(b"}", start + 1)
    return key[start + 1 : end]


async def test_every_key_of_a_namespace_carries_its_hash_tag(
    make_namespace: MakeNamespace, raw: Redis
) -> None:
    namespace = make_namespace()
    # Braces inside user keys must not move the hash tag.
    for key in ["plain", "{other}", "a}b{c", "with:colons", "é😀"]:
        await namespace.put(key, "v")
    await namespace.put("expiring", "v", ttl=60)

    keys = await raw_keys(raw, namespace.name)

    prefix = namespace_prefix(namespace.name)
    assert keys == {
        prefix + b"idx",
        prefix + b"exp",
        *(
            prefix + b"v:" + key.encode()
            for key in ["plain", "{other}", "a}b{c", "with:colons", "é😀", "expiring"]
        ),
    }
    tags = {hash_tag(key) for key in keys}
    assert tags == {b"kv:" + namespace.name.encode()}
    assert len({key_slot(key) for key in keys}) == 1


@pytest.mark.parametrize("name", TRICKY_NAMES)
def test_tricky_names_keep_one_well_formed_hash_tag(name: str) -> None:
    prefix = namespace_prefix(name)

    tag = hash_tag(prefix)

    assert prefix == b"edgebind:{" + tag + b"}:"
    assert b"{" not in tag and b"}" not in tag and b":" not in tag[3:]


def test_distinct_names_never_share_a_prefix() -> None:
    prefixes = [namespace_prefix(name) for name in TRICKY_NAMES]

    assert len(set(prefixes)) == len(prefixes)
    for one in prefixes:
        for other in prefixes:
            assert one == other or not one.startswith(other)


async def test_namespaces_with_tricky_names_do_not_see_each_other(
    make_namespace: MakeNamespace,
) -> None:
    run = unique_name()
    namespaces = [make_namespace(f"{run}{name}") for name in TRICKY_NAMES]

    for position, namespace in enumerate(namespaces):
        await namespace.put("shared", f"value {position}")
        await namespace.put(f"only-{position}", "x")

    for position, namespace in enumerate(namespaces):
        assert await namespace.get("shared") == f"value {position}"
        page = await namespace.list()
        assert page.keys == [f"only-{position}", "shared"]


async def test_namespace_ignores_foreign_keys_in_the_same_database(
    make_namespace: MakeNamespace, raw: Redis
) -> None:
    namespace = make_namespace()
    prefix = namespace_prefix(namespace.name)
    # A key another application wrote right beside the namespace's keys.
    foreign = prefix[:-1] + b"x:v:intruder"
    await raw.set(foreign, "not ours")
    try:
        await namespace.put("mine", "v")

        assert (await namespace.list()).keys == ["mine"]
        assert await namespace.get("intruder") is None
    finally:
        await raw.delete(foreign)


async def test_ttl_sets_a_later_native_expiry_and_overwrite_clears_it(
    make_namespace: MakeNamespace, raw: Redis
) -> None:
    namespace = make_namespace()
    value_key = namespace_prefix(namespace.name) + b"v:k"

    await namespace.put("k", "v", ttl=120)
    native_ms = await raw.pttl(value_key)
    expiring = await raw.zrange(namespace_prefix(namespace.name) + b"exp", 0, -1)

    assert 120_000 < native_ms <= (120 + BACKSTOP_GRACE_SECONDS) * 1000
    assert expiring == [b"k"]

    await namespace.put("k", "v2")

    assert await raw.pttl(value_key) == -1
    assert not await raw.exists(namespace_prefix(namespace.name) + b"exp")


async def test_expired_keys_are_deleted_by_a_read(
    make_namespace: MakeNamespace, raw: Redis, clock: FakeClock
) -> None:
    namespace = make_namespace()
    await namespace.put("short", "v", ttl=10)
    await namespace.put("kept", "v")

    clock.advance(10)

    assert await namespace.get("short") is None
    assert await raw_keys(raw, namespace.name) == {
        namespace_prefix(namespace.name) + b"idx",
        namespace_prefix(namespace.name) + b"v:kept",
    }


async def test_expired_keys_are_swept_by_later_writes_without_any_read(
    make_namespace: MakeNamespace, raw: Redis, clock: FakeClock
) -> None:
    namespace = make_namespace()
    for number in range(5):
        await namespace.put(f"short-{number}", "v", ttl=5)

    clock.advance(6)
    await namespace.put("new", "v")

    assert await raw_keys(raw, namespace.name) == {
        namespace_prefix(namespace.name) + b"idx",
        namespace_prefix(namespace.name) + b"v:new",
    }


async def test_a_value_gone_by_native_expiry_is_absent_and_unlisted(
    make_namespace: MakeNamespace, raw: Redis
) -> None:
    namespace = make_namespace()
    prefix = namespace_prefix(namespace.name)
    await namespace.put("a", "v", ttl=60)
    await namespace.put("b", "v", ttl=60)
    # What Redis's backstop expiry does when the injected clock lags behind.
    await raw.delete(prefix + b"v:a", prefix + b"v:b")

    assert (await namespace.list()).keys == []
    assert await namespace.get("b") is None
    assert await raw_keys(raw, namespace.name) == set()


async def test_index_matches_values_after_concurrent_puts_and_deletes(
    make_namespace: MakeNamespace, raw: Redis
) -> None:
    namespace = make_namespace()
    prefix = namespace_prefix(namespace.name)
    chooser = random.Random(7)
    keys = [f"key-{number:02d}" for number in range(20)]

    async def operation(number: int) -> None:
        key = chooser.choice(keys)
        if number % 3 == 0:
            await namespace.delete(key)
        elif number % 3 == 1:
            await namespace.put(key, f"v{number}", ttl=300)
        else:
            await namespace.put(key, f"v{number}")

    # A TaskGroup cancels the rest if one fails, so nothing writes after cleanup.
    async with asyncio.TaskGroup() as group:
        for number in range(600):
            group.create_task(operation(number))

    indexed = await zset_members(raw, prefix + b"idx")
    expiring = await zset_members(raw, prefix + b"exp")
    stored = {
        key[len(prefix) + 2 :]
        for key in await raw_keys(raw, namespace.name)
        if key.startswith(prefix + b"v:")
    }
    assert indexed == stored
    assert expiring <= indexed
    assert set((await namespace.list()).keys) == {key.decode() for key in stored}
    for member in expiring:
        assert await raw.pttl(prefix + b"v:" + member) > 0
    for member in indexed - expiring:
        assert await raw.pttl(prefix + b"v:" + member) == -1
