"""The Redis driver's declarations, URL checks and plugin registration."""

from __future__ import annotations

import pytest

from edgebind.errors import NotSupported
from edgebind.plugins import DriverRegistry
from edgebind.resource import ProvisionStatus, ResourceSpec
from edgebind_redis import RedisDriver, RedisKVNamespace
from tests.drivers.redis.conftest import MakeNamespace


def test_declares_what_it_serves() -> None:
    assert RedisDriver.name == "redis"
    assert RedisDriver.schemes == ("redis", "rediss")
    assert RedisDriver.kinds == frozenset({"kv"})
    assert RedisDriver.kv_capabilities == RedisKVNamespace.capabilities
    assert RedisKVNamespace.capabilities.injectable_clock


def test_serves_no_other_kind() -> None:
    driver = RedisDriver("redis://127.0.0.1:6379/0")

    with pytest.raises(NotSupported):
        driver.open_d1(ResourceSpec("d1", "main", "MAIN_DB"))
    with pytest.raises(NotSupported):
        driver.open_vectorize(ResourceSpec("vectorize", "v", "VECTORIZE_V"))


def test_is_found_through_its_entry_point(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDGEBIND_LOAD_PLUGINS", "edgebind-redis")
    registry = DriverRegistry()

    assert registry.for_url("redis://127.0.0.1:6379/0") is RedisDriver
    assert registry.for_url("rediss://cache.example:6380/2") is RedisDriver
    assert [info.name for info in registry.drivers()] == ["redis"]


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://localhost",
        "redis://localhost/",
        "rediss://user:secret@cache.example:6380/15",
        "redis://127.0.0.1:6379/0?socket_timeout=1.5",
    ],
)
def test_accepts_well_formed_urls(url: str) -> None:
    RedisDriver.validate_url(url)


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("http://127.0.0.1:6379/0", "not http://"),
        ("redis:///0", "names no host"),
        ("redis://127.0.0.1:notaport/0", "invalid port"),
        ("redis://127.0.0.1:99999/0", "invalid port"),
        ("redis://127.0.0.1:6379/cache", "database number"),
        ("redis://127.0.0.1:6379/0?socket_timeout=soon", "invalid query option"),
    ],
)
def test_rejects_malformed_urls(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        RedisDriver.validate_url(url)


async def test_provision_reuses_and_ping_answers(
    make_namespace: MakeNamespace,
) -> None:
    namespace = make_namespace()

    outcome = await namespace.provision()
    await namespace.ping()

    assert outcome.status is ProvisionStatus.REUSED
    assert "nothing to create" in outcome.detail


async def test_dry_run_answers_like_provision(make_namespace: MakeNamespace) -> None:
    namespace = make_namespace()

    planned = await namespace.inspect()

    assert planned == await namespace.provision()
    assert planned.status is ProvisionStatus.REUSED
