"""Redis down, stalled, restarted or refusing: always BackendUnavailable, fast,
and the same driver works again once Redis does."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from redis.exceptions import RedisError

from edgebind.errors import BackendUnavailable
from edgebind.kv import KVNamespace
from edgebind.resource import ResourceSpec
from edgebind_redis import RedisDriver
from tests.servers import PrivateRedis, free_port

#: Generous for a refused or timed-out connection (the driver's own timeouts
#: are 2 s to connect and 5 s per reply); a hang would take far longer.
FAIL_FAST_SECONDS = 3.0

SPEC = ResourceSpec("kv", "unreachable", "CACHE_KV")


def every_operation(
    namespace: KVNamespace,
) -> list[Callable[[], Awaitable[object]]]:
    return [
        lambda: namespace.get("k"),
        lambda: namespace.put("k", "v"),
        lambda: namespace.put("k", "v", ttl=60),
        lambda: namespace.delete("k"),
        lambda: namespace.list(),
        lambda: namespace.ping(),
        lambda: namespace.provision(),
        lambda: namespace.inspect(),
    ]


async def assert_unavailable_fast(operation: Callable[[], Awaitable[object]]) -> None:
    started = time.monotonic()
    with pytest.raises(BackendUnavailable) as caught:
        await operation()
    elapsed = time.monotonic() - started

    assert elapsed < FAIL_FAST_SECONDS
    assert caught.value.driver == "redis"
    assert caught.value.binding == "CACHE_KV"
    assert isinstance(caught.value.__cause__, RedisError | OSError)
    assert "CACHE_KV" in str(caught.value)


@pytest.fixture
async def closed_port_driver() -> AsyncIterator[RedisDriver]:
    driver = RedisDriver(f"redis://127.0.0.1:{free_port()}/0")
    yield driver
    await driver.aclose()


async def test_opening_a_namespace_does_no_io(
    closed_port_driver: RedisDriver,
) -> None:
    namespace = closed_port_driver.open_kv(SPEC)

    assert namespace.name == "unreachable"
    assert closed_port_driver._redis is None


async def test_every_operation_fails_fast_on_a_closed_port(
    closed_port_driver: RedisDriver,
) -> None:
    namespace = closed_port_driver.open_kv(SPEC)

    for operation in every_operation(namespace):
        await assert_unavailable_fast(operation)


async def test_a_password_in_the_url_is_not_shown_in_the_error() -> None:
    driver = RedisDriver(f"redis://user:hunter2@127.0.0.1:{free_port()}/0")
    try:
        with pytest.raises(BackendUnavailable) as caught:
            await driver.open_kv(SPEC).get("k")
    finally:
        await driver.aclose()

    assert "hunter2" not in str(caught.value)
    assert ":***@" in str(caught.value)


async def test_a_server_that_never_answers_times_out() -> None:
    async def accept_and_stay_silent(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await reader.read(-1)
        writer.close()

    silent = await asyncio.start_server(accept_and_stay_silent, "127.0.0.1", 0)
    port = silent.sockets[0].getsockname()[1]
    # The URL's own timeout options override the driver's defaults.
    driver = RedisDriver(f"redis://127.0.0.1:{port}/0?socket_timeout=0.3")
    try:
        await assert_unavailable_fast(lambda: driver.open_kv(SPEC).get("k"))
    finally:
        await driver.aclose()
        silent.close()
        await silent.wait_closed()


async def test_a_refused_command_is_backend_unavailable(
    private_redis: PrivateRedis,
) -> None:
    driver = RedisDriver(private_redis.url)
    namespace = driver.open_kv(SPEC)
    async with private_redis.client() as admin:
        # A replica refuses writes with READONLY: Redis answers, but says no.
        await admin.replicaof("127.0.0.1", str(free_port()))
    try:
        with pytest.raises(BackendUnavailable, match="refused the command") as caught:
            await namespace.put("k", "v")
    finally:
        await driver.aclose()

    assert caught.value.binding == "CACHE_KV"


async def test_the_same_driver_recovers_after_a_restart(
    private_redis: PrivateRedis, caplog: pytest.LogCaptureFixture
) -> None:
    driver = RedisDriver(private_redis.url)
    namespace = driver.open_kv(SPEC)
    try:
        await namespace.put("k", "before")
        assert await namespace.get("k") == "before"

        await private_redis.stop()
        with caplog.at_level(logging.INFO, logger="edgebind_redis.driver"):
            await assert_unavailable_fast(lambda: namespace.get("k"))
            await assert_unavailable_fast(lambda: namespace.put("k", "v"))

            await private_redis.start()
            # The new server has neither the data (no persistence) nor the
            # driver's scripts; the driver reconnects and loads them again.
            assert await namespace.get("k") is None
            await namespace.put("k", "after", ttl=60)
            assert await namespace.get("k") == "after"
            assert (await namespace.list()).keys == ["k"]
            await namespace.ping()
    finally:
        await driver.aclose()

    outage_logs = [r for r in caplog.records if "unavailable" in r.getMessage()]
    recovery_logs = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert len(outage_logs) == 1
    assert len(recovery_logs) == 1


async def test_a_closed_driver_opens_a_new_pool_when_used_again(
    private_redis: PrivateRedis,
) -> None:
    driver = RedisDriver(private_redis.url)
    namespace = driver.open_kv(SPEC)
    await namespace.put("k", "v")

    await driver.aclose()
    try:
        assert await namespace.get("k") == "v"
    finally:
        await driver.aclose()


async def test_a_driver_used_from_another_event_loop_still_works(
    private_redis: PrivateRedis,
) -> None:
    driver = RedisDriver(private_redis.url)
    namespace = driver.open_kv(SPEC)
    await namespace.put("k", "from the test loop")

    async def read_and_write() -> str | None:
        value = await namespace.get("k")
        await namespace.put("k", "from another loop")
        await driver.aclose()
        return value

    try:
        seen_elsewhere = await asyncio.to_thread(asyncio.run, read_and_write())
        assert seen_elsewhere == "from the test loop"
        assert await namespace.get("k") == "from another loop"
    finally:
        await driver.aclose()
