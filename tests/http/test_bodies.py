"""Step 4 of the order: bodies that are not JSON or not a valid request → 400,
and the backend's own refusals of arguments → 400."""

from __future__ import annotations

import httpx
import pytest

from tests.http.conftest import ROOT
from tests.http.test_status_order import assert_error

KV = "/api/kv/cache"
D1 = "/api/d1/main"
VEC = "/api/vectorize/embeddings"


@pytest.mark.parametrize(
    ("path", "raw"),
    [
        (KV, b'{"action": "get", "key": NaN}'),
        (KV, b'{"action": "set", "key": "k", "value": "v", "ttl": Infinity}'),
        (KV, b'{"action": "get", "key": -Infinity}'),
        (KV, b"{not json"),
        (KV, b""),
        (KV, b'{"action": "get", "key": "k"} trailing'),
        (D1, b'{"query": "SELECT ?", "params": [NaN]}'),
        (VEC, b'{"action": "search", "vector": [NaN, 0, 1]}'),
    ],
)
async def test_body_that_is_not_json_is_400(
    client: httpx.AsyncClient, path: str, raw: bytes
) -> None:
    response = await client.post(path, content=raw, headers=ROOT)
    assert_error(response, 400, "not valid JSON")


async def test_unknown_action_lists_the_valid_ones(client: httpx.AsyncClient) -> None:
    response = await client.post(KV, json={"action": "fetch"}, headers=ROOT)
    assert_error(response, 400, "'fetch'", "get, set, delete, list")

    response = await client.post(VEC, json={"action": "query"}, headers=ROOT)
    assert_error(response, 400, "'query'", "queryById", "describe")


