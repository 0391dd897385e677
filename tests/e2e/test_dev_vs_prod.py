"""The same HTTP requests get the same answers on every environment.

``dev`` binds everything to embedded SQLite; ``prod`` binds KV to Redis, D1
to PostgreSQL and Vectorize to Qdrant's local mode. One script of requests
runs against both and the answers are compared after removing what is
legitimately different (timings, mutation ids, database error wording).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from edgebind.config import define_config
from edgebind.runtime import Runtime
from edgebind_server.app import create_app
from tests.drivers.postgres.pg_helpers import drop_d1_storage
from tests.e2e._support import ROOT_KEY, d1_storage_name, empty_kv

pytest.importorskip("edgebind_redis")
pytest.importorskip("edgebind_postgres")
pytest.importorskip("edgebind_qdrant")

Step = tuple[str, str, dict[str, Any]]


def script(kv: str, db: str, ix: str) -> list[Step]:
    """(kind, name, body) requests; every answer is compared."""
    vectors = [
        {
            "id": "a",
            "values": [1.0, 0.0, 0.0, 0.0],
            "metadata": {"genre": "jazz", "year": 1959, "tags": {"mood": "cool"}},
        },
        {
            "id": "b",
            "values": [0.9, 0.1, 0.0, 0.0],
            "metadata": {"genre": "rock", "year": 1971},
            "namespace": "vinyl",
        },
        {
            "id": "c",
            "values": [0.0, 1.0, 0.0, 0.0],
            "metadata": {"genre": "jazz", "year": 2001, "live": True},
        },
        {"id": "d", "values": [0.0, 0.0, 1.0, 0.5]},
    ]
    return [
        # KV
        ("kv", kv, {"action": "get", "key": "missing"}),
        ("kv", kv, {"action": "set", "key": "user:1", "value": "ada"}),
        ("kv", kv, {"action": "set", "key": "user:2", "value": "grace", "ttl": 3600}),
        ("kv", kv, {"action": "set", "key": "user:10", "value": "édith ✨"}),
        ("kv", kv, {"action": "set", "key": "other", "value": ""}),
        ("kv", kv, {"action": "get", "key": "user:10"}),
        ("kv", kv, {"action": "get", "key": "other"}),
        ("kv", kv, {"action": "list", "prefix": "user:", "limit": 2}),
        ("kv", kv, {"action": "list"}),
        ("kv", kv, {"action": "delete", "key": "user:1"}),
        ("kv", kv, {"action": "delete", "key": "never-there"}),
        ("kv", kv, {"action": "list", "prefix": "user:"}),
        ("kv", kv, {"action": "list", "limit": 0}),
        ("kv", kv, {"action": "set", "key": "x", "value": "v", "ttl": 0}),
        ("kv", kv, {"action": "explode"}),
        # D1, in SQL that both dialects speak
        (
            "d1",
            db,
            {
                "query": "CREATE TABLE items (id INTEGER PRIMARY KEY, "
                "name TEXT NOT NULL, price DOUBLE PRECISION)"
            },
        ),
        (
            "d1",
            db,
            {
                "query": "INSERT INTO items (id, name, price) VALUES (?, ?, ?)",
                "params": [1, "tea", 2.5],
            },
        ),
        (
            "d1",
            db,
            {
                "query": "INSERT INTO items (id, name, price) VALUES (?, ?, ?)",
                "params": [2, "it's ? here", None],
            },
        ),
        (
            "d1",
            db,
            {
                "query": "INSERT INTO items (id, name, price) VALUES (?, ?, ?)",
                "params": [3, "cake", 4.25],
            },
        ),
        ("d1", db, {"query": "SELECT id, name, price FROM items ORDER BY id"}),
        (
            "d1",
            db,
            {
                "query": "SELECT name FROM items WHERE name = '?' OR id = ?",
                "params": [3],
            },
        ),
        (
            "d1",
            db,
            {"query": "UPDATE items SET price = price * 2 WHERE price IS NOT NULL"},
        ),
        ("d1", db, {"query": "DELETE FROM items WHERE id = ?", "params": [99]}),
        ("d1", db, {"query": "SELECT count(*) AS n FROM items"}),
        (
            "d1",
            db,
            {
                "query": "INSERT INTO items (id, name) VALUES (?, ?)",
                "params": [1, "duplicate"],
            },
        ),
        ("d1", db, {"query": "SELECT * FROM no_such_table"}),
        ("d1", db, {"query": ""}),
        # Vectorize
        ("vectorize", ix, {"action": "describe"}),
        ("vectorize", ix, {"action": "upsert", "vectors": vectors}),
        ("vectorize", ix, {"action": "insert", "vectors": [vectors[0]]}),
        (
            "vectorize",
            ix,
            {
                "action": "search",
                "vector": [1.0, 0.0, 0.0, 0.0],
                "topK": 3,
                "returnMetadata": "all",
            },
        ),
        (
            "vectorize",
            ix,
            {
                "action": "search",
                "vector": [1.0, 0.2, 0.0, 0.0],
                "filter": {"genre": "jazz", "year": {"$gte": 2000}},
                "returnValues": True,
            },
        ),
        (
            "vectorize",
            ix,
            {
                "action": "search",
                "vector": [1.0, 0.0, 0.0, 0.0],
                "filter": {"tags.mood": {"$in": ["cool", "warm"]}},
            },
        ),
        (
            "vectorize",
            ix,
            {
                "action": "search",
                "vector": [1.0, 0.0, 0.0, 0.0],
                "filter": {"genre": {"$ne": "jazz"}},
            },
        ),
        (
            "vectorize",
            ix,
            {
                "action": "search",
                "vector": [1.0, 0.0, 0.0, 0.0],
                "namespace": "vinyl",
                "returnMetadata": True,
            },
        ),
        ("vectorize", ix, {"action": "queryById", "vectorId": "c", "topK": 2}),
        ("vectorize", ix, {"action": "getByIds", "ids": ["d", "a", "zzz"]}),
        ("vectorize", ix, {"action": "delete", "ids": ["a", "zzz"]}),
        ("vectorize", ix, {"action": "describe"}),
        ("vectorize", ix, {"action": "search", "vector": [1.0, 0.0]}),
        (
            "vectorize",
            ix,
            {
                "action": "search",
                "vector": [1.0, 0.0, 0.0, 0.0],
                "filter": {"genre": {"$regex": "j.*"}},
            },
        ),
    ]


#: Fields whose values legitimately differ between drivers: timings, ids the
#: backend picks, and D1 counters each engine reports its own way
#: (``last_row_id`` is SQLite's rowid but PostgreSQL's ``lastval()``, which an
#: explicit primary key never advances). Their presence is still compared.
VOLATILE = {
    "duration",
    "mutationId",
    "processedUpToMutation",
    "processedUpToDatetime",
    "rows_read",
    "rows_written",
    "last_row_id",
}


def normalise(status: int, body: Any) -> Any:
    """The comparable part of an answer."""
    if status >= 400:
        # The database's own error text differs between engines; the
        # status code and the error shape must not.
        return {"status": status, "keys": sorted(body)}
    return {"status": status, "body": _strip(body)}


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "<volatile>" if k in VOLATILE else _strip(v) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if isinstance(value, float):
        return round(value, 5)
    return value


@pytest.fixture
def names() -> dict[str, str]:
    suffix = uuid.uuid4().hex[:10]
    return {"kv": f"cache-{suffix}", "d1": f"main_{suffix}", "ix": f"emb-{suffix}"}


def config_for(
    names: dict[str, str], tmp_path: Path, redis_url: str, postgres_url: str
) -> Any:
    return define_config(
        kv={names["kv"]: {}},
        d1=[names["d1"]],
        vectorize=[{"name": names["ix"], "dimensions": 4, "metric": "cosine"}],
        service_keys=[
            {
                "kid": "root",
                "tier": "root",
                "secret_source": "inline",
                "secret": ROOT_KEY,
            }
        ],
        environments={
            "dev": {"default": f"sqlite:///{tmp_path}/dev"},
            "prod": {
                "kv": redis_url,
                "d1": postgres_url,
                "vectorize": f"qdrant+local:///{tmp_path}/qdrant",
            },
        },
    )


@pytest.fixture
async def runtimes(
    names: dict[str, str], tmp_path: Path, redis_url: str, postgres_url: str
) -> AsyncIterator[dict[str, Runtime]]:
    config = config_for(names, tmp_path, redis_url, postgres_url)
    opened = {env: Runtime(config, env, environ={}) for env in ("dev", "prod")}
    try:
        for runtime in opened.values():
            await runtime.provision()
        yield opened
    finally:
        await empty_kv(opened["prod"].kv(names["kv"]))
        for runtime in opened.values():
            await runtime.aclose()
        drop_d1_storage(postgres_url, {d1_storage_name(postgres_url, names["d1"])})


async def answers(runtime: Runtime, steps: list[Step]) -> list[Any]:
    app = create_app(runtime)
    out = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://edgebind.test",
        headers={"X-EdgeBase-Service-Key": ROOT_KEY},
    ) as client:
        for kind, name, body in steps:
            response = await client.post(f"/api/{kind}/{name}", json=body)
            out.append(normalise(response.status_code, response.json()))
    return out


async def test_prod_answers_like_dev(
    runtimes: dict[str, Runtime], names: dict[str, str]
) -> None:
    steps = script(names["kv"], names["d1"], names["ix"])

    dev = await answers(runtimes["dev"], steps)
    prod = await answers(runtimes["prod"], steps)

    for (kind, _, body), dev_answer, prod_answer in zip(steps, dev, prod, strict=True):
        assert prod_answer == dev_answer, f"{kind} {body}"
    # The script must exercise success and failure, or it proves little.
    statuses = {answer["status"] for answer in dev}
    assert {200, 400, 409} <= statuses
