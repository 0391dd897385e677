"""The sync admin client against a real server over HTTP."""

from __future__ import annotations

import pickle
import uuid

import pytest

from edgebind import Vector
from edgebind.client import AdminClient, EdgebindAPIError
from tests.servers import free_port

VECTORS = [
    {"id": "a", "values": [1.0, 0.0, 0.0], "metadata": {"kind": "fruit", "n": 1}},
    {"id": "b", "values": [0.9, 0.1, 0.0], "metadata": {"kind": "fruit", "n": 2}},
    {"id": "c", "values": [0.0, 1.0, 0.0], "metadata": {"kind": "veg", "n": 3}},
    {"id": "d", "values": [0.0, 0.0, 1.0], "namespace": "other"},
]


def test_kv_set_get_delete(admin: AdminClient) -> None:
    cache = admin.kv("cache")
    key = f"k-{uuid.uuid4()}"

    assert cache.get(key) is None
    cache.set(key, "v1")
    assert cache.get(key) == "v1"

    cache.set(key, "v2", ttl=300)
    assert cache.get(key) == "v2"

    cache.delete(key)
    assert cache.get(key) is None
    cache.delete(key)  # deleting a missing key is fine


def test_kv_list_pages_with_cursor(admin: AdminClient) -> None:
    cache = admin.kv("cache")
    for index in range(5):
        cache.set(f"page:{index}", str(index))
    cache.set("other", "x")

    first = cache.list(prefix="page:", limit=2)
    assert first["keys"] == ["page:0", "page:1"]
    assert isinstance(first["cursor"], str)

    second = cache.list(prefix="page:", limit=2, cursor=first["cursor"])
    third = cache.list(prefix="page:", limit=2, cursor=second["cursor"])
    assert second["keys"] == ["page:2", "page:3"]
    assert third == {"keys": ["page:4"], "cursor": None}

    assert cache.list()["keys"] == ["other", *(f"page:{i}" for i in range(5))]


def test_kv_errors_carry_status_and_message(admin: AdminClient) -> None:
    with pytest.raises(EdgebindAPIError) as bad_limit:
        admin.kv("cache").list(limit=0)
    assert bad_limit.value.status == 400
    assert "limit" in bad_limit.value.message

    with pytest.raises(EdgebindAPIError) as undeclared:
        admin.kv("not-declared").get("k")
    assert undeclared.value.status == 404


def test_d1_exec_query_and_run(admin: AdminClient) -> None:
    main = admin.d1("main")
    assert main.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)") == []

    written = main.run("INSERT INTO t (name) VALUES (?), (?)", ["ann", "bob"])
    assert written["results"] == []
    assert written["meta"]["changes"] == 2
    assert main.execute("SELECT 1 AS one")["results"] == [{"one": 1}]

    rows = main.exec("SELECT name FROM t WHERE id > ? ORDER BY id", [0])
    assert rows == [{"name": "ann"}, {"name": "bob"}]
    assert main.query("SELECT count(*) AS n FROM t") == [{"n": 2}]


def test_d1_failing_statement_is_400_with_database_text(admin: AdminClient) -> None:
    with pytest.raises(EdgebindAPIError) as failed:
        admin.d1("main").exec("SELECT * FROM no_such_table")
    assert failed.value.status == 400
    assert "no_such_table" in failed.value.message


def test_vectorize_every_action(admin: AdminClient) -> None:
    index = admin.vector("embeddings")
    assert admin.vectorize("embeddings").index == "embeddings"

    upserted = index.upsert(VECTORS)
    assert upserted["ok"] is True
    assert upserted["count"] == 4
    assert upserted["mutationId"]

    inserted = index.insert([Vector("e", (0.5, 0.5, 0.0), {"kind": "veg"})])
    assert inserted["count"] == 1
    with pytest.raises(EdgebindAPIError) as duplicate:
        index.insert([{"id": "a", "values": [1.0, 0.0, 0.0]}])
    assert duplicate.value.status == 409

    matches = index.search([1.0, 0.0, 0.0], top_k=2)
    assert [m["id"] for m in matches] == ["a", "b"]
    assert matches[0]["score"] == pytest.approx(1.0)
    assert "values" not in matches[0]
    assert "metadata" not in matches[0]

    filtered = index.search(
        [1.0, 0.0, 0.0],
        top_k=10,
        filter={"kind": "veg"},
        return_values=True,
        return_metadata="all",
    )
    assert [m["id"] for m in filtered] == ["e", "c"]
    assert filtered[0]["values"] == pytest.approx([0.5, 0.5, 0.0])
    assert filtered[0]["metadata"] == {"kind": "veg"}

    in_namespace = index.search([1.0, 0.0, 0.0], namespace="other")
    assert [m["id"] for m in in_namespace] == ["d"]

    by_id = index.query_by_id("c", top_k=1, return_metadata=True)
    assert by_id[0]["id"] == "c"
    assert by_id[0]["metadata"] == {"kind": "veg", "n": 3}

    got = index.get_by_ids(["d", "missing", "a"])
    assert [v["id"] for v in got] == ["d", "a"]
    assert got[0]["namespace"] == "other"

    deleted = index.delete(["a", "missing"])
    assert deleted["count"] == 1

    info = index.describe()
    assert info["dimensions"] == 3
    assert info["metric"] == "cosine"
    assert info["vectorCount"] == 4


def test_vectorize_query_by_unknown_id_is_404(admin: AdminClient) -> None:
    with pytest.raises(EdgebindAPIError) as missing:
        admin.vector("embeddings").query_by_id("nope")
    assert missing.value.status == 404


def test_wrong_key_is_401(server_url: str) -> None:
    with (
        AdminClient(server_url, "not-the-key") as wrong,
        pytest.raises(EdgebindAPIError) as refused,
    ):
        wrong.kv("cache").get("k")
    assert refused.value.status == 401
    assert str(refused.value).startswith("HTTP 401: ")


def test_unreachable_server_is_status_0() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with (
        AdminClient(url, "k", timeout=5) as client,
        pytest.raises(EdgebindAPIError) as unreachable,
    ):
        client.kv("cache").get("k")
    assert unreachable.value.status == 0
    assert "/api/kv/cache" in unreachable.value.message
    assert str(unreachable.value).startswith("no response: ")


def test_base_url_must_be_http() -> None:
    with pytest.raises(ValueError, match="http://"):
        AdminClient("127.0.0.1:8787", "k")


def test_close_and_context_manager(server_url: str) -> None:
    client = AdminClient(server_url + "/", "k")
    with client as entered:
        assert entered is client
    assert client._http.is_closed

    other = AdminClient(server_url, "k")
    other.close()
    assert other._http.is_closed


def test_api_error_pickles() -> None:
    original = EdgebindAPIError(409, "taken")
    copy = pickle.loads(pickle.dumps(original))  # noqa: S301 - our own bytes
    assert (copy.status, copy.message) == (409, "taken")
