"""`edgebind serve`: one worker with --provision, and several workers."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
import typer

from edgebind_server.cli import _uvicorn_exit
from tests.cli.conftest import run_cli, sqlite_environments, write_config
from tests.cli.running import running, wait_until_healthy
from tests.servers import free_port

KEY = "serve-test-root-key"


def _config(folder: Path) -> Path:
    return write_config(
        folder,
        f"""
        kv={{"cache": {{}}}},
        vectorize=[{{"name": "embeddings", "dimensions": 2}}],
        service_keys=[{{"kid": "root", "tier": "root",
                        "secret_source": "env", "secret_ref": "ROOT_KEY"}}],
        {sqlite_environments(folder / "data")}
        """,
    )


def test_serve_with_provision(tmp_path: Path) -> None:
    path = _config(tmp_path)
    port = free_port()
    args = ["serve", "--config", str(path), "--port", str(port), "--provision"]

    with running(args, cwd=tmp_path, ROOT_KEY=KEY) as server:
        server.wait_for_line("Edgebind serving env dev")
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url)
        described = httpx.post(
            f"{url}/api/vectorize/embeddings",
            json={"action": "describe"},
            headers={"X-EdgeBase-Service-Key": KEY},
        )

    assert any("created" in line for line in server.lines)
    assert described.status_code == 200
    assert described.json()["dimensions"] == 2


def test_serve_with_workers_shares_state(tmp_path: Path) -> None:
    path = _config(tmp_path)
    port = free_port()
    args = ["serve", "--config", str(path), "--port", str(port), "--workers", "2"]

    with running(args, cwd=tmp_path, ROOT_KEY=KEY) as server:
        server.wait_for_line("Edgebind serving env dev")
        url = f"http://127.0.0.1:{port}"
        wait_until_healthy(url)
        headers = {"X-EdgeBase-Service-Key": KEY}
        set_body = {"action": "set", "key": "shared", "value": "1"}
        written = httpx.post(f"{url}/api/kv/cache", json=set_body, headers=headers)
        # New connections, so the requests spread over both workers.
        reads = [
            httpx.post(
                f"{url}/api/kv/cache",
                json={"action": "get", "key": "shared"},
                headers=headers,
            ).json()
            for _ in range(8)
        ]

    assert written.status_code == 200
    assert reads == [{"value": "1"}] * 8


def test_serve_without_config_exits_2(tmp_path: Path) -> None:
    result = run_cli(["serve", "--port", str(free_port())], cwd=tmp_path)
    assert result.returncode == 2
    assert "edgebind init" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_missing_key_secret_exits_2(tmp_path: Path) -> None:
    path = _config(tmp_path)
    result = run_cli(["serve", "--config", str(path)], cwd=tmp_path)
    assert result.returncode == 2
    assert "ROOT_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_workers_on_a_port_in_use_exits_1(tmp_path: Path) -> None:
    path = _config(tmp_path)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        args = ["serve", "--config", str(path), "--port", str(port), "--workers", "2"]

        result = run_cli(args, cwd=tmp_path, ROOT_KEY=KEY)

    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("raised", "expected"), [(3, 1), (1, 1)])
def test_uvicorn_failure_exit_becomes_1(raised: int, expected: int) -> None:
    with pytest.raises(typer.Exit) as stopped, _uvicorn_exit():
        raise SystemExit(raised)
    assert stopped.value.exit_code == expected


def test_uvicorn_clean_exit_passes_through() -> None:
    with pytest.raises(SystemExit) as stopped, _uvicorn_exit():
        raise SystemExit(0)
    assert stopped.value.code == 0
