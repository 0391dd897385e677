"""Fixtures for the Redis driver's own tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from redis.asyncio import Redis

from edgebind.resource import ResourceSpec
from edgebind.testing.clock import FakeClock
from edgebind_redis import RedisDriver, RedisKVNamespace
from edgebind_redis.kv import namespace_prefix
from tests.servers import PrivateRedis

MakeNamespace = Callable[..., RedisKVNamespace]


def unique_name(label: str = "t") -> str:
    return f"{label}-{uuid.uuid4().hex[:16]}"


def glob_escape(raw: bytes) -> bytes:
    """``raw`` as a literal SCAN MATCH pattern."""
    special = b"*?[]\\"
    return b"".join(b"\\" + bytes([c]) if c in special else bytes([c]) for c in raw)


async def raw_keys(client: Redis, name: str) -> set[bytes]:
    """Every Redis key of namespace ``name`` (SCAN is fine in a test)."""
    pattern = glob_escape(namespace_prefix(name)) + b"*"
    return {key async for key in client.scan_iter(match=pattern, count=1000)}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def raw(redis_url: str) -> AsyncIterator[Redis]:
    """A plain redis-py client on the shared test server, to inspect keys."""
    async with Redis.from_url(redis_url) as client:
        yield client


@pytest.fixture
async def driver(redis_url: str, clock: FakeClock) -> AsyncIterator[RedisDriver]:
    redis_driver = RedisDriver(redis_url, clock=clock)
    yield redis_driver
    await redis_driver.aclose()


@pytest.fixture
async def make_namespace(
    driver: RedisDriver, raw: Redis
) -> AsyncIterator[MakeNamespace]:
    """Opens namespaces with unique names and deletes their keys afterwards."""
    opened: list[RedisKVNamespace] = []

    def make(name: str | None = None) -> RedisKVNamespace:
        spec = ResourceSpec("kv", name or unique_name(), "TEST_KV")
        namespace = driver.open_kv(spec)
        assert isinstance(namespace, RedisKVNamespace)
        opened.append(namespace)
        return namespace

    yield make

    for namespace in opened:
        leftovers = await raw_keys(raw, namespace.name)
        if leftovers:
            await raw.delete(*leftovers)
        await namespace.aclose()


@pytest.fixture
def namespace(make_namespace: MakeNamespace) -> RedisKVNamespace:
    return make_namespace()


@pytest.fixture
async def private_redis() -> AsyncIterator[PrivateRedis]:
    async with PrivateRedis() as server:
        yield server


@pytest.fixture
def private_spec() -> Iterator[ResourceSpec]:
    yield ResourceSpec("kv", unique_name("private"), "PRIVATE_KV")
