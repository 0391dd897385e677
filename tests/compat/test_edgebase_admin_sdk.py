"""EdgeBase's official Python admin SDK, unchanged, against a real Edgebind
server over HTTP (DESIGN: the API is wire-compatible)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edgebase_admin import AdminClient
from edgebase_core.errors import EdgeBaseError

from edgebind.runtime import Runtime
from tests.client.live_server import ROOT_KEY, make_config
from tests.servers import serve_in_thread

DOCS = [
    {"id": "a", "values": [1.0, 0.0, 0.0], "metadata": {"topic": "kv", "rank": 1}},
    {"id": "b", "values": [0.8, 0.2, 0.0], "metadata": {"topic": "kv", "rank": 2}},
    {"id": "c", "values": [0.0, 1.0, 0.0], "metadata": {"topic": "d1", "rank": 3}},
    {"id": "d", "values": [0.0, 0.1, 1.0], "namespace": "archive"},
]


@pytest.fixture
def admin(tmp_path: Path) -> Iterator[Any]:
    with serve_in_thread(Runtime(make_config(tmp_path), "dev")) as url:
        client = AdminClient(url, service_key=ROOT_KEY)
        try:
            yield client
        finally:
            client.destroy()


def test_kv(admin: Any) -> None:
    cache = admin.kv("cache")
    cache.set("user:1", "ann")
    cache.set("user:2", "bob", ttl=300)
    cache.set("other", "x")

    assert cache.get("user:1") == "ann"
    assert cache.get("missing") is None

    page = cache.list(prefix="user:", limit=1)
    assert page["keys"] == ["user:1"]
    rest = cache.list(prefix="user:", cursor=page["cursor"])
    assert rest == {"keys": ["user:2"], "cursor": None}

    cache.delete("user:1")
    assert cache.get("user:1") is None
    assert cache.list()["keys"] == ["other", "user:2"]


def test_d1(admin: Any) -> None:
    db = admin.d1("main")
    assert db.exec("CREATE TABLE events (id INTEGER PRIMARY KEY, type TEXT)") == []
    db.exec("INSERT INTO events (type) VALUES (?), (?), (?)", ["view", "click", "view"])

    rows = db.exec("SELECT type, count(*) AS n FROM events GROUP BY type ORDER BY type")
    assert rows == [{"type": "click", "n": 1}, {"type": "view", "n": 2}]
    assert db.query("SELECT 1 AS one") == [{"one": 1}]

    with pytest.raises(EdgeBaseError) as failed:
        db.exec("SELECT * FROM nowhere")
    assert failed.value.status_code == 400
    assert "nowhere" in failed.value.message


def test_vectorize_every_action(admin: Any) -> None:
    index = admin.vector("embeddings")

    upserted = index.upsert(DOCS)
    assert upserted["ok"] is True
    assert upserted["count"] == 4
    assert isinstance(upserted["mutationId"], str)

    inserted = index.insert([{"id": "e", "values": [0.0, 0.0, 1.0]}])
    assert inserted["count"] == 1
    with pytest.raises(EdgeBaseError) as duplicate:
        index.insert([{"id": "a", "values": [1.0, 0.0, 0.0]}])
    assert duplicate.value.status_code == 409

    plain = index.search([1.0, 0.0, 0.0], top_k=2)
    assert [m["id"] for m in plain] == ["a", "b"]
    assert plain[0]["score"] == pytest.approx(1.0)
    assert "values" not in plain[0] and "metadata" not in plain[0]

    filtered = index.search(
        [1.0, 0.0, 0.0],
        top_k=5,
        filter={"topic": "kv", "rank": {"$gt": 1}},
        return_values=True,
        return_metadata="all",
    )
    assert [m["id"] for m in filtered] == ["b"]
    assert filtered[0]["values"] == pytest.approx([0.8, 0.2, 0.0])
    assert filtered[0]["metadata"] == {"topic": "kv", "rank": 2}

    archived = index.search([0.0, 0.0, 1.0], namespace="archive")
    assert [m["id"] for m in archived] == ["d"]
    assert archived[0]["namespace"] == "archive"

    nearest = index.query_by_id("c", top_k=1, return_metadata="all")
    assert nearest[0]["id"] == "c"
    assert nearest[0]["metadata"] == {"topic": "d1", "rank": 3}

    stored = index.get_by_ids(["a", "zzz", "d"])
    assert [v["id"] for v in stored] == ["a", "d"]
    assert stored[0]["values"] == pytest.approx([1.0, 0.0, 0.0])
    assert stored[1]["namespace"] == "archive"

    deleted = index.delete(["a", "zzz"])
    assert deleted["ok"] is True
    assert deleted["count"] == 1

    info = admin.vectorize("embeddings").describe()
    assert info["vectorCount"] == 4
    assert info["dimensions"] == 3
    assert info["metric"] == "cosine"


def test_wrong_key_and_undeclared_names(admin: Any, tmp_path: Path) -> None:
    with pytest.raises(EdgeBaseError) as undeclared:
        admin.kv("nope").get("k")
    assert undeclared.value.status_code == 404

    url = admin._http._base_url
    wrong = AdminClient(url, service_key="wrong")
    try:
        with pytest.raises(EdgeBaseError) as refused:
            wrong.kv("cache").get("k")
    finally:
        wrong.destroy()
    assert refused.value.status_code == 401
