"""The OpenAPI 3.1 document and the ``/docs`` page.

Schemas come from ``msgspec.json.schema_components`` over the very Structs
the server decodes and encodes with (``schemas.py``), so the document always
describes what the server really accepts. OpenAPI 3.1 uses JSON Schema 2020-12,
which is what msgspec emits, so the schemas go in unchanged.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any, Final

import msgspec

from edgebind_server import schemas

__all__ = ["ENDPOINTS", "Endpoint", "build_document", "docs_page"]

_REF: Final = "#/components/schemas/{name}"
_NAME_PATTERN: Final = "^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"


@dataclass(frozen=True, slots=True)
class Endpoint:
    method: str
    path: str
    summary: str


ENDPOINTS: Final[tuple[Endpoint, ...]] = (
    Endpoint("POST", "/api/kv/{namespace}", "KV: get, set, delete, list"),
    Endpoint("POST", "/api/d1/{database}", "D1: run one SQL statement"),
    Endpoint(
        "POST",
        "/api/vectorize/{index}",
        "Vectorize: upsert, insert, search, queryById, getByIds, delete, describe",
    ),
    Endpoint("GET", "/api/health", "Liveness and each binding's reachability"),
    Endpoint("GET", "/openapi.json", "This API as an OpenAPI 3.1 document"),
    Endpoint("GET", "/docs", "Interactive API documentation"),
)

_ERRORS: Final[dict[str, str]] = {
    "400": "The body is not JSON, or not a valid request for this action, or "
    "the backend refused the arguments (its message is included).",
    "401": "The service key (or bearer token) is wrong, disabled, expired, "
    "outside its constraints, or lacks the scope for this action.",
    "403": "No service key was sent, and no rule admits this caller.",
    "404": "No resource of this name is declared in the config.",
    "409": "insert: a vector with one of these ids already exists.",
    "413": "The body is larger than the server's max_body_bytes.",
    "503": "The backend behind this binding cannot be reached; the message "
    "names the driver and the binding.",
}


def _ref(struct: type[msgspec.Struct]) -> dict[str, str]:
    return {"$ref": _REF.format(name=struct.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }


def _errors(*codes: str) -> dict[str, Any]:
    return {code: _json(_ref(schemas.ErrorBody), _ERRORS[code]) for code in codes}


def _name_parameter(name: str, noun: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The {noun}'s declared name (percent-encoded in the URL).",
        "schema": {"type": "string", "pattern": _NAME_PATTERN},
    }


def _resource_operation(
    *,
    operation_id: str,
    summary: str,
    parameter: dict[str, Any],
    request_schema: dict[str, Any],
    responses: list[type[msgspec.Struct]],
    error_codes: tuple[str, ...],
    security: list[dict[str, list[str]]],
) -> dict[str, Any]:
    # anyOf, not oneOf: which shape comes back depends on the action, and
    # the shapes overlap as schemas (every field of OkBody is optional), so
    # one answer can match several of them.
    ok_schema: dict[str, Any] = (
        _ref(responses[0])
        if len(responses) == 1
        else {"anyOf": [_ref(struct) for struct in responses]}
    )
    return {
        "post": {
            "operationId": operation_id,
            "summary": summary,
            "parameters": [parameter],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": request_schema}},
            },
            "responses": {
                "200": _json(ok_schema, "The action's result."),
                **_errors(*error_codes),
            },
            "security": security,
        }
    }


def build_document(version: str | None = None) -> dict[str, Any]:
    """The OpenAPI 3.1 document of the whole HTTP API."""
    if version is None:
        import edgebind

        version = edgebind.__version__

    request_types: list[Any] = [
        schemas.KV_REQUEST,
        schemas.D1_REQUEST,
        schemas.VECTORIZE_REQUEST,
    ]
    (kv_schema, d1_schema, vectorize_schema, *_), components = (
        msgspec.json.schema_components(
            [*request_types, *schemas.RESPONSE_TYPES], ref_template=_REF
        )
    )

    key_only: list[dict[str, list[str]]] = [{"serviceKey": []}]
    key_or_token: list[dict[str, list[str]]] = [{"serviceKey": []}, {"bearer": []}]
    common_errors = ("400", "401", "403", "404", "413", "503")

    paths: dict[str, Any] = {
        "/api/kv/{namespace}": _resource_operation(
            operation_id="kvOperation",
            summary="KV: get, set, delete or list, chosen by action",
            parameter=_name_parameter("namespace", "KV namespace"),
            request_schema=kv_schema,
            responses=[schemas.KVValueBody, schemas.OkBody, schemas.KVListBody],
            error_codes=common_errors,
            security=key_or_token,
        ),
        "/api/d1/{database}": _resource_operation(
            operation_id="executeD1Query",
            summary="D1: run one SQL statement with ? placeholders",
            parameter=_name_parameter("database", "D1 database"),
            request_schema=d1_schema,
            responses=[schemas.D1ResultBody],
            error_codes=common_errors,
            security=key_only,
        ),
        "/api/vectorize/{index}": _resource_operation(
            operation_id="vectorizeOperation",
            summary="Vectorize: one index operation, chosen by action",
            parameter=_name_parameter("index", "Vectorize index"),
            request_schema=vectorize_schema,
            responses=[
                schemas.MutationBody,
                schemas.MatchesBody,
                schemas.VectorsBody,
                schemas.IndexInfoBody,
            ],
            error_codes=(*common_errors[:4], "409", *common_errors[4:]),
            security=key_only,
        ),
        "/api/health": {
            "get": {
                "operationId": "health",
                "summary": "Liveness plus each binding's driver and reachability",
                "security": [],
                "responses": {
                    "200": _json(_ref(schemas.HealthBody), "Every binding is up."),
                    "503": _json(
                        _ref(schemas.HealthBody), "At least one binding is down."
                    ),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "openapi",
                "summary": "This document",
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI 3.1 document.")
                },
            }
        },
        "/docs": {
            "get": {
                "operationId": "docs",
                "summary": "Interactive documentation (HTML)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "An HTML page.",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Edgebind",
            "version": version,
            "description": (
                "Cloudflare-style KV, D1 and Vectorize resources, wire-compatible "
                "with EdgeBase's native-resources API. Errors are "
                '{"code": status, "message": "..."}.'
            ),
        },
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "serviceKey": {
                    "type": "apiKey",
                    "in": "header",
                    "name": "X-EdgeBase-Service-Key",
                    "description": "A root key, or a scoped key jb_{kid}_{secret}.",
                },
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "A user token, checked by a KV namespace's rules.",
                },
            },
        },
    }


_SWAGGER_UI: Final = "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5"


def docs_page(document: dict[str, Any]) -> str:
    """An HTML page listing every endpoint, with Swagger UI on top when the
    browser can load it from a CDN; without JavaScript the list still shows."""
    title = html.escape(str(document["info"]["title"]))
    rows = "\n".join(
        f"<li><code>{html.escape(e.method)} {html.escape(e.path)}</code> — "
        f"{html.escape(e.summary)}</li>"
        for e in ENDPOINTS
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title} API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="stylesheet" href="{_SWAGGER_UI}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<section id="endpoints">
<h1>{title} API</h1>
<p>The full description is the OpenAPI document at
<a href="openapi.json">openapi.json</a>. The interactive view above loads
Swagger UI from {html.escape(_SWAGGER_UI)}; without it, this list remains.</p>
<ul>
{rows}
</ul>
</section>
<script src="{_SWAGGER_UI}/swagger-ui-bundle.js" crossorigin="anonymous"></script>
<script>
if (window.SwaggerUIBundle) {{
  window.SwaggerUIBundle({{url: "openapi.json", dom_id: "#swagger-ui"}});
  document.getElementById("endpoints").hidden = true;
}}
</script>
</body>
</html>
"""
