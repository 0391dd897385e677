"""`edgebind dev` in an empty folder: starter config, dev key, curl line."""

from __future__ import annotations

import json
import shlex
import shutil
import socket
import stat
import subprocess
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from edgebind_server.cli import app
from tests.cli.conftest import run_cli, sqlite_environments, write_config
from tests.cli.running import running, wait_until_healthy
from tests.servers import free_port


def run_curl_line(line: str) -> tuple[int, str]:
    """Run the printed curl command as a user pasting it would; (status, body)."""
    argv = shlex.split(line)
    assert argv[0] == "curl"
    if shutil.which("curl"):
        done = subprocess.run(
            [*argv, "-w", "\n%{http_code}"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
        body, _, status = done.stdout.rpartition("\n")
        return int(status), body

    # Without curl, send the same request from the parsed arguments.
    url = next(arg for arg in argv if arg.startswith("http"))
    headers = dict(
        argv[i + 1].split(": ", 1) for i, arg in enumerate(argv) if arg == "-H"
    )
    data = argv[argv.index("-d") + 1]
    response = httpx.post(url, headers=headers, content=data, timeout=30)
    return response.status_code, response.text


def test_dev_in_empty_folder_prints_url_key_and_working_curl(tmp_path: Path) -> None:
    port = free_port()

    with running(["dev", "--port", str(port)], cwd=tmp_path) as dev:
        url_line = dev.wait_for_line("Edgebind dev server:")
        key_line = dev.wait_for_line("key:")
        dev.wait_for_line("Try it:")
        curl_line = dev.wait_for_line("curl ")
        url = url_line.split(": ", 1)[1]
        wait_until_healthy(url)

        status, body = run_curl_line(curl_line)

    assert url == f"http://127.0.0.1:{port}"
    assert status == 200
    assert json.loads(body) == {"ok": True}

    key_file = tmp_path / ".edgebind" / "dev-key"
    key = key_file.read_text().strip()
    assert key in key_line
    assert key in curl_line
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert any("kv cache, d1 main, vectorize embeddings" in x for x in dev.lines)
    assert (tmp_path / ".edgebind" / "dev").is_dir()


def test_dev_restart_keeps_key_and_data(tmp_path: Path) -> None:
    port = free_port()
    first_key = ""
    for run in range(2):
        with running(["dev", "--port", str(port)], cwd=tmp_path) as dev:
            key = dev.wait_for_line("key:").split()[1]
            url = dev.wait_for_line("Edgebind dev server:").split(": ", 1)[1]
            wait_until_healthy(url)
            cache = f"{url}/api/kv/cache"
            headers = {"X-EdgeBase-Service-Key": key}
            if run == 0:
                first_key = key
                body = {"action": "set", "key": "kept", "value": "yes"}
                assert httpx.post(cache, json=body, headers=headers).status_code == 200
            else:
                assert key == first_key
                body = {"action": "get", "key": "kept"}
                answer = httpx.post(cache, json=body, headers=headers)
                assert answer.json() == {"value": "yes"}


def test_dev_uses_the_folder_config_and_its_keys(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        f"""
        d1=["reports"],
        service_keys=[{{"kid": "ops", "tier": "root",
                        "secret_source": "env", "secret_ref": "OPS_KEY"}}],
        {sqlite_environments(tmp_path / "data")}
        """,
    )
    port = free_port()

    with running(["dev", "--port", str(port)], cwd=tmp_path, OPS_KEY="s3cret") as dev:
        dev.wait_for_line("Edgebind dev server:")
        key_line = dev.wait_for_line("key:")
        curl_line = dev.wait_for_line("curl ")
        wait_until_healthy(f"http://127.0.0.1:{port}")
        answer = httpx.post(
            f"http://127.0.0.1:{port}/api/d1/reports",
            json={"query": "SELECT 2 AS two"},
            headers={"X-EdgeBase-Service-Key": "s3cret"},
        )

    assert answer.json()["results"] == [{"two": 2}]
    assert "from the config's service_keys" in key_line
    assert "/api/d1/reports" in curl_line
    assert not (tmp_path / ".edgebind" / "dev-key").exists()


def test_dev_on_a_port_in_use_is_one_clean_line(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]

        result = run_cli(["dev", "--port", str(port)], cwd=tmp_path)

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_dev_defaults_to_port_8787_on_localhost(runner: CliRunner) -> None:
    result = runner.invoke(app, ["dev", "--help"])
    assert result.exit_code == 0
    assert "8787" in result.output
    assert "127.0.0.1" in result.output


def test_dev_key_file_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    from edgebind_server.cli import read_or_create_dev_key

    key_file = tmp_path / "dev-key"
    key_file.write_text("jb_dev_existing\n")
    key_file.chmod(0o644)

    assert read_or_create_dev_key(key_file) == "jb_dev_existing"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_empty_dev_key_file_is_replaced(tmp_path: Path) -> None:
    from edgebind_server.cli import read_or_create_dev_key

    key_file = tmp_path / "dev-key"
    key_file.write_text("\n")
    key_file.chmod(0o600)

    key = read_or_create_dev_key(key_file)
    assert key.startswith("jb_dev_")
    assert key_file.read_text().strip() == key


@pytest.mark.parametrize("level", ["loud"])
def test_bad_log_level_exits_2(runner: CliRunner, level: str) -> None:
    result = runner.invoke(app, ["dev", "--log-level", level])
    assert result.exit_code == 2
    assert "--log-level" in result.stderr
