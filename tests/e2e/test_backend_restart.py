"""A backend that goes away gives 503 and comes back without a restart.

Runs a private redis-server process, stops it while the app keeps serving,
and starts it again on the same port.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from edgebind.config import define_config
from edgebind.runtime import Runtime
from edgebind_server.app import create_app
from tests.e2e._support import ROOT_KEY
from tests.servers import PrivateRedis

pytest.importorskip("edgebind_redis")


@pytest.fixture
async def redis_process() -> AsyncIterator[PrivateRedis]:
    async with PrivateRedis() as server:
        yield server


@pytest.fixture
async def client(
    redis_process: PrivateRedis, tmp_path: Path
) -> AsyncIterator[httpx.AsyncClient]:
    config = define_config(
        kv={"cache": {"binding": "CACHE_KV"}},
        d1=["main"],
        service_keys=[
            {
                "kid": "root",
                "tier": "root",
                "secret_source": "inline",
                "secret": ROOT_KEY,
            },
        ],
        environments={
            "test": {"default": f"sqlite:///{tmp_path}/data", "kv": redis_process.url},
        },
    )
    runtime = Runtime(config, "test", environ={})
    app = create_app(runtime)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://edgebind.test",
        headers={"X-EdgeBase-Service-Key": ROOT_KEY},
    ) as http:
        yield http
    await runtime.aclose()


async def test_down_backend_is_503_and_recovers(
    client: httpx.AsyncClient, redis_process: PrivateRedis
) -> None:
    body = {"action": "set", "key": "k", "value": "before"}
    assert (await client.post("/api/kv/cache", json=body)).status_code == 200

    await redis_process.stop()

    started = time.monotonic()
    down = await client.post("/api/kv/cache", json={"action": "get", "key": "k"})
    assert down.status_code == 503
    assert time.monotonic() - started < 10, "a dead backend must not hang a request"
    message = down.json()["message"]
    assert "CACHE_KV" in message and "redis" in message

    health = await client.get("/api/health")
    assert health.status_code == 503
    by_binding = {b["binding"]: b for b in health.json()["bindings"]}
    assert by_binding["CACHE_KV"]["ok"] is False
    assert by_binding["MAIN_DB"]["ok"] is True

    # D1 on SQLite keeps serving while the KV backend is down.
    d1 = await client.post("/api/d1/main", json={"query": "SELECT 1 AS one"})
    assert d1.status_code == 200

    await redis_process.start()

    deadline = time.monotonic() + 15
    while True:
        again = await client.post(
            "/api/kv/cache", json={"action": "set", "key": "k", "value": "after"}
        )
        if again.status_code == 200 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert again.status_code == 200, again.text

    got = await client.post("/api/kv/cache", json={"action": "get", "key": "k"})
    assert got.json() == {"value": "after"}
    assert (await client.get("/api/health")).status_code == 200
