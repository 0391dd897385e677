"""The async admin client, in process through httpx's ASGI transport."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgebind.client import AsyncAdminClient, EdgebindAPIError
from edgebind.runtime import Runtime
from tests.client.live_server import ROOT_KEY, make_config
from tests.servers import serve_in_thread


async def test_kv_round_trip(async_admin: AsyncAdminClient) -> None:
    cache = async_admin.kv("cache")
    await cache.set("a", "1", ttl=60)
    await cache.set("b", "2")

    assert await cache.get("a") == "1"
    assert await cache.list(prefix="a") == {"keys": ["a"], "cursor": None}

    await cache.delete("a")
    assert await cache.get("a") is None


async def test_d1(async_admin: AsyncAdminClient) -> None:
    main = async_admin.d1("main")
    await main.exec("CREATE TABLE t (x)")
    result = await main.run("INSERT INTO t VALUES (?)", [7])
    assert result["meta"]["changes"] == 1
    assert await main.query("SELECT x FROM t") == [{"x": 7}]


async def test_vectorize(async_admin: AsyncAdminClient) -> None:
    index = async_admin.vectorize("embeddings")
    await index.upsert([{"id": "a", "values": [1, 0, 0], "metadata": {"t": 1}}])
    await index.insert([{"id": "b", "values": [0, 1, 0], "namespace": "n"}])

    with pytest.raises(EdgebindAPIError) as duplicate:
        await index.insert([{"id": "b", "values": [0, 1, 0]}])
    assert duplicate.value.status == 409

    matches = await index.search(
        [1, 0, 0], top_k=1, filter={"t": {"$gte": 1}}, return_metadata="all"
    )
    assert matches == [{"id": "a", "score": pytest.approx(1.0), "metadata": {"t": 1}}]
    namespaced = await index.query_by_id("b", namespace="n", return_values=True)
    assert [(m["id"], m["values"]) for m in namespaced] == [("b", [0.0, 1.0, 0.0])]

    assert [v["id"] for v in await index.get_by_ids(["b"])] == ["b"]
    assert (await index.delete(["a", "b"]))["count"] == 2
    assert (await index.describe())["vectorCount"] == 0


async def test_error_status(async_admin: AsyncAdminClient) -> None:
    with pytest.raises(EdgebindAPIError) as empty_query:
        await async_admin.d1("main").exec("   ")
    assert empty_query.value.status == 400


async def test_over_real_http(tmp_path: Path) -> None:
    with serve_in_thread(Runtime(make_config(tmp_path), "dev")) as url:
        async with AsyncAdminClient(url, ROOT_KEY) as admin:
            await admin.kv("cache").set("k", "v")
            assert await admin.kv("cache").get("k") == "v"


Send = Callable[[dict[str, Any]], Awaitable[None]]


def _fixed_answer(status: int, content_type: bytes, body: bytes) -> Any:
    """An ASGI app that answers every request the same way, as a proxy or
    some other server in front of the URL might."""

    async def app(scope: dict[str, Any], receive: Any, send: Send) -> None:
        headers = [(b"content-type", content_type)]
        await send(
            {"type": "http.response.start", "status": status, "headers": headers}
        )
        await send({"type": "http.response.body", "body": body})

    return app


async def test_error_page_that_is_not_json() -> None:
    app = _fixed_answer(502, b"text/html", b"<h1>Bad gateway</h1>")
    transport = httpx.ASGITransport(app=app)
    async with AsyncAdminClient("http://proxy.test", "k", transport=transport) as c:
        with pytest.raises(EdgebindAPIError) as bad_gateway:
            await c.kv("cache").get("k")
    assert bad_gateway.value.status == 502
    assert "Bad gateway" in bad_gateway.value.message


async def test_success_that_is_not_a_json_object() -> None:
    app = _fixed_answer(200, b"application/json", b"[1, 2]")
    transport = httpx.ASGITransport(app=app)
    async with AsyncAdminClient("http://other.test", "k", transport=transport) as c:
        with pytest.raises(EdgebindAPIError) as not_edgebind:
            await c.d1("main").exec("SELECT 1")
    assert not_edgebind.value.status == 200
    assert "is this an Edgebind server?" in not_edgebind.value.message
