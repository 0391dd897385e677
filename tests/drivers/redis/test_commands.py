"""Which Redis commands the driver sends, read from the server's own command
statistics (they count commands run inside Lua scripts too)."""

from __future__ import annotations

from edgebind.resource import ResourceSpec
from edgebind_redis import RedisDriver
from tests.servers import PrivateRedis

KEY_COUNT = 2000


async def command_calls(server: PrivateRedis) -> dict[str, int]:
    async with server.client() as admin:
        stats = await admin.info("commandstats")
    return {
        name.removeprefix("cmdstat_"): int(fields["calls"])
        for name, fields in stats.items()
    }


async def reset_stats(server: PrivateRedis) -> None:
    async with server.client() as admin:
        await admin.config_resetstat()


async def test_paging_never_scans_the_keyspace_or_the_whole_index(
    private_redis: PrivateRedis, private_spec: ResourceSpec
) -> None:
    driver = RedisDriver(private_redis.url)
    namespace = driver.open_kv(private_spec)
    try:
        for number in range(KEY_COUNT):
            await namespace.put(f"k{number:05d}", "v", ttl=3600 if number % 2 else None)
        await reset_stats(private_redis)

        page = await namespace.list(limit=10)
        one_page = await command_calls(private_redis)
        await namespace.list(prefix="k01", limit=10, cursor=page.cursor)
        await namespace.get("k00001")
        await namespace.delete("k00002")
        calls = await command_calls(private_redis)
    finally:
        await driver.aclose()

    assert len(page.keys) == 10
    # A page of 10 looks at 11 index entries, not at 2,000.
    assert one_page["zscore"] <= 11
    assert one_page["exists"] <= 11
    assert one_page["zrangebylex"] == 1
    assert "keys" not in calls
    assert "scan" not in calls
    assert "zrange" not in calls
    assert calls["zscore"] <= 11 + 11 + 1


async def test_every_operation_is_one_atomic_script(
    private_redis: PrivateRedis, private_spec: ResourceSpec
) -> None:
    driver = RedisDriver(private_redis.url)
    namespace = driver.open_kv(private_spec)
    try:
        # Load all four scripts first; a first EVALSHA fails with NOSCRIPT.
        await namespace.put("warm-up", "v")
        await namespace.get("warm-up")
        await namespace.list()
        await namespace.delete("warm-up")
        await reset_stats(private_redis)

        await namespace.put("k", "v", ttl=60)
        await namespace.get("k")
        await namespace.list()
        await namespace.delete("k")
        calls = await command_calls(private_redis)
    finally:
        await driver.aclose()

    assert calls["evalsha"] == 4
    # Nothing outside a script touches the data, so the index, the expiry set
    # and the value can never be seen half-updated.
    assert "set" not in calls or calls["set"] == 1
    assert set(calls) <= {
        "evalsha", "set", "get", "del", "zadd", "zrem", "zscore",
        "zrangebyscore", "zrangebylex", "exists",
        # the statistics client's own connection set-up and queries
        "hello", "client|setinfo", "info", "config|resetstat",
    }  # fmt: skip
