"""Successful calls: the response shapes of DESIGN §3, and the backend's own
statuses (404 unknown vector, 409 conflict, 503 unreachable, 500 unexpected)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from edgebind.runtime import Runtime
from tests.http.conftest import ROOT, registry_with_failing_driver, serve
from tests.http.test_status_order import assert_error

KV = "/api/kv/cache"
D1 = "/api/d1/main"
VEC = "/api/vectorize/embeddings"


async def call(client: httpx.AsyncClient, path: str, body: Any) -> Any:
    response = await client.post(path, json=body, headers=ROOT)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


# -------------------------------------------------------------------- KV


async def test_kv_set_get_delete(client: httpx.AsyncClient) -> None:
    assert await call(client, KV, {"action": "get", "key": "a"}) == {"value": None}
    assert await call(
        client, KV, {"action": "set", "key": "a", "value": "1", "ttl": 300}
    ) == {"ok": True}
    assert await call(client, KV, {"action": "get", "key": "a"}) == {"value": "1"}
    assert await call(
        client, KV, {"action": "set", "key": "a", "value": "2", "ttl": None}
    ) == {"ok": True}
    assert await call(client, KV, {"action": "get", "key": "a"}) == {"value": "2"}
    assert await call(client, KV, {"action": "delete", "key": "a"}) == {"ok": True}
    assert await call(client, KV, {"action": "delete", "key": "a"}) == {"ok": True}
    assert await call(client, KV, {"action": "get", "key": "a"}) == {"value": None}


async def test_kv_list_pages_with_cursor(client: httpx.AsyncClient) -> None:
    for name in ["b", "a", "c", "other"]:
        await call(client, KV, {"action": "set", "key": f"p:{name}", "value": "x"})
    await call(client, KV, {"action": "set", "key": "zzz", "value": "x"})

    first = await call(client, KV, {"action": "list", "prefix": "p:", "limit": 2})
    assert first["keys"] == ["p:a", "p:b"]
    assert isinstance(first["cursor"], str)

    second = await call(
        client,
        KV,
        {"action": "list", "prefix": "p:", "limit": 2, "cursor": first["cursor"]},
    )
    assert second == {"keys": ["p:c", "p:other"], "cursor": None}

    everything = await call(client, KV, {"action": "list"})
    assert everything["keys"] == ["p:a", "p:b", "p:c", "p:other", "zzz"]
    assert everything["cursor"] is None


async def test_kv_namespaces_are_apart(client: httpx.AsyncClient) -> None:
    await call(client, KV, {"action": "set", "key": "shared", "value": "cache"})
    other = await call(client, "/api/kv/my-cache", {"action": "get", "key": "shared"})
    assert other == {"value": None}


# -------------------------------------------------------------------- D1


async def test_d1_statements_and_meta(client: httpx.AsyncClient) -> None:
    await call(client, D1, {"query": "CREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT)"})
    inserted = await call(
        client, D1, {"query": "INSERT INTO t (n) VALUES (?), (?)", "params": ["a", "b"]}
    )
    assert inserted["results"] == []
    assert set(inserted["meta"]) == {
        "changes",
        "duration",
        "rows_read",
        "rows_written",
        "last_row_id",
    }
    assert inserted["meta"]["changes"] == 2
    assert inserted["meta"]["last_row_id"] == 2

    rows = await call(
        client,
        D1,
        {"query": "SELECT id, n FROM t WHERE n <> ? ORDER BY id", "params": [None]},
    )
    assert rows["results"] == []  # comparing with NULL matches nothing
    rows = await call(client, D1, {"query": "SELECT id, n FROM t ORDER BY id"})
    assert rows["results"] == [{"id": 1, "n": "a"}, {"id": 2, "n": "b"}]

    scalars = await call(
        client,
        D1,
        {
            "query": "SELECT ? AS s, ? AS i, ? AS f, ? AS b",
            "params": ["x", 3, 1.5, True],
        },
    )
    assert scalars["results"] == [{"s": "x", "i": 3, "f": 1.5, "b": 1}]


async def test_d1_failing_statement_carries_the_database_text(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        D1, json={"query": "SELECT * FROM missing_table"}, headers=ROOT
    )
    assert_error(response, 400, "missing_table")


# ------------------------------------------------------------- Vectorize


VECTORS = [
    {"id": "x", "values": [1, 0, 0], "metadata": {"genre": "jazz", "year": 2020}},
    {"id": "y", "values": [0, 1, 0], "metadata": {"genre": "rock", "year": 2021}},
    {"id": "z", "values": [0, 0, 1], "namespace": "other"},
]


async def test_vectorize_upsert_search_and_shapes(client: httpx.AsyncClient) -> None:
    upserted = await call(client, VEC, {"action": "upsert", "vectors": VECTORS})
    assert upserted["ok"] is True
    assert upserted["count"] == 3
    assert isinstance(upserted["mutationId"], str) and upserted["mutationId"]

    found = await call(client, VEC, {"action": "search", "vector": [1, 0.1, 0]})
    assert found["count"] == 3 == len(found["matches"])
    best = found["matches"][0]
    assert best["id"] == "x"
    assert set(best) == {"id", "score"}  # nothing asked for, nothing extra
    by_id = {m["id"]: m for m in found["matches"]}
    assert by_id["z"]["namespace"] == "other"

    rich = await call(
        client,
        VEC,
        {
            "action": "search",
            "vector": [1, 0, 0],
            "topK": 1,
            "returnValues": True,
            "returnMetadata": "all",
        },
    )
    assert rich["count"] == 1
    assert rich["matches"][0]["values"] == [1.0, 0.0, 0.0]
    assert rich["matches"][0]["metadata"] == {"genre": "jazz", "year": 2020}


@pytest.mark.parametrize(
    ("option", "included"),
    [(True, True), (False, False), ("all", True), ("indexed", True), ("none", False)],
)
async def test_vectorize_return_metadata_options(
    client: httpx.AsyncClient, option: object, included: bool
) -> None:
    await call(client, VEC, {"action": "upsert", "vectors": VECTORS[:1]})
    found = await call(
        client,
        VEC,
        {"action": "search", "vector": [1, 0, 0], "returnMetadata": option},
    )
    match = found["matches"][0]
    assert ("metadata" in match) is included
    assert "values" not in match


async def test_vectorize_filter_namespace_and_query_by_id(
    client: httpx.AsyncClient,
) -> None:
    await call(client, VEC, {"action": "upsert", "vectors": VECTORS})

    jazz = await call(
        client,
        VEC,
        {"action": "search", "vector": [0, 1, 0], "filter": {"genre": "jazz"}},
    )
    assert [m["id"] for m in jazz["matches"]] == ["x"]

    recent = await call(
        client,
        VEC,
        {"action": "search", "vector": [1, 0, 0], "filter": {"year": {"$gte": 2021}}},
    )
    assert [m["id"] for m in recent["matches"]] == ["y"]

    other = await call(
        client, VEC, {"action": "search", "vector": [1, 0, 0], "namespace": "other"}
    )
    assert [m["id"] for m in other["matches"]] == ["z"]

    near = await call(client, VEC, {"action": "queryById", "vectorId": "y", "topK": 2})
    assert near["matches"][0]["id"] == "y"
    assert near["count"] == 2


async def test_vectorize_batch_namespace_applies_to_vectors_without_one(
    client: httpx.AsyncClient,
) -> None:
    await call(
        client,
        VEC,
        {
            "action": "upsert",
            "namespace": "batch",
            "vectors": [
                {"id": "n1", "values": [1, 1, 0]},
                {"id": "n2", "values": [1, 0, 1], "namespace": "own"},
            ],
        },
    )
    stored = await call(client, VEC, {"action": "getByIds", "ids": ["n1", "n2"]})
    assert [v.get("namespace") for v in stored["vectors"]] == ["batch", "own"]


async def test_vectorize_get_delete_describe(client: httpx.AsyncClient) -> None:
    await call(client, VEC, {"action": "upsert", "vectors": VECTORS})

    got = await call(client, VEC, {"action": "getByIds", "ids": ["z", "nope", "x"]})
    assert got["vectors"] == [
        {"id": "z", "values": [0.0, 0.0, 1.0], "namespace": "other"},
        {
            "id": "x",
            "values": [1.0, 0.0, 0.0],
            "metadata": {"genre": "jazz", "year": 2020},
        },
    ]

    described = await call(client, VEC, {"action": "describe"})
    assert described["vectorCount"] == 3
    assert described["dimensions"] == 3
    assert described["metric"] == "cosine"
    assert "processedUpToMutation" in described
    assert "processedUpToDatetime" in described

    deleted = await call(client, VEC, {"action": "delete", "ids": ["x", "nope"]})
    assert deleted["ok"] is True and deleted["count"] == 1
    assert isinstance(deleted["mutationId"], str)
    assert (await call(client, VEC, {"action": "describe"}))["vectorCount"] == 2


async def test_vectorize_insert_existing_id_is_409(client: httpx.AsyncClient) -> None:
    inserted = await call(client, VEC, {"action": "insert", "vectors": VECTORS[:1]})
    assert inserted["count"] == 1

    response = await client.post(
        VEC, json={"action": "insert", "vectors": VECTORS[:2]}, headers=ROOT
    )
    assert_error(response, 409, "'x'", "upsert")
    # Nothing of the conflicting batch was written.
    got = await call(client, VEC, {"action": "getByIds", "ids": ["y"]})
    assert got["vectors"] == []


async def test_query_by_unknown_id_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        VEC, json={"action": "queryById", "vectorId": "ghost"}, headers=ROOT
    )
    assert_error(response, 404, "'ghost'")


# ----------------------------------------------------------- 503 and 500


async def test_unreachable_backend_is_503_naming_driver_and_binding(
    make_runtime: Callable[..., Runtime], environ: dict[str, str]
) -> None:
    environ["CACHE_KV"] = "down://127.0.0.1:1"
    runtime = make_runtime(registry=registry_with_failing_driver())
    async with serve(runtime) as http:
        response = await http.post(KV, json={"action": "get", "key": "k"}, headers=ROOT)
        assert_error(response, 503, "failing", "CACHE_KV")

        # The server keeps serving everything else.
        ok = await http.post(D1, json={"query": "SELECT 1 AS one"}, headers=ROOT)
        assert ok.status_code == 200, ok.text


@pytest.mark.parametrize("scheme", ["crash", "buggy"])
async def test_unexpected_exception_is_500_without_internals(
    make_runtime: Callable[..., Runtime],
    environ: dict[str, str],
    caplog: pytest.LogCaptureFixture,
    scheme: str,
) -> None:
    environ["CACHE_KV"] = f"{scheme}://anywhere"
    runtime = make_runtime(registry=registry_with_failing_driver())
    async with serve(runtime) as http:
        with caplog.at_level(logging.ERROR, logger="edgebind_server.app"):
            response = await http.post(
                KV, json={"action": "get", "key": "k"}, headers=ROOT
            )
    message = assert_error(response, 500, "server log")
    assert "hunter2" not in message and "/var/secret" not in message
    logged = [r for r in caplog.records if r.name == "edgebind_server.app"]
    assert logged and logged[0].exc_info is not None
    assert ROOT["X-EdgeBase-Service-Key"] not in caplog.text


async def test_index_stored_with_other_dimensions_is_503_naming_both(
    make_runtime: Callable[..., Runtime],
) -> None:
    upsert = {
        "action": "upsert",
        "vectors": [{"id": "a", "values": [1.0, 0.0, 0.0]}],
    }
    async with serve(make_runtime()) as http:
        stored = await http.post("/api/vectorize/embeddings", json=upsert, headers=ROOT)
        assert stored.status_code == 200, stored.text

    # The same folder, now declaring 4 dimensions for the index.
    wider = [{"name": "embeddings", "dimensions": 4, "metric": "cosine"}]
    async with serve(make_runtime(vectorize=wider)) as http:
        response = await http.post(
            "/api/vectorize/embeddings",
            json={"action": "search", "vector": [1.0, 0.0, 0.0, 0.0]},
            headers=ROOT,
        )

    assert response.status_code == 503, response.text
    message = response.json()["message"]
    assert "dimensions=3" in message and "dimensions=4" in message, message
    # Callers learn what differs, not where the server keeps its files.
    assert "sqlite3" not in message and "/" not in message, message
