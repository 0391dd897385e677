"""Fixtures for the HTTP tests: runtimes on SQLite in a temp folder, served by
the ASGI app in this process, plus small drivers that fail on purpose."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

import edgebind_sqlite.plugin
from edgebind import (
    BackendUnavailable,
    Driver,
    EdgebindError,
    KVListPage,
    KVNamespace,
    ResourceSpec,
)
from edgebind.config import EdgebindConfig, define_config
from edgebind.keys import sha256_hex
from edgebind.plugins import DriverRegistry
from edgebind.resource import Kind
from edgebind.runtime import Runtime
from edgebind_server.app import create_app

BASE_URL = "http://edgebind.test"

ROOT_KEY = "root-key-for-http-tests"
READER_KEY = "jb_reader_reads-every-namespace"
CACHE_WRITER_KEY = "jb_cachewriter_writes-cache-only"
ALL_KEY = "jb_everything_star-scope"
D1_KEY = "jb_analyst_d1-main-only"
VECTOR_QUERY_KEY = "jb_searcher_queries-vectors"
EXPIRED_KEY = "jb_expired_old-key"
PROD_ONLY_KEY = "jb_prodonly_prod-key"
OFFICE_KEY = "jb_office_office-network-only"
DISABLED_KEY = "jb_disabled_switched-off"
ENV_ROOT_KEY = "root-key-read-from-the-environment"


def _key(kid: str, secret: str, scopes: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "kid": kid,
        "tier": "scoped",
        "scopes": scopes,
        "secret_sha256": sha256_hex(secret),
        **extra,
    }


SERVICE_KEYS: list[dict[str, Any]] = [
    {"kid": "root", "tier": "root", "secret_sha256": sha256_hex(ROOT_KEY)},
    {
        "kid": "envroot",
        "tier": "root",
        "secret_source": "env",
        "secret_ref": "HTTP_TEST_ROOT_KEY",
    },
    _key("reader", READER_KEY, ["kv:namespace:*:read"]),
    _key("cachewriter", CACHE_WRITER_KEY, ["kv:namespace:cache:write"]),
    _key("everything", ALL_KEY, ["*"]),
    _key("analyst", D1_KEY, ["d1:database:main:exec"]),
    _key("searcher", VECTOR_QUERY_KEY, ["vectorize:index:embeddings:query"]),
    _key(
        "expired",
        EXPIRED_KEY,
        ["*"],
        constraints={"expires_at": "2020-01-01T00:00:00Z"},
    ),
    _key("prodonly", PROD_ONLY_KEY, ["*"], constraints={"env": ["prod"]}),
    _key("office", OFFICE_KEY, ["*"], constraints={"ip_cidr": ["10.0.0.0/8"]}),
    _key("disabled", DISABLED_KEY, ["*"], enabled=False),
]


def deny_and_explode(auth: object) -> bool:
    raise RuntimeError("this rule is broken on purpose")


def make_config(data_dir: Path, **overrides: Any) -> EdgebindConfig:
    """The resources every HTTP test uses, on SQLite in ``data_dir``."""
    settings: dict[str, Any] = {
        "kv": {
            "cache": {},
            "my-cache": {},
            "public": {
                "rules": {
                    "read": lambda auth: True,
                    "write": lambda auth: auth is not None,
                }
            },
            "readonly": {"rules": {"read": lambda auth: True}},
            "broken-rule": {"rules": {"read": deny_and_explode}},
        },
        "d1": ["main"],
        "vectorize": [{"name": "embeddings", "dimensions": 3, "metric": "cosine"}],
        "service_keys": SERVICE_KEYS,
        "environments": {
            "dev": {"default": f"sqlite:///{data_dir}"},
            "prod": {"default": f"sqlite:///{data_dir}/prod"},
        },
    }
    settings.update(overrides)
    return define_config(**settings)


# ------------------------------------------------------- failing drivers


class FailingKV(KVNamespace):
    """A KV namespace whose every call fails the way its driver says."""

    mode: ClassVar[str] = "down"

    def _fail(self) -> None:
        if self.mode == "down":
            raise BackendUnavailable(
                "connection refused by 127.0.0.1:1",
                driver="failing",
                binding=self.binding,
            )
        if self.mode == "buggy":
            raise EdgebindError("internal detail: /var/secret/path, password hunter2")
        raise RuntimeError("internal detail: /var/secret/path and password hunter2")

    async def _get(self, key: str) -> str | None:
        self._fail()
        return None

    async def _put(self, key: str, value: str, expires_at: float | None) -> None:
        self._fail()

    async def _delete(self, key: str) -> None:
        self._fail()

    async def _list(self, prefix: str, limit: int, after: str | None) -> KVListPage:
        self._fail()
        return KVListPage()

    async def _ping(self) -> None:
        self._fail()


class CrashingKV(FailingKV):
    mode = "crash"


class BuggyKV(FailingKV):
    mode = "buggy"


class FailingDriver(Driver):
    """``down://`` serves KV namespaces whose backend is unreachable;
    ``crash://`` serves ones that raise an unexpected exception, ``buggy://``
    ones that raise a bare EdgebindError."""

    name = "failing"
    schemes = ("down", "crash", "buggy")
    kinds: ClassVar[frozenset[Kind]] = frozenset({"kv"})

    def open_kv(self, spec: ResourceSpec) -> KVNamespace:
        scheme = self.url.partition("://")[0]
        resource_class = {"crash": CrashingKV, "buggy": BuggyKV}.get(scheme, FailingKV)
        resource = resource_class(spec, clock=self.clock)
        resource.driver_name = self.name
        return resource


def sqlite_registry() -> DriverRegistry:
    """A registry holding the SQLite driver only, loaded through its plugin
    module as the entry point would, so other drivers' state cannot matter."""
    registry = DriverRegistry()
    registry._loaded = True  # no entry points: exactly the plugins added here
    registry.add_plugin(edgebind_sqlite.plugin, name="sqlite")
    return registry


def registry_with_failing_driver() -> DriverRegistry:
    registry = sqlite_registry()
    registry.register(FailingDriver, plugin="tests.http")
    return registry


# --------------------------------------------------------------- clients

ClientFactory = Callable[..., Any]


@asynccontextmanager
async def serve(
    runtime: Runtime, *, client_ip: str = "127.0.0.1"
) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(runtime), client=(client_ip, 4321))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client
    finally:
        # ASGITransport sends no lifespan events, so the runtime is closed here.
        await runtime.aclose()


@pytest.fixture
def environ() -> dict[str, str]:
    return {"HTTP_TEST_ROOT_KEY": ENV_ROOT_KEY}


@pytest.fixture
def make_runtime(
    tmp_path: Path, environ: dict[str, str]
) -> Iterator[Callable[..., Runtime]]:
    def factory(
        env_name: str = "dev",
        *,
        registry: DriverRegistry | None = None,
        **overrides: Any,
    ) -> Runtime:
        return Runtime(
            make_config(tmp_path, **overrides),
            env_name,
            registry=registry or sqlite_registry(),
            environ=environ,
        )

    yield factory


@pytest.fixture
async def client(
    make_runtime: Callable[..., Runtime],
) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_runtime()) as http:
        yield http


def key(secret: str) -> dict[str, str]:
    return {"X-EdgeBase-Service-Key": secret}


ROOT = key(ROOT_KEY)
