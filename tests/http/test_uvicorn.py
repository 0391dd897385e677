"""The app behind a real uvicorn server (httptools, lifespan on), on a free
loopback port: real sockets, real percent-encoded paths, the EdgeBase Admin SDK
unchanged, and the lifespan closing the runtime."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator

import httpx
import pytest
from edgebase_admin import AdminClient
from edgebase_core.errors import EdgeBaseError

from edgebind.errors import ResourceClosed
from edgebind.runtime import Runtime
from tests.http.conftest import ROOT, ROOT_KEY
from tests.servers import serve_in_thread


@pytest.fixture
def served(make_runtime: Callable[..., Runtime]) -> Iterator[tuple[str, Runtime]]:
    runtime = make_runtime(max_body_bytes=4096)
    with serve_in_thread(runtime, http="httptools") as url:
        yield url, runtime


def test_real_http_round_trip_and_status_order(served: tuple[str, Runtime]) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as http:
        put = http.post(
            "/api/kv/my%2Dcache",
            json={"action": "set", "key": "k", "value": "over the wire"},
            headers=ROOT,
        )
        assert put.status_code == 200, put.text
        got = http.post(
            "/api/kv/my-cache", json={"action": "get", "key": "k"}, headers=ROOT
        )
        assert got.json() == {"value": "over the wire"}

        assert http.post("/api/kv/nowhere", json={}).status_code == 403
        assert (
            http.post(
                "/api/kv/nowhere", json={}, headers={"X-EdgeBase-Service-Key": "wrong"}
            ).status_code
            == 401
        )
        assert http.post("/api/kv/nowhere", json={}, headers=ROOT).status_code == 404
        nan = http.post(
            "/api/kv/cache", content=b'{"action":"get","key":NaN}', headers=ROOT
        )
        assert nan.status_code == 400
        assert http.get("/api/health").status_code == 200
        assert http.get("/openapi.json").json()["openapi"] == "3.1.0"


def test_oversized_bodies_are_413_over_real_sockets(
    served: tuple[str, Runtime],
) -> None:
    url, _ = served
    with httpx.Client(base_url=url) as http:
        declared = http.post("/api/kv/cache", content=b"x" * 8192, headers=ROOT)
        assert declared.status_code == 413
        assert declared.json()["code"] == 413

    def chunks() -> Iterator[bytes]:
        for _ in range(8):
            yield b"x" * 1024

    with httpx.Client(base_url=url) as http:
        try:
            streamed = http.post("/api/kv/cache", content=chunks(), headers=ROOT)
        except httpx.TransportError:
            # The server may close the socket while the client still writes;
            # it must never have accepted the body, which the next call shows.
            pass
        else:
            assert streamed.status_code == 413

    with httpx.Client(base_url=url) as http:
        alive = http.post(
            "/api/kv/cache", json={"action": "get", "key": "k"}, headers=ROOT
        )
        assert alive.status_code == 200


def test_edgebase_admin_sdk_works_unchanged(served: tuple[str, Runtime]) -> None:
    url, _ = served
    admin = AdminClient(url, service_key=ROOT_KEY)

    kv = admin.kv("cache")
    kv.set("greeting", "hello", ttl=300)
    assert kv.get("greeting") == "hello"
    assert kv.list(prefix="gr") == {"keys": ["greeting"], "cursor": None}
    kv.delete("greeting")
    assert kv.get("greeting") is None

    d1 = admin.d1("main")
    d1.exec("CREATE TABLE notes (body TEXT)")
    d1.exec("INSERT INTO notes VALUES (?)", ["first"])
    assert d1.exec("SELECT body FROM notes") == [{"body": "first"}]

    index = admin.vector("embeddings")
    index.upsert([{"id": "a", "values": [1, 0, 0], "metadata": {"tag": "x"}}])
    matches = index.search([1, 0, 0], top_k=1, return_metadata="all")
    assert matches[0]["id"] == "a" and matches[0]["metadata"] == {"tag": "x"}
    assert index.get_by_ids(["a"])[0]["values"] == [1.0, 0.0, 0.0]
    assert index.describe()["vectorCount"] == 1

    with pytest.raises(EdgeBaseError) as failure:
        index.insert([{"id": "a", "values": [1, 0, 0]}])
    assert failure.value.status_code == 409
    assert "upsert" in failure.value.message

    with pytest.raises(EdgeBaseError) as missing:
        admin.kv("nowhere").get("k")
    assert missing.value.status_code == 404


def test_lifespan_shutdown_closes_the_runtime(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime()
    with serve_in_thread(runtime, http="httptools") as url:
        assert httpx.get(f"{url}/api/health").status_code == 200

    with pytest.raises(ResourceClosed):
        asyncio.run(runtime.kv("cache").get("k"))
