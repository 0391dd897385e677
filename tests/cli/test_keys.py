"""`edgebind keys new`: the printed entry, pasted into a config, admits the
printed key with exactly the scopes asked for."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from edgebind.config import load_config
from edgebind.keys import sha256_hex
from edgebind.runtime import Runtime
from edgebind_server.app import create_app
from edgebind_server.cli import app
from tests.cli.conftest import sqlite_environments, write_config


def new_key(runner: CliRunner, *args: str) -> tuple[str, str, str]:
    """(key, sha256, config entry source) from `keys new` output."""
    result = runner.invoke(app, ["keys", "new", *args])
    assert result.exit_code == 0, result.output
    key = re.search(r"^key:\s+(\S+)$", result.stdout, re.M)
    digest = re.search(r"^sha256:\s+([0-9a-f]{64})$", result.stdout, re.M)
    entry = re.search(r"^    (\{.*\}),$", result.stdout, re.M)
    assert key and digest and entry, result.stdout
    return key.group(1), digest.group(1), entry.group(1)


async def test_pasted_scoped_entry_admits_the_key(
    runner: CliRunner, tmp_path: Path
) -> None:
    key, digest, entry = new_key(
        runner, "--kid", "reader", "--scope", "kv:namespace:cache:read"
    )
    assert key.startswith("jb_reader_")
    assert sha256_hex(key) == digest
    assert key not in entry
    assert ast.literal_eval(entry)["secret_sha256"] == digest

    path = write_config(
        tmp_path,
        f"""
        kv={{"cache": {{}}}},
        service_keys=[
            {entry},
        ],
        {sqlite_environments(tmp_path / "data")}
        """,
    )
    runtime = Runtime(load_config(path), "dev")
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://edgebind.test",
            headers={"X-EdgeBase-Service-Key": key},
        ) as http:
            read = await http.post("/api/kv/cache", json={"action": "get", "key": "k"})
            write = await http.post(
                "/api/kv/cache", json={"action": "set", "key": "k", "value": "v"}
            )
    finally:
        await runtime.aclose()

    assert read.status_code == 200
    assert read.json() == {"value": None}
    assert write.status_code == 401


async def test_pasted_root_entry_admits_the_key(
    runner: CliRunner, tmp_path: Path
) -> None:
    key, _, entry = new_key(runner, "--kid", "admin", "--root")
    assert ast.literal_eval(entry)["tier"] == "root"

    path = write_config(
        tmp_path,
        f"""
        d1=["main"],
        service_keys=[{entry}],
        {sqlite_environments(tmp_path / "data")}
        """,
    )
    runtime = Runtime(load_config(path), "dev")
    try:
        principal = runtime.keyring.authenticate(key, client_ip="127.0.0.1")
    finally:
        await runtime.aclose()
    assert principal.kid == "admin"
    assert principal.allows("d1:database:main:exec")


def test_several_scopes(runner: CliRunner) -> None:
    _, _, entry = new_key(
        runner,
        "--kid",
        "svc",
        "--scope",
        "d1:database:main:exec",
        "--scope",
        "vectorize:index:*:query",
    )
    assert ast.literal_eval(entry)["scopes"] == [
        "d1:database:main:exec",
        "vectorize:index:*:query",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--kid", "my_key", "--root"], "--kid"),
        (["--kid", "ok", "--scope", "kv:cache:read"], "--scope"),
        (["--kid", "ok", "--scope", "kv:namespace:cache:drop"], "--scope"),
        (["--kid", "ok"], "--scope"),
        (["--kid", "ok", "--root", "--scope", "kv:namespace:c:read"], "not both"),
    ],
)
def test_bad_key_options_exit_2(
    runner: CliRunner, args: list[str], expected: str
) -> None:
    result = runner.invoke(app, ["keys", "new", *args])
    assert result.exit_code == 2, result.output
    assert expected in result.stderr
    assert "key:" not in result.stdout
