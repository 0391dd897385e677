"""GET /api/health, /openapi.json and /docs."""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from edgebind.errors import ResourceClosed
from edgebind.runtime import Runtime
from edgebind_server import schemas
from edgebind_server.app import create_app
from tests.http.conftest import ROOT, ROOT_KEY, registry_with_failing_driver, serve


async def test_health_lists_every_binding_and_is_200_when_all_are_up(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is True
    names = {(item["kind"], item["name"]) for item in body["bindings"]}
    assert ("kv", "cache") in names
    assert ("d1", "main") in names
    assert ("vectorize", "embeddings") in names
    cache = next(item for item in body["bindings"] if item["name"] == "cache")
    assert cache["binding"] == "CACHE_KV"
    assert cache["driver"] == "sqlite"
    assert cache["ok"] is True


async def test_health_is_503_when_a_binding_is_down_and_still_lists_all(
    make_runtime: Callable[..., Runtime], environ: dict[str, str]
) -> None:
    environ["CACHE_KV"] = "down://127.0.0.1:1"
    runtime = make_runtime(registry=registry_with_failing_driver())
    async with serve(runtime) as http:
        response = await http.get("/api/health")
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["ok"] is False
    by_name = {item["name"]: item for item in body["bindings"]}
    assert by_name["cache"]["ok"] is False
    assert by_name["cache"]["driver"] == "failing"
    assert "connection refused" in by_name["cache"]["error"]
    assert by_name["main"]["ok"] is True


def _refs(node: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(node, dict):
        for name, value in node.items():
            if name == "$ref" and isinstance(value, str):
                found.add(value)
            else:
                found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


async def test_openapi_document_is_complete_and_self_consistent(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    assert document["info"]["title"] == "Edgebind"

    paths = document["paths"]
    for path in ("/api/kv/{namespace}", "/api/d1/{database}", "/api/vectorize/{index}"):
        operation = paths[path]["post"]
        assert operation["requestBody"]["required"] is True
        assert {"200", "400", "401", "403", "404", "413", "503"} <= set(
            operation["responses"]
        )
        parameter = operation["parameters"][0]
        assert parameter["in"] == "path" and parameter["required"] is True
        assert "{" + parameter["name"] + "}" in path
    assert "409" in paths["/api/vectorize/{index}"]["post"]["responses"]
    assert "get" in paths["/api/health"]

    components = document["components"]["schemas"]
    for ref in _refs(document):
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in components

    kv_request = paths["/api/kv/{namespace}"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert kv_request["discriminator"]["propertyName"] == "action"
    assert set(kv_request["discriminator"]["mapping"]) == set(schemas.KV_ACTIONS)
    vec_request = paths["/api/vectorize/{index}"]["post"]["requestBody"]["content"][
        "application/json"
    ]["schema"]
    assert set(vec_request["discriminator"]["mapping"]) == set(
        schemas.VECTORIZE_ACTIONS
    )
    # The camelCase wire names are what the document describes.
    assert "topK" in components["VectorizeSearch"]["properties"]
    assert "mutationId" in components["MutationBody"]["properties"]
    assert set(document["components"]["securitySchemes"]) == {"serviceKey", "bearer"}
    assert (
        document["components"]["securitySchemes"]["serviceKey"]["name"]
        == "X-EdgeBase-Service-Key"
    )


async def test_docs_is_html_listing_the_endpoints_without_javascript(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/docs")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert page.startswith("<!doctype html>")
    assert 'href="openapi.json"' in page
    for path in ("/api/kv/{namespace}", "/api/d1/{database}", "/api/health"):
        assert path in page


async def test_head_requests_have_no_body(client: httpx.AsyncClient) -> None:
    response = await client.head("/openapi.json")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


class _Channel:
    """Feeds ASGI messages to the app and records what it sends back."""

    def __init__(self, *incoming: dict[str, Any]) -> None:
        self.incoming = list(incoming)
        self.sent: list[dict[str, Any]] = []

    async def receive(self) -> dict[str, Any]:
        return self.incoming.pop(0)

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(dict(message))


async def test_lifespan_completes_and_shutdown_closes_the_runtime(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime()
    channel = _Channel({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    await create_app(runtime)({"type": "lifespan"}, channel.receive, channel.send)
    assert [m["type"] for m in channel.sent] == [
        "lifespan.startup.complete",
        "lifespan.shutdown.complete",
    ]
    with pytest.raises(ResourceClosed):
        await runtime.kv("cache").get("k")


async def test_lifespan_reports_a_failing_close(
    make_runtime: Callable[..., Runtime], monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = make_runtime()
    real_aclose = runtime.aclose

    async def failing_aclose() -> None:
        await real_aclose()
        raise OSError("disk went away")

    monkeypatch.setattr(runtime, "aclose", failing_aclose)
    channel = _Channel({"type": "lifespan.startup"}, {"type": "lifespan.shutdown"})
    await create_app(runtime)({"type": "lifespan"}, channel.receive, channel.send)
    assert channel.sent[-1] == {
        "type": "lifespan.shutdown.failed",
        "message": "disk went away",
    }


async def test_client_that_disconnects_before_its_body_gets_no_answer(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/kv/cache",
        "raw_path": b"/api/kv/cache",
        "headers": [(b"x-edgebase-service-key", ROOT_KEY.encode())],
        "client": ("127.0.0.1", 1),
    }
    channel = _Channel({"type": "http.disconnect"})
    try:
        await create_app(runtime)(scope, channel.receive, channel.send)
    finally:
        await runtime.aclose()
    assert channel.sent == []


async def test_openapi_document_passes_the_openapi_validator(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()

    # Raises with the offending path when the document breaks the 3.1 schema.
    validate(document)


@pytest.mark.parametrize(
    ("path", "bodies"),
    [
        (
            "/api/kv/cache",
            [
                {"action": "set", "key": "k", "value": "v"},
                {"action": "get", "key": "k"},
                {"action": "list"},
                {"action": "delete", "key": "k"},
            ],
        ),
        ("/api/d1/main", [{"query": "SELECT 1 AS one"}]),
        (
            "/api/vectorize/embeddings",
            [
                {"action": "upsert", "vectors": [{"id": "a", "values": [1, 0, 0]}]},
                {"action": "search", "vector": [1, 0, 0], "returnMetadata": "all"},
                {"action": "getByIds", "ids": ["a"]},
                {"action": "describe"},
                {"action": "delete", "ids": ["a"]},
            ],
        ),
    ],
)
async def test_every_answer_matches_its_documented_schema(
    client: httpx.AsyncClient, path: str, bodies: list[dict[str, Any]]
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"][path.rsplit("/", 1)[0] + "/" + _PARAM[path]]
    documented = operation["post"]["responses"]["200"]["content"]["application/json"]
    # Refs point into the document's components; validate with them in scope.
    schema = {**documented["schema"], "components": document["components"]}
    validator = Draft202012Validator(schema)

    for body in bodies:
        response = await client.post(path, json=body, headers=ROOT)
        assert response.status_code == 200, response.text
        validator.validate(response.json())


_PARAM = {
    "/api/kv/cache": "{namespace}",
    "/api/d1/main": "{database}",
    "/api/vectorize/embeddings": "{index}",
}
