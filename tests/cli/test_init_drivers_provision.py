"""`edgebind init`, `drivers` and `provision`."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from edgebind_server.cli import app
from edgebind_server.starter import STARTER_CONFIG_TEXT
from tests.cli.conftest import run_cli, sqlite_environments, write_config


def test_init_then_check_passes(tmp_path: Path) -> None:
    created = run_cli(["init"], cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "edgebind.config.py").read_text() == STARTER_CONFIG_TEXT

    checked = run_cli(["check"], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "Config OK: 3 bindings reachable" in checked.stdout


def test_init_refuses_to_overwrite_without_force(
    runner: CliRunner, tmp_path: Path
) -> None:
    target = tmp_path / "edgebind.config.py"
    target.write_text("# mine\n")

    refused = runner.invoke(app, ["init"])
    assert refused.exit_code == 1
    assert "--force" in refused.stderr
    assert target.read_text() == "# mine\n"

    forced = runner.invoke(app, ["init", "--force"])
    assert forced.exit_code == 0
    assert target.read_text() == STARTER_CONFIG_TEXT


def test_init_writes_to_config_path(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", "--config", "conf/app.py"])
    assert result.exit_code == 0
    assert (tmp_path / "conf" / "app.py").read_text() == STARTER_CONFIG_TEXT


def test_drivers_lists_sqlite(runner: CliRunner) -> None:
    table = runner.invoke(app, ["drivers"])
    assert table.exit_code == 0
    assert "sqlite://" in table.stdout

    listed = runner.invoke(app, ["drivers", "--json"])
    assert listed.exit_code == 0
    by_name = {row["name"]: row for row in json.loads(listed.stdout)}
    assert by_name["sqlite"]["schemes"] == ["sqlite"]
    assert by_name["sqlite"]["kinds"] == ["d1", "kv", "vectorize"]
    assert by_name["sqlite"]["plugin"] == "sqlite"


def test_drivers_with_no_plugins_loaded(runner: CliRunner, tmp_path: Path) -> None:
    result = run_cli(["drivers", "--json"], cwd=tmp_path, EDGEBIND_LOAD_PLUGINS="")
    assert result.returncode == 0
    assert json.loads(result.stdout) == []


def _statuses(output: str) -> dict[str, str]:
    statuses = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.split("│")]
        if len(cells) > 5 and cells[1].isupper():
            statuses[cells[1]] = cells[5]
    return statuses


def test_provision_twice_reuses_the_second_time(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path,
        f"""
        kv={{"cache": {{}}}},
        d1=["main"],
        vectorize=[{{"name": "embeddings", "dimensions": 3}}],
        {sqlite_environments(tmp_path / "data")}
        """,
    )

    first = runner.invoke(app, ["provision", "--config", str(path)])
    second = runner.invoke(app, ["provision", "--config", str(path)])

    assert first.exit_code == 0, first.output
    assert _statuses(first.stdout)["VECTORIZE_EMBEDDINGS"] == "created"
    assert second.exit_code == 0, second.output
    assert _statuses(second.stdout) == {
        "CACHE_KV": "reused",
        "MAIN_DB": "reused",
        "VECTORIZE_EMBEDDINGS": "reused",
    }


def test_provision_mismatch_exits_1(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    body = """
        vectorize=[{{"name": "embeddings", "dimensions": {dims}}}],
        {environments}
        """
    three = write_config(
        tmp_path,
        body.format(dims=3, environments=sqlite_environments(data)),
        name="three.py",
    )
    four = write_config(
        tmp_path,
        body.format(dims=4, environments=sqlite_environments(data)),
        name="four.py",
    )
    assert runner.invoke(app, ["provision", "--config", str(three)]).exit_code == 0

    result = runner.invoke(app, ["provision", "--config", str(four)])

    assert result.exit_code == 1, result.output
    assert _statuses(result.stdout)["VECTORIZE_EMBEDDINGS"] == "mismatched"
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: VECTORIZE_EMBEDDINGS (vectorize embeddings)")
    assert "Traceback" not in result.output


def test_provision_dry_run_changes_nothing(runner: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write_config(
        tmp_path,
        f"""
        vectorize=[{{"name": "embeddings", "dimensions": 3}}],
        {sqlite_environments(data)}
        """,
    )

    dry = runner.invoke(app, ["provision", "--dry-run", "--config", str(path)])
    real = runner.invoke(app, ["provision", "--config", str(path)])

    assert dry.exit_code == 0, dry.output
    assert "dry run" in dry.stdout
    assert _statuses(real.stdout)["VECTORIZE_EMBEDDINGS"] == "created"


def test_drivers_with_config_shows_its_bindings(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path,
        f"""
        kv={{"cache": {{}}}},
        d1=["main"],
        {sqlite_environments(tmp_path / "data")}
        """,
    )

    listed = runner.invoke(app, ["drivers", "--json", "--config", str(path)])
    table = runner.invoke(app, ["drivers", "--config", str(path)])

    assert listed.exit_code == 0, listed.output
    by_name = {row["name"]: row for row in json.loads(listed.stdout)}
    assert by_name["sqlite"]["bindings"] == ["CACHE_KV", "MAIN_DB"]
    assert "bindings (env dev)" in table.stdout


def test_drivers_with_a_broken_config_exits_2(
    runner: CliRunner, tmp_path: Path
) -> None:
    path = write_config(tmp_path, 'kv={"cache": {}},')
    result = runner.invoke(app, ["drivers", "--config", str(path)])
    assert result.exit_code == 2
    assert "environment 'dev' is not declared" in result.stderr
