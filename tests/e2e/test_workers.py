"""Two worker processes sharing Redis and PostgreSQL lose no writes.

Starts ``edgebind serve --workers 2`` as a real process, hammers it from
concurrent clients, then checks every write landed and that paging through
the keys returns each exactly once.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

from tests.drivers.postgres.pg_helpers import drop_d1_storage
from tests.e2e._support import ROOT_KEY, d1_storage_name, serving
from tests.servers import free_port

pytest.importorskip("edgebind_redis")
pytest.importorskip("edgebind_postgres")

CLIENTS = 8
WRITES_PER_CLIENT = 40


def write_config(folder: Path, kv: str, db: str, redis_url: str, pg_url: str) -> Path:
    path = folder / "edgebind.config.py"
    path.write_text(
        "from edgebind import define_config\n"
        "config = define_config(\n"
        f"    kv={{{kv!r}: {{}}}},\n"
        f"    d1=[{db!r}],\n"
        "    service_keys=[{'kid': 'root', 'tier': 'root',\n"
        "                   'secret_source': 'env', 'secret_ref': 'E2E_ROOT_KEY'}],\n"
        f"    environments={{'prod': {{'kv': {redis_url!r}, 'd1': {pg_url!r}}}}},\n"
        ")\n"
    )
    return path


async def hammer(base_url: str, kv: str, db: str, client_no: int) -> None:
    async with httpx.AsyncClient(
        base_url=base_url,
        headers={"X-EdgeBase-Service-Key": ROOT_KEY},
        # A fresh connection per request spreads load over both workers.
        limits=httpx.Limits(max_keepalive_connections=0),
        timeout=30,
    ) as client:
        for n in range(WRITES_PER_CLIENT):
            key = f"k-{client_no:02d}-{n:03d}"
            kv_reply = await client.post(
                f"/api/kv/{kv}", json={"action": "set", "key": key, "value": key}
            )
            assert kv_reply.status_code == 200, kv_reply.text
            d1_reply = await client.post(
                f"/api/d1/{db}",
                json={
                    "query": "INSERT INTO hits (client, n) VALUES (?, ?)",
                    "params": [client_no, n],
                },
            )
            assert d1_reply.status_code == 200, d1_reply.text


def test_two_workers_lose_no_writes(
    tmp_path: Path, redis_url: str, postgres_url: str
) -> None:
    suffix = uuid.uuid4().hex[:10]
    kv, db = f"hits-{suffix}", f"hits_{suffix}"
    config = write_config(tmp_path, kv, db, redis_url, postgres_url)
    env = {"E2E_ROOT_KEY": ROOT_KEY, "EDGEBIND_ENV": "prod"}

    provision = subprocess.run(
        ["edgebind", "provision", "--config", str(config)],
        cwd=tmp_path,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert provision.returncode == 0, provision.stdout + provision.stderr

    try:
        serve_and_hammer(config, env, tmp_path, kv, db)
    finally:
        drop_d1_storage(postgres_url, {d1_storage_name(postgres_url, db)})


def serve_and_hammer(
    config: Path, env: dict[str, str], tmp_path: Path, kv: str, db: str
) -> None:
    port = free_port()
    args = ["serve", "--config", str(config), "--port", str(port), "--workers", "2"]
    with serving(args, port=port, env=env, cwd=tmp_path) as client:
        created = client.post(
            f"/api/d1/{db}",
            json={"query": "CREATE TABLE hits (client INTEGER, n INTEGER)"},
        )
        assert created.status_code == 200, created.text

        async def run_all() -> None:
            await asyncio.gather(
                *(hammer(str(client.base_url), kv, db, c) for c in range(CLIENTS))
            )

        asyncio.run(run_all())

        total = CLIENTS * WRITES_PER_CLIENT
        count = client.post(
            f"/api/d1/{db}", json={"query": "SELECT count(*) AS n FROM hits"}
        )
        assert count.json()["results"] == [{"n": total}]

        listed: list[str] = []
        cursor = None
        while True:
            body: dict[str, object] = {"action": "list", "limit": 7}
            if cursor:
                body["cursor"] = cursor
            page = client.post(f"/api/kv/{kv}", json=body).json()
            assert len(page["keys"]) <= 7
            listed.extend(page["keys"])
            cursor = page["cursor"]
            if cursor is None:
                break
        expected = sorted(
            f"k-{c:02d}-{n:03d}"
            for c in range(CLIENTS)
            for n in range(WRITES_PER_CLIENT)
        )
        assert listed == expected

        for key in listed:
            client.post(f"/api/kv/{kv}", json={"action": "delete", "key": key})
