"""The shared KV contract, run against the Redis driver on a real server.

The suite gives every namespace it opens a unique name, so runs sharing one
Redis never see each other's keys; the keys a test leaves are deleted after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
from redis.asyncio import Redis

from edgebind.kv import KVNamespace
from edgebind.resource import ResourceSpec
from edgebind.testing import FakeClock, KVContract
from edgebind_redis import RedisDriver
from edgebind_redis.kv import namespace_prefix


class RecordingRedisDriver(RedisDriver):
    """The real driver, remembering which namespaces were opened so that the
    fixture can delete exactly their keys and nobody else's."""

    opened_names: ClassVar[set[str]] = set()

    def open_kv(self, spec: ResourceSpec) -> KVNamespace:
        RecordingRedisDriver.opened_names.add(spec.name)
        return super().open_kv(spec)


async def delete_namespaces(redis_url: str, names: set[str]) -> None:
    async with Redis.from_url(redis_url) as client:
        for name in names:
            # Contract names are letters and digits: no glob characters.
            pattern = namespace_prefix(name) + b"*"
            leftovers = [key async for key in client.scan_iter(match=pattern)]
            if leftovers:
                await client.delete(*leftovers)


class TestRedisKV(KVContract):
    @pytest.fixture
    async def driver(
        self, redis_url: str, clock: FakeClock
    ) -> AsyncIterator[RedisDriver]:
        RecordingRedisDriver.opened_names.clear()
        redis_driver = RecordingRedisDriver(redis_url, clock=clock)
        yield redis_driver
        await redis_driver.aclose()
        await delete_namespaces(redis_url, RecordingRedisDriver.opened_names)
        RecordingRedisDriver.opened_names.clear()
