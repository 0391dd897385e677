"""413 for oversized bodies, by Content-Length before reading and by counting
a chunked body while it streams; and the router's 404/405."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx

from edgebind.runtime import Runtime
from tests.http.conftest import ROOT, serve
from tests.http.test_status_order import assert_error

LIMIT = 1024
KV = "/api/kv/cache"


async def test_content_length_over_the_limit_is_413_before_reading(
    make_runtime: Callable[..., Runtime],
) -> None:
    pulled = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal pulled
        pulled += 1
        yield b"x" * (LIMIT + 1)

    async with serve(make_runtime(max_body_bytes=LIMIT)) as http:
        response = await http.post(
            KV,
            content=body(),
            headers={**ROOT, "Content-Length": str(LIMIT + 1)},
        )
    assert_error(response, 413, str(LIMIT), "max_body_bytes")
    assert response.headers["connection"] == "close"
    assert pulled == 0


async def test_chunked_body_over_the_limit_is_413_without_reading_it_all(
    make_runtime: Callable[..., Runtime],
) -> None:
    chunk = b"x" * 100
    pulled = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal pulled
        while pulled < 10_000:
            pulled += 1
            yield chunk

    async with serve(make_runtime(max_body_bytes=LIMIT)) as http:
        response = await http.post(KV, content=endless(), headers=ROOT)
    assert_error(response, 413)
    assert "content-length" not in response.request.headers
    # The server stopped pulling chunks right after passing the limit.
    assert pulled <= LIMIT // len(chunk) + 2


async def test_chunked_body_under_the_limit_is_read_whole(
    make_runtime: Callable[..., Runtime],
) -> None:
    parts = [b'{"action": "set", ', b'"key": "k", ', b'"value": "chunked"}']

    async def chunks() -> AsyncIterator[bytes]:
        for part in parts:
            yield part

    async with serve(make_runtime(max_body_bytes=LIMIT)) as http:
        response = await http.post(KV, content=chunks(), headers=ROOT)
        assert response.status_code == 200, response.text
        got = await http.post(KV, json={"action": "get", "key": "k"}, headers=ROOT)
    assert got.json() == {"value": "chunked"}


async def test_body_exactly_at_the_limit_is_accepted(
    make_runtime: Callable[..., Runtime],
) -> None:
    prefix = b'{"action": "set", "key": "k", "value": "'
    suffix = b'"}'
    raw = prefix + b"v" * (LIMIT - len(prefix) - len(suffix)) + suffix
    assert len(raw) == LIMIT
    async with serve(make_runtime(max_body_bytes=LIMIT)) as http:
        response = await http.post(KV, content=raw, headers=ROOT)
    assert response.status_code == 200, response.text


async def test_oversized_body_without_key_is_403_not_413(
    make_runtime: Callable[..., Runtime],
) -> None:
    async with serve(make_runtime(max_body_bytes=LIMIT)) as http:
        response = await http.post(KV, content=b"x" * (LIMIT * 2))
    assert_error(response, 403)


async def test_bad_content_length_is_400(client: httpx.AsyncClient) -> None:
    async def body() -> AsyncIterator[bytes]:
        yield b"{}"

    response = await client.post(
        KV, content=body(), headers={**ROOT, "Content-Length": "lots"}
    )
    assert_error(response, 400, "Content-Length")


async def test_unknown_route_is_404_listing_the_routes(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/kv", json={}, headers=ROOT)
    assert_error(response, 404, "/api/kv/{namespace}")
    response = await client.get("/nothing")
    assert_error(response, 404)
    response = await client.post("/api/kv/cache/extra", json={}, headers=ROOT)
    assert_error(response, 404)


async def test_wrong_method_is_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.get(KV, headers=ROOT)
    assert_error(response, 405, "POST")
    assert response.headers["allow"] == "POST"

    response = await client.post("/api/health")
    assert_error(response, 405)
    assert response.headers["allow"] == "GET, HEAD"