async def test_action_of_the_wrong_type_is_an_unknown_action(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(KV, json={"action": 5}, headers=ROOT)
    assert_error(response, 400, "unknown action 5", "get, set, delete, list")


@pytest.mark.parametrize("body", [{"key": "k"}, {"action": None}])
async def test_missing_action_says_how_to_fix(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post(KV, json=body, headers=ROOT)
    assert_error(response, 400, "action", "get, set, delete, list")


@pytest.mark.parametrize(
    ("path", "body", "fragments"),
    [
        (KV, [1, 2], ("Expected `object`, got `array`",)),
        (KV, {"action": "get"}, ("missing required field `key`",)),
        (KV, {"action": "get", "key": 7}, ("Expected `str`, got `int`", "`$.key`")),
        (KV, {"action": "set", "key": "k"}, ("`value`",)),
        (KV, {"action": "set", "key": "k", "value": 5}, ("`$.value`",)),
        (KV, {"action": "set", "key": "k", "value": "v", "ttl": 1.5}, ("`$.ttl`",)),
        (KV, {"action": "set", "key": "k", "value": "v", "ttl": 300.0}, ("`$.ttl`",)),
        (KV, {"action": "set", "key": "k", "value": "v", "ttl": "300"}, ("`$.ttl`",)),
        (KV, {"action": "list", "limit": 0}, ("`$.limit`", ">= 1")),
        (KV, {"action": "list", "limit": 1001}, ("`$.limit`", "<= 1000")),
        (KV, {"action": "list", "limit": True}, ("`$.limit`",)),
        (D1, {}, ("`query`",)),
        (D1, {"query": 1}, ("`$.query`",)),
        (D1, {"query": "SELECT ?", "params": {"a": 1}}, ("`$.params`",)),
        (D1, {"query": "SELECT ?", "params": [[1]]}, ("`$.params[0]`",)),
        (VEC, {"action": "search"}, ("`vector`",)),
        (VEC, {"action": "search", "vector": [1, 0, 0], "topK": 0}, ("`$.topK`",)),
        (VEC, {"action": "search", "vector": [1, 0, 0], "topK": 101}, ("`$.topK`",)),
        (
            VEC,
            {"action": "search", "vector": [1, 0, 0], "returnMetadata": "some"},
            ("`$.returnMetadata`",),
        ),
        (VEC, {"action": "search", "vector": ["a", 0, 0]}, ("`$.vector[0]`",)),
        (VEC, {"action": "getByIds", "ids": "a"}, ("`$.ids`",)),
        (VEC, {"action": "upsert", "vectors": [{"id": "a"}]}, ("`values`",)),
        (VEC, {"action": "queryById"}, ("`vectorId`",)),
    ],
)
async def test_missing_or_ill_typed_field_is_400_with_its_path(
    client: httpx.AsyncClient, path: str, body: object, fragments: tuple[str, ...]
) -> None:
    response = await client.post(path, json=body, headers=ROOT)
    message = assert_error(response, 400, "invalid request body", *fragments)
    assert "openapi.json" in message


async def test_number_too_large_for_a_float_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        VEC, content=b'{"action": "search", "vector": [1e400, 0, 1]}', headers=ROOT
    )
    assert_error(response, 400, "`$.vector[0]`")


def _upsert(values: list[float], **extra: object) -> dict[str, object]:
    return {"action": "upsert", "vectors": [{"id": "a", "values": values, **extra}]}


def _nested(depth: int) -> dict[str, object]:
    tree: dict[str, object] = {"leaf": 1}
    for _ in range(depth - 1):
        tree = {"n": tree}
    return tree


@pytest.mark.parametrize(
    ("path", "body", "fragment"),
    [
        (KV, {"action": "get", "key": ""}, "key must not be empty"),
        (KV, {"action": "get", "key": "k" * 513}, "limit is 512"),
        (KV, {"action": "set", "key": "k", "value": "v", "ttl": 0}, "ttl"),
        (KV, {"action": "list", "cursor": "garbage"}, "cursor"),
        (D1, {"query": "   "}, "query is empty"),
        (D1, {"query": ""}, "query is empty"),
        (D1, {"query": "SELEKT nonsense"}, "syntax"),
        (VEC, {"action": "upsert", "vectors": []}, "vectors is empty"),
        (VEC, {"action": "insert", "vectors": []}, "vectors is empty"),
        (VEC, {"action": "getByIds", "ids": []}, "ids is empty"),
        (VEC, {"action": "delete", "ids": []}, "ids is empty"),
        (
            VEC,
            {"action": "upsert", "vectors": [{"id": "a", "values": [1, 0]}]},
            "has 2 dimensions",
        ),
        (VEC, {"action": "search", "vector": [1, 0, 0, 0]}, "has 4 dimensions"),
        (
            VEC,
            {"action": "search", "vector": [1, 0, 0], "filter": {"n": {"$like": 1}}},
            "unknown operator '$like'",
        ),
        (
            VEC,
            {"action": "search", "vector": [1, 0, 0], "filter": {"n": {"$in": []}}},
            "non-empty list",
        ),
        # One second past 100 years: refused, never an overflow in a backend.
        (
            KV,
            {"action": "set", "key": "k", "value": "v", "ttl": 3_153_600_001},
            "at most 3153600000 seconds",
        ),
        # Finite as doubles, but not as the 32-bit floats an index stores.
        (VEC, _upsert([1e39, 1, 1]), "beyond the range of 32-bit floats"),
        (VEC, _upsert([1e-46, 0, 0]), "all zeros (as 32-bit floats)"),
        (VEC, _upsert([1, 0, 0], metadata={"n": 2**70}), "beyond 64 bits"),
        (
            VEC,
            {"action": "search", "vector": [1, 0, 0], "filter": {"n": {"$gt": 2**70}}},
            "beyond 64 bits",
        ),
        (VEC, _upsert([1, 0, 0], metadata=_nested(40)), "deeper than 32 levels"),
    ],
)
async def test_arguments_the_resource_refuses_are_400(
    client: httpx.AsyncClient, path: str, body: object, fragment: str
) -> None:
    response = await client.post(path, json=body, headers=ROOT)
    assert_error(response, 400, fragment)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        (KV, {"action": "set", "key": "k", "value": "v", "tll": 60}, "`tll`"),
        (D1, {"query": "SELECT 1", "param": [1]}, "`param`"),
        (VEC, {"action": "search", "vector": [1, 0, 0], "top_k": 3}, "`top_k`"),
        (
            VEC,
            {
                "action": "upsert",
                "vectors": [{"id": "a", "values": [1, 0, 0], "meta": {}}],
            },
            "`meta`",
        ),
    ],
)
async def test_unknown_field_is_400_naming_it(
    client: httpx.AsyncClient, path: str, body: object, field: str
) -> None:
    # A misspelt optional field must not be dropped silently: "tll" would
    # otherwise store a value that never expires.
    response = await client.post(path, json=body, headers=ROOT)
    assert_error(response, 400, "unknown field", field)


async def test_body_nested_past_the_parsers_depth_is_400(
    client: httpx.AsyncClient,
) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    raw = b'{"action": "upsert", "vectors": [{"id": "a", "values": [1, 0, 0], '
    raw += b'"metadata": {"x": ' + deep + b"}}]}"

    response = await client.post(VEC, content=raw, headers=ROOT)

    assert_error(response, 400, "nests arrays or objects too deeply")
