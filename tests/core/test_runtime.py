"""The runtime: drivers per URL, resource access, health, provision, close.

These tests exercise the runtime's wiring, not a backend, so they register a
throwaway driver (``dict://``) that keeps KV pairs in a dict. The real drivers
are tested against real backends in their own folders.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from edgebind import plugins
from edgebind.config import EdgebindConfig, define_config
from edgebind.drivers import Driver
from edgebind.errors import (
    BackendUnavailable,
    ConfigError,
    NotFound,
    ProvisionError,
    ResourceClosed,
)
from edgebind.keys import KeyRing
from edgebind.kv import KVListPage, KVNamespace, encode_cursor
from edgebind.plugins import DriverRegistry
from edgebind.resource import Kind, ProvisionOutcome, ProvisionStatus, ResourceSpec
from edgebind.runtime import Runtime

#: what each test's resources and drivers did, in order
EVENTS: list[str] = []


class DictNamespace(KVNamespace):
    driver_name = "dict"

    def __init__(self, spec: ResourceSpec, driver: DictDriver) -> None:
        super().__init__(spec, clock=driver.clock)
        self.driver = driver
        self.data: dict[str, str] = {}

    async def _get(self, key: str) -> str | None:
        return self.data.get(key)

    async def _put(self, key: str, value: str, expires_at: float | None) -> None:
        self.data[key] = value

    async def _delete(self, key: str) -> None:
        self.data.pop(key, None)

    async def _list(self, prefix: str, limit: int, after: str | None) -> KVListPage:
        keys = sorted(k for k in self.data if k.startswith(prefix))
        keys = [k for k in keys if after is None or k > after]
        page = keys[:limit]
        cursor = encode_cursor(page[-1]) if len(keys) > limit else None
        return KVListPage(page, cursor)

    async def _ping(self) -> None:
        behaviour = self.driver.parsed_url.query
        if behaviour == "down":
            raise BackendUnavailable(
                "connection refused", driver="dict", binding=self.binding
            )
        if behaviour == "hang":
            await asyncio.Event().wait()
        if behaviour == "buggy":
            raise OSError("socket exploded")

    async def _aclose(self) -> None:
        EVENTS.append(f"close resource {self.name}")


class ProvisioningNamespace(DictNamespace):
    """A namespace whose storage is created by provision()."""

    async def _provision(self) -> ProvisionOutcome:
        EVENTS.append(f"provision {self.name}")
        return ProvisionOutcome(ProvisionStatus.CREATED, "made a table")

    async def _inspect(self) -> ProvisionOutcome:
        EVENTS.append(f"inspect {self.name}")
        return ProvisionOutcome(ProvisionStatus.CREATED, "would make a table")


class BlindNamespace(DictNamespace):
    """Provisions, but cannot say beforehand what it would do."""

    async def _provision(self) -> ProvisionOutcome:
        EVENTS.append(f"provision {self.name}")
        return ProvisionOutcome(ProvisionStatus.REUSED)


class MismatchedNamespace(DictNamespace):
    """Storage that exists with other settings than declared."""

    async def _provision(self) -> ProvisionOutcome:
        EVENTS.append(f"provision {self.name}")
        raise ProvisionError("exists with 8 shards; the config declares 4")

    async def _inspect(self) -> ProvisionOutcome:
        EVENTS.append(f"inspect {self.name}")
        raise ProvisionError("exists with 8 shards; the config declares 4")


class DictDriver(Driver):
    name = "dict"
    schemes = ("dict",)
    kinds: ClassVar[frozenset[Kind]] = frozenset({"kv"})
    instances: ClassVar[list[DictDriver]] = []

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        DictDriver.instances.append(self)

    @classmethod
    def validate_url(cls, url: str) -> None:
        if "bad" in url:
            raise ValueError("the host part must not say bad")

    def open_kv(self, spec: ResourceSpec) -> KVNamespace:
        path = self.parsed_url.path
        if path == "/explode":
            raise ValueError("cannot open that")
        if path == "/provisioning":
            return ProvisioningNamespace(spec, self)
        if path == "/blind":
            return BlindNamespace(spec, self)
        if path == "/mismatched":
            return MismatchedNamespace(spec, self)
        if path == "/wrongtype":
            return object()  # type: ignore[return-value]
        return DictNamespace(spec, self)

    async def aclose(self) -> None:
        EVENTS.append(f"close driver {self.url}")


@pytest.fixture
def registry() -> Iterator[DriverRegistry]:
    EVENTS.clear()
    DictDriver.instances.clear()
    fresh = DriverRegistry()
    # No entry points: only the throwaway driver exists in these tests.
    fresh._loaded = True
    fresh.register(DictDriver, plugin="tests")
    yield fresh


def make_config(**environment: str) -> EdgebindConfig:
    return define_config(
        kv=["cache", "sessions"],
        environments={"dev": environment or {"default": "dict://local/"}},
    )


def runtime_of(config: EdgebindConfig, registry: DriverRegistry, **kw: Any) -> Runtime:
    return Runtime(config, "dev", registry=registry, environ={}, **kw)


# ---------------------------------------------------------------- building


async def test_resources_open_and_work(registry: DriverRegistry) -> None:
    async with runtime_of(make_config(), registry) as runtime:
        cache = runtime.kv("cache")
        await cache.put("k", "v")

        assert await runtime.kv("cache").get("k") == "v"
        assert await runtime.kv("sessions").get("k") is None
        assert runtime.resource("kv", "cache") is cache
        assert [b.binding for b in runtime.bindings] == ["CACHE_KV", "SESSIONS_KV"]
        assert runtime.env_name == "dev"
        assert runtime.config.kv["cache"].binding == "CACHE_KV"
        assert runtime.driver_for("CACHE_KV").name == "dict"


async def test_undeclared_names(registry: DriverRegistry) -> None:
    async with runtime_of(make_config(), registry) as runtime:
        assert runtime.resource("kv", "nope") is None
        assert runtime.resource("d1", "cache") is None
        with pytest.raises(NotFound, match="no KV namespace named 'nope' is declared"):
            runtime.kv("nope")
        with pytest.raises(NotFound, match="no D1 database named 'main'"):
            runtime.d1("main")
        with pytest.raises(NotFound, match="no Vectorize index named 'ix'"):
            runtime.vectorize("ix")
        with pytest.raises(NotFound, match="no binding named 'X'"):
            runtime.driver_for("X")


async def test_one_driver_per_distinct_url(registry: DriverRegistry) -> None:
    config = define_config(
        kv=["a", "b", "c"],
        environments={"dev": {"default": "dict://one/", "C_KV": "dict://two/"}},
    )

    async with runtime_of(config, registry) as runtime:
        assert len(DictDriver.instances) == 2
        assert runtime.driver_for("A_KV") is runtime.driver_for("B_KV")
        assert runtime.driver_for("C_KV") is not runtime.driver_for("A_KV")


def test_unknown_scheme_names_binding_and_installed_schemes(
    registry: DriverRegistry,
) -> None:
    with pytest.raises(ConfigError) as caught:
        runtime_of(make_config(default="mongodb://db/"), registry)

    assert caught.value.field == "environments.dev.default"
    assert "binding CACHE_KV" in caught.value.detail
    assert "'mongodb'" in caught.value.detail
    assert "installed schemes: dict" in caught.value.detail


def test_url_without_scheme(registry: DriverRegistry) -> None:
    typo = "app:s3cret@db.internal/app"  # "postgresql://" forgotten
    with pytest.raises(ConfigError) as caught:
        runtime_of(make_config(default="dict://x/", CACHE_KV=typo), registry)

    assert caught.value.field == "environments.dev.CACHE_KV"
    assert "scheme://" in caught.value.detail
    assert "s3cret" not in str(caught.value)


def test_scheme_from_process_variable_names_the_binding(
    registry: DriverRegistry,
) -> None:
    config = make_config()

    with pytest.raises(ConfigError) as caught:
        Runtime(config, registry=registry, environ={"SESSIONS_KV": "nope://"})

    assert caught.value.field == "SESSIONS_KV"
    assert "environment variable SESSIONS_KV" in caught.value.detail


def test_driver_that_does_not_serve_the_kind(registry: DriverRegistry) -> None:
    config = define_config(
        kv=["cache"],
        d1=["main"],
        environments={"dev": {"default": "dict://local/"}},
    )

    with pytest.raises(ConfigError) as caught:
        runtime_of(config, registry)

    assert caught.value.field == "environments.dev.default"
    assert "binding MAIN_DB is a D1 database" in caught.value.detail
    assert "driver dict, which serves only kv" in caught.value.detail


def test_invalid_url_for_the_driver(registry: DriverRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        runtime_of(make_config(kv="dict://u:pw@bad/"), registry)

    assert caught.value.field == "environments.dev.kv"
    assert "binding CACHE_KV" in caught.value.detail
    assert "must not say bad" in caught.value.detail
    assert "pw@" not in caught.value.detail


def test_driver_failing_to_open(registry: DriverRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        runtime_of(make_config(default="dict://local/explode"), registry)

    assert caught.value.field == "kv.cache"
    assert "could not open KV namespace 'cache': cannot open that" in str(caught.value)


def test_driver_returning_the_wrong_type(registry: DriverRegistry) -> None:
    with pytest.raises(ConfigError, match="bug in the driver"):
        runtime_of(make_config(default="dict://local/wrongtype"), registry)


def test_binding_without_url_fails_at_start(registry: DriverRegistry) -> None:
    with pytest.raises(ConfigError) as caught:
        runtime_of(make_config(CACHE_KV="dict://x/"), registry)

    assert caught.value.field == "environments.dev.SESSIONS_KV"


def test_errors_name_the_config_file(registry: DriverRegistry, tmp_path: Any) -> None:
    from edgebind.config import load_config

    path = tmp_path / "edgebind.config.py"
    path.write_text(
        "from edgebind import define_config\n"
        "config = define_config(kv=['cache'], "
        "environments={'dev': {'default': 'mongodb://x'}})\n",
        encoding="utf-8",
    )

    with pytest.raises(ConfigError) as caught:
        runtime_of(load_config(path), registry)

    assert caught.value.source == str(path)


def test_default_registry_is_the_process_registry(
    registry: DriverRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(plugins, "_registry", registry)

    runtime = Runtime(make_config(), environ={})

    assert runtime.driver_for("CACHE_KV").name == "dict"


# ----------------------------------------------------------------- keyring


def test_keyring_comes_from_the_config(registry: DriverRegistry) -> None:
    config = define_config(
        kv=["cache"],
        service_keys=[{"kid": "root", "tier": "root", "secret_ref": "ROOT"}],
        environments={"dev": {"default": "dict://x/"}},
    )

    runtime = Runtime(config, registry=registry, environ={"ROOT": "s3cret"})

    assert runtime.keyring.authenticate("s3cret", client_ip=None).kid == "root"


def test_keyring_errors_fail_at_start(registry: DriverRegistry) -> None:
    config = define_config(
        kv=["cache"],
        service_keys=[{"kid": "root", "tier": "root", "secret_ref": "ROOT"}],
        environments={"dev": {"default": "dict://x/"}},
    )

    with pytest.raises(ConfigError, match="ROOT"):
        Runtime(config, registry=registry, environ={})


def test_keyring_may_be_given(registry: DriverRegistry) -> None:
    keyring = KeyRing().with_dev_root_key("dev-key")

    runtime = runtime_of(make_config(), registry, keyring=keyring)

    assert runtime.keyring is keyring


# ------------------------------------------------------------------ health


async def test_health_reports_every_binding(registry: DriverRegistry) -> None:
    config = define_config(
        kv=["up", "down", "hang", "buggy"],
        environments={
            "dev": {
                "default": "dict://h/",
                "DOWN_KV": "dict://h/?down",
                "HANG_KV": "dict://h/?hang",
                "BUGGY_KV": "dict://h/?buggy",
            }
        },
    )

    async with runtime_of(config, registry) as runtime:
        report = {h.binding: h for h in await runtime.health(seconds_each=0.05)}

    assert report["UP_KV"].ok and report["UP_KV"].error is None
    assert report["UP_KV"].driver == "dict"
    assert report["UP_KV"].kind == "kv" and report["UP_KV"].name == "up"
    assert not report["DOWN_KV"].ok
    assert report["DOWN_KV"].error is not None
    assert "connection refused" in report["DOWN_KV"].error
    assert report["HANG_KV"].error == "no answer within 0.05 s"
    assert report["BUGGY_KV"].error == "OSError: socket exploded"


# --------------------------------------------------------------- provision


async def test_provision_and_dry_run(registry: DriverRegistry) -> None:
    config = define_config(
        kv=["lazy", "table", "blind"],
        environments={
            "dev": {
                "default": "dict://p/",
                "TABLE_KV": "dict://p/provisioning",
                "BLIND_KV": "dict://p/blind",
            }
        },
    )

    async with runtime_of(config, registry) as runtime:
        planned = await runtime.provision(dry_run=True)
        assert EVENTS == ["inspect table"]

        done = await runtime.provision()
        assert EVENTS == ["inspect table", "provision table", "provision blind"]

    plan = {b.binding: o for b, o in planned}
    assert plan["LAZY_KV"].status is ProvisionStatus.REUSED
    assert plan["TABLE_KV"] == ProvisionOutcome(
        ProvisionStatus.CREATED, "would make a table"
    )
    assert plan["BLIND_KV"].status is ProvisionStatus.UNKNOWN
    assert [o.status for _, o in done] == [
        ProvisionStatus.REUSED,
        ProvisionStatus.CREATED,
        ProvisionStatus.REUSED,
    ]


# ------------------------------------------------------------------- close


async def test_aclose_closes_resources_then_drivers_once(
    registry: DriverRegistry,
) -> None:
    runtime = runtime_of(make_config(), registry)
    cache = runtime.kv("cache")

    await runtime.aclose()
    await runtime.aclose()

    assert EVENTS == [
        "close resource cache",
        "close resource sessions",
        "close driver dict://local/",
    ]
    with pytest.raises(ResourceClosed):
        await cache.get("k")


async def test_aclose_survives_a_failing_close(
    registry: DriverRegistry,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    runtime = runtime_of(make_config(), registry)

    async def fail() -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(runtime.driver_for("CACHE_KV"), "aclose", fail)
    await runtime.aclose()

    assert "close resource sessions" in EVENTS
    assert "Closing a driver failed with OSError: disk gone" in caplog.text


@pytest.mark.parametrize("dry_run", [False, True])
async def test_mismatch_is_reported_and_the_rest_still_provisioned(
    registry: DriverRegistry, dry_run: bool
) -> None:
    config = define_config(
        kv=["odd", "table"],
        environments={
            "dev": {
                "ODD_KV": "dict://p/mismatched",
                "TABLE_KV": "dict://p/provisioning",
            }
        },
    )

    async with runtime_of(config, registry) as runtime:
        outcomes = await runtime.provision(dry_run=dry_run)

    verb = "inspect" if dry_run else "provision"
    assert EVENTS[:2] == [f"{verb} odd", f"{verb} table"]
    by_binding = {b.binding: o for b, o in outcomes}
    assert by_binding["ODD_KV"] == ProvisionOutcome(
        ProvisionStatus.MISMATCHED, "exists with 8 shards; the config declares 4"
    )
    assert by_binding["TABLE_KV"].status is ProvisionStatus.CREATED


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://h:6379/0", "redis://h:6379/0"),
        ("postgresql://app:pw@h/db", "postgresql://app:***@h/db"),
        (
            "postgresql://app@h/db?password=pw&sslmode=require",
            "postgresql://app@h/db?password=***&sslmode=require",
        ),
        (
            "qdrant+https://h?api_key=k&api_key_env=QDRANT_KEY",
            "qdrant+https://h?api_key=***&api_key_env=QDRANT_KEY",
        ),
    ],
)
def test_redacted_urls_hide_every_password(url: str, shown: str) -> None:
    assert Driver.redacted(url) == shown
