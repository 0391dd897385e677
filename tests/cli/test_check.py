"""`edgebind check`: config problems exit 2 naming the field, unreachable
backends exit 1, a good config exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from edgebind_server.cli import app
from tests.cli.conftest import run_cli, sqlite_environments, write_config
from tests.servers import free_port

BAD_CONFIGS = {
    "unknown driver scheme": (
        """
        kv={"cache": {}},
        environments={"dev": {"default": "nosuchdb://somewhere"}},
        """,
        ["environments.dev.default", "nosuchdb", "sqlite"],
    ),
    "binding without a URL": (
        """
        kv={"cache": {}},
        d1=["analytics"],
        environments={"dev": {"kv": "sqlite:///data"}},
        """,
        ["ANALYTICS_DB"],
    ),
    "vectorize index without dimensions": (
        """
        vectorize=[{"name": "embeddings", "metric": "cosine"}],
        environments={"dev": {"default": "sqlite:///data"}},
        """,
        ["vectorize.embeddings.dimensions"],
    ),
    "invalid scope string": (
        """
        kv={"cache": {}},
        service_keys=[{"kid": "reader", "tier": "scoped",
                       "scopes": ["kv:cache:read"],
                       "secret_sha256": "0" * 64}],
        environments={"dev": {"default": "sqlite:///data"}},
        """,
        ["service_keys[0].scopes[0]", "kv:cache:read"],
    ),
    "kid with an underscore": (
        """
        kv={"cache": {}},
        service_keys=[{"kid": "my_key", "tier": "root",
                       "secret_sha256": "0" * 64}],
        environments={"dev": {"default": "sqlite:///data"}},
        """,
        ["service_keys[0].kid", "my_key"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_config_problem_exits_2_naming_the_field(
    case: str, runner: CliRunner, tmp_path: Path
) -> None:
    body, expected = BAD_CONFIGS[case]
    path = write_config(tmp_path, body)

    result = runner.invoke(app, ["check", "--config", str(path)])

    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: "), result.stderr
    for fragment in expected:
        assert fragment in result.stderr
    assert "Traceback" not in result.output


@pytest.mark.parametrize("case", ["unknown driver scheme", "kid with an underscore"])
def test_config_problem_in_a_real_process_is_one_clean_line(
    case: str, tmp_path: Path
) -> None:
    body, expected = BAD_CONFIGS[case]
    path = write_config(tmp_path, body)

    result = run_cli(["check", "--config", str(path)], cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert all(fragment in lines[0] for fragment in expected)
    assert "Traceback" not in result.stderr


def test_several_problems_print_one_line_each(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path,
        """
        vectorize=[{"name": "a"}, {"name": "b", "dimensions": 3, "metric": "l1"}],
        """,
    )

    result = runner.invoke(app, ["check", "--config", str(path)])

    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2, result.stderr
    assert any("vectorize.a.dimensions" in line for line in lines)
    assert any("vectorize.b.metric" in line for line in lines)


def test_missing_config_file_exits_2(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["check"])
    assert result.exit_code == 2
    assert "edgebind init" in result.stderr


def test_config_from_environment_variables(tmp_path: Path) -> None:
    """EDGEBIND_CONFIG and EDGEBIND_ENV stand in for --config and --env."""
    path = write_config(
        tmp_path,
        f"""
        kv={{"cache": {{}}}},
        environments={{"staging": {{"default": "sqlite:///{tmp_path / "data"}"}}}},
        """,
        name="other.py",
    )

    result = run_cli(
        ["check"], cwd=tmp_path, EDGEBIND_CONFIG=str(path), EDGEBIND_ENV="staging"
    )
    assert result.returncode == 0, result.stderr
    assert "(env staging)" in result.stdout

    without_env = run_cli(["check"], cwd=tmp_path, EDGEBIND_CONFIG=str(path))
    assert without_env.returncode == 2
    assert "environment 'dev' is not declared" in without_env.stderr


def test_good_config_passes(runner: CliRunner, tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        f"""
        kv={{"cache": {{}}}},
        d1=["main"],
        vectorize=[{{"name": "embeddings", "dimensions": 4}}],
        {sqlite_environments(tmp_path / "data")}
        """,
    )

    result = runner.invoke(app, ["check", "--config", str(path)])

    assert result.exit_code == 0, result.output
    for binding in ("CACHE_KV", "MAIN_DB", "VECTORIZE_EMBEDDINGS"):
        assert binding in result.stdout
    assert "Config OK: 3 bindings reachable" in result.stdout


def test_unreachable_backend_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    pytest.importorskip("edgebind_redis", reason="the redis driver is not installed")
    down = f"redis://127.0.0.1:{free_port()}/0"
    path = write_config(
        tmp_path,
        f"""
        kv={{"cache": {{}}, "sessions": {{}}}},
        environments={{"dev": {{
            "default": "sqlite:///{tmp_path}",
            "SESSIONS_KV": "{down}",
        }}}},
        """,
    )

    result = runner.invoke(app, ["check", "--config", str(path)])

    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: SESSIONS_KV (redis) unreachable")
