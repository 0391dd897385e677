"""The status codes of DESIGN §3, each step of the order and its precedence."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from edgebind.runtime import Runtime
from tests.http.conftest import (
    ALL_KEY,
    CACHE_WRITER_KEY,
    D1_KEY,
    DISABLED_KEY,
    ENV_ROOT_KEY,
    EXPIRED_KEY,
    OFFICE_KEY,
    PROD_ONLY_KEY,
    READER_KEY,
    ROOT,
    ROOT_KEY,
    VECTOR_QUERY_KEY,
    key,
    serve,
)

GET = {"action": "get", "key": "k"}
SET = {"action": "set", "key": "k", "value": "v"}


def assert_error(response: httpx.Response, status: int, *fragments: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == status
    assert isinstance(body["message"], str) and body["message"]
    for fragment in fragments:
        assert fragment in body["message"]
    return str(body["message"])


# ------------------------------------------------------------ step 1: 403


@pytest.mark.parametrize(
    "path",
    [
        "/api/kv/cache",  # declared, no rules
        "/api/kv/nowhere",  # undeclared
        "/api/d1/main",
        "/api/d1/nowhere",
        "/api/vectorize/embeddings",
        "/api/vectorize/nowhere",
    ],
)
async def test_no_key_without_rules_is_403_declared_or_not(
    client: httpx.AsyncClient, path: str
) -> None:
    message = assert_error(await client.post(path, json=GET), 403, "service key")

    # Same words for a declared and an undeclared name: nothing to probe.
    other = await client.post("/api/kv/does-not-exist", json=GET)
    assert other.json()["message"] == message


async def test_no_key_on_undeclared_name_with_bad_body_is_still_403(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/kv/nowhere", content=b"{not json")
    assert_error(response, 403)


async def test_no_key_with_bearer_on_resource_without_rules_is_403(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/d1/main",
        json={"query": "SELECT 1"},
        headers={"Authorization": "Bearer some-user-token"},
    )
    assert_error(response, 403)


# ------------------------------------------------------------ step 2: 401


@pytest.mark.parametrize("path", ["/api/kv/cache", "/api/kv/nowhere"])
async def test_wrong_key_is_401_even_on_undeclared_name(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.post(path, json=GET, headers=key("not-a-real-key"))
    assert_error(response, 401, "not valid")


async def test_wrong_secret_for_existing_kid_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/kv/cache", json=GET, headers=key("jb_reader_wrong-secret")
    )
    assert_error(response, 401)


@pytest.mark.parametrize("value", ["", "   "])
async def test_empty_key_header_is_401(client: httpx.AsyncClient, value: str) -> None:
    response = await client.post("/api/kv/nowhere", json=GET, headers=key(value))
    assert_error(response, 401, "empty")


async def test_expired_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/kv/cache", json=GET, headers=key(EXPIRED_KEY))
    assert_error(response, 401, "expired")


async def test_disabled_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/kv/cache", json=GET, headers=key(DISABLED_KEY))
    assert_error(response, 401, "disabled")


async def test_key_for_another_environment_is_401_here_and_works_there(
    make_runtime: Callable[..., Runtime],
) -> None:
    async with serve(make_runtime("dev")) as dev:
        response = await dev.post("/api/kv/cache", json=GET, headers=key(PROD_ONLY_KEY))
        assert_error(response, 401, "environment")

    async with serve(make_runtime("prod")) as prod:
        response = await prod.post(
            "/api/kv/cache", json=GET, headers=key(PROD_ONLY_KEY)
        )
        assert response.status_code == 200, response.text


async def test_ip_cidr_uses_the_socket_address(
    make_runtime: Callable[..., Runtime],
) -> None:
    async with serve(make_runtime(), client_ip="10.1.2.3") as inside:
        response = await inside.post("/api/kv/cache", json=GET, headers=key(OFFICE_KEY))
        assert response.status_code == 200, response.text

    async with serve(make_runtime(), client_ip="192.168.1.9") as outside:
        response = await outside.post(
            "/api/kv/cache", json=GET, headers=key(OFFICE_KEY)
        )
        assert_error(response, 401, "192.168.1.9")


async def test_forwarded_for_is_ignored_without_trust_proxy(
    make_runtime: Callable[..., Runtime],
) -> None:
    async with serve(make_runtime(), client_ip="192.168.1.9") as http:
        response = await http.post(
            "/api/kv/cache",
            json=GET,
            headers={**key(OFFICE_KEY), "X-Forwarded-For": "10.1.2.3"},
        )
        assert_error(response, 401, "192.168.1.9")


async def test_forwarded_for_last_hop_counts_with_trust_proxy(
    make_runtime: Callable[..., Runtime],
) -> None:
    runtime = make_runtime(trust_proxy=True)
    async with serve(runtime, client_ip="192.168.1.9") as http:
        inside = await http.post(
            "/api/kv/cache",
            json=GET,
            headers={**key(OFFICE_KEY), "X-Forwarded-For": "172.16.0.1, 10.1.2.3"},
        )
        assert inside.status_code == 200, inside.text

        # Earlier hops are the client's own words: a client outside the
        # network cannot get in by sending an inside address first.
        outside = await http.post(
            "/api/kv/cache",
            json=GET,
            headers={**key(OFFICE_KEY), "X-Forwarded-For": "10.1.2.3, 172.16.0.1"},
        )
        assert_error(outside, 401, "172.16.0.1")


async def test_root_key_from_the_environment_works(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/d1/main", json={"query": "SELECT 1 AS one"}, headers=key(ENV_ROOT_KEY)
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [{"one": 1}]


async def test_bad_bearer_is_ignored_when_a_service_key_is_sent(
    client: httpx.AsyncClient,
) -> None:
    # The EdgeBase SDK sends the key in both headers.
    response = await client.post(
        "/api/kv/cache",
        json=GET,
        headers={**ROOT, "Authorization": "Bearer not-a-jwt-at-all"},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"value": None}


# ------------------------------------------------------------ step 3: 404


@pytest.mark.parametrize(
    ("path", "noun"),
    [
        ("/api/kv/nowhere", "KV namespace"),
        ("/api/d1/nowhere", "D1 database"),
        ("/api/vectorize/nowhere", "Vectorize index"),
        ("/api/kv/a%2Fb", "KV namespace"),
        ("/api/kv/%FF%FE", "KV namespace"),
        ("/api/kv/caf%C3%A9", "KV namespace"),
        ("/api/kv/", "KV namespace"),
    ],
)
async def test_undeclared_name_with_valid_key_is_404(
    client: httpx.AsyncClient, path: str, noun: str
) -> None:
    response = await client.post(path, json=GET, headers=ROOT)
    assert_error(response, 404, noun, "declare")


async def test_undeclared_name_with_bad_body_is_404_not_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/kv/nowhere", content=b"{oops", headers=ROOT)
    assert_error(response, 404)


async def test_scoped_key_lacking_scope_on_undeclared_name_is_404(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/d1/nowhere", json={"query": "SELECT 1"}, headers=key(READER_KEY)
    )
    assert_error(response, 404)


async def test_percent_encoded_name_is_decoded(client: httpx.AsyncClient) -> None:
    # The EdgeBase SDK quotes names with safe='', so '-' may arrive as %2D.
    put = await client.post(
        "/api/kv/my%2Dcache", json={**SET, "value": "encoded"}, headers=ROOT
    )
    assert put.status_code == 200, put.text
    got = await client.post("/api/kv/my-cache", json=GET, headers=ROOT)
    assert got.json() == {"value": "encoded"}


# ------------------------------------------------------- step 4 before 5


async def test_bad_body_with_key_lacking_scope_is_400_not_401(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/kv/cache", json={"action": "set", "key": 1}, headers=key(READER_KEY)
    )
    assert_error(response, 400, "`$.key`")


# ------------------------------------------------------------ step 5


@pytest.mark.parametrize(
    ("secret", "path", "body"),
    [
        (READER_KEY, "/api/kv/cache", SET),
        (READER_KEY, "/api/kv/cache", {"action": "delete", "key": "k"}),
        (CACHE_WRITER_KEY, "/api/kv/cache", GET),
        (CACHE_WRITER_KEY, "/api/kv/my-cache", SET),
        (READER_KEY, "/api/d1/main", {"query": "SELECT 1"}),
        (D1_KEY, "/api/kv/cache", GET),
        (
            VECTOR_QUERY_KEY,
            "/api/vectorize/embeddings",
            {"action": "delete", "ids": ["a"]},
        ),
        (
            VECTOR_QUERY_KEY,
            "/api/vectorize/embeddings",
            {"action": "upsert", "vectors": [{"id": "a", "values": [1, 0, 0]}]},
        ),
    ],
)
async def test_key_lacking_scope_is_401_naming_the_scope(
    client: httpx.AsyncClient, secret: str, path: str, body: dict[str, object]
) -> None:
    response = await client.post(path, json=body, headers=key(secret))
    assert_error(response, 401, "lacks the scope")


@pytest.mark.parametrize(
    ("secret", "path", "body"),
    [
        (READER_KEY, "/api/kv/cache", GET),
        (READER_KEY, "/api/kv/my-cache", {"action": "list"}),
        (CACHE_WRITER_KEY, "/api/kv/cache", SET),
        (ALL_KEY, "/api/kv/cache", SET),
        (ALL_KEY, "/api/d1/main", {"query": "SELECT 1"}),
        (D1_KEY, "/api/d1/main", {"query": "SELECT 1"}),
        (VECTOR_QUERY_KEY, "/api/vectorize/embeddings", {"action": "describe"}),
        (ROOT_KEY, "/api/vectorize/embeddings", {"action": "describe"}),
    ],
)
async def test_key_with_scope_passes(
    client: httpx.AsyncClient, secret: str, path: str, body: dict[str, object]
) -> None:
    response = await client.post(path, json=body, headers=key(secret))
    assert response.status_code == 200, response.text


async def test_rule_admits_anonymous_read(client: httpx.AsyncClient) -> None:
    await client.post("/api/kv/public", json={**SET, "value": "hi"}, headers=ROOT)
    response = await client.post("/api/kv/public", json=GET)
    assert response.status_code == 200, response.text
    assert response.json() == {"value": "hi"}

    listed = await client.post("/api/kv/public", json={"action": "list"})
    assert listed.json() == {"keys": ["k"], "cursor": None}


async def test_rule_denies_anonymous_write_with_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/kv/public", json=SET)
    assert_error(response, 403, "write rule", "anonymous")


async def test_no_rule_for_the_action_is_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/kv/readonly", json=SET)
    assert_error(response, 403, "no write rule")


async def test_rule_that_raises_denies_with_403(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/kv/broken-rule", json=GET)
    assert_error(response, 403, "read rule")


async def test_bearer_token_without_jwt_config_is_401_naming_the_check(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/api/kv/public", json=GET, headers={"Authorization": "Bearer abc.def.ghi"}
    )
    assert_error(response, 401, "auth.jwt")


async def test_non_bearer_authorization_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/kv/public", json=GET, headers={"Authorization": "Basic dXNlcjpwYXNz"}
    )
    assert_error(response, 401, "Bearer")


async def test_bad_body_from_anonymous_caller_on_rule_namespace_is_400(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/kv/readonly", content=b"[1, 2]")
    assert_error(response, 400, "object")


async def test_empty_bearer_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/kv/public", json=GET, headers={"Authorization": "Bearer"}
    )
    assert_error(response, 401, "empty bearer token")


async def test_repeated_forwarded_for_headers_count_as_one_list(
    make_runtime: Callable[..., Runtime],
) -> None:
    # A proxy that adds its own header line instead of appending: the last
    # hop is still the proxy's, whatever the client put in its own line.
    runtime = make_runtime(trust_proxy=True)
    async with serve(runtime, client_ip="192.168.1.9") as http:
        spoofed = await http.post(
            "/api/kv/cache",
            json=GET,
            headers=[
                ("X-EdgeBase-Service-Key", OFFICE_KEY),
                ("X-Forwarded-For", "10.1.2.3"),
                ("X-Forwarded-For", "172.16.0.1"),
            ],
        )
        assert_error(spoofed, 401, "172.16.0.1")

        inside = await http.post(
            "/api/kv/cache",
            json=GET,
            headers=[
                ("X-EdgeBase-Service-Key", OFFICE_KEY),
                ("X-Forwarded-For", "172.16.0.1"),
                ("X-Forwarded-For", "10.1.2.3"),
            ],
        )
        assert inside.status_code == 200, inside.text


async def test_service_key_sent_twice_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/kv/cache",
        json=GET,
        headers=[
            ("X-EdgeBase-Service-Key", "not-a-key"),
            ("X-EdgeBase-Service-Key", ROOT_KEY),
        ],
    )
    assert_error(response, 401, "more than once")
