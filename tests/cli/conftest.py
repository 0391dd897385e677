"""Helpers for CLI tests: config files in temp folders, the CLI in a
subprocess, and typer's in-process runner."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest
from typer.testing import CliRunner

#: Wide enough that rich tables never truncate a binding name.
WIDE_TERMINAL = {"COLUMNS": "200", "NO_COLOR": "1"}

SUBPROCESS_TIMEOUT_SECONDS = 120


def write_config(folder: Path, body: str, name: str = "edgebind.config.py") -> Path:
    """Write ``body`` (the arguments of define_config) as a config file."""
    path = folder / name
    text = "from edgebind import define_config\n\nconfig = define_config(\n"
    text += textwrap.indent(textwrap.dedent(body).strip(), "    ") + "\n)\n"
    path.write_text(text, encoding="utf-8")
    return path


def sqlite_environments(data_dir: Path) -> str:
    return f'environments={{"dev": {{"default": "sqlite:///{data_dir}"}}}},'


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGEBIND_")}
    # Keep the plugin filter a developer may have set for the whole run.
    if "EDGEBIND_LOAD_PLUGINS" in os.environ:
        env["EDGEBIND_LOAD_PLUGINS"] = os.environ["EDGEBIND_LOAD_PLUGINS"]
    env.update(WIDE_TERMINAL)
    env.update(extra)
    return env


def edgebind_command() -> list[str]:
    """The installed ``edgebind`` console script of this environment."""
    script = Path(sys.executable).parent / "edgebind"
    assert script.exists(), f"console script missing at {script}; run uv sync"
    return [str(script)]


def run_cli(
    args: Sequence[str], cwd: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*edgebind_command(), *args],
        cwd=cwd,
        env=cli_env(**env),
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_SECONDS,
        check=False,
    )


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    """typer's runner, in a temp working folder, with a wide terminal and
    none of the developer's EDGEBIND_CONFIG / EDGEBIND_ENV."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EDGEBIND_CONFIG", raising=False)
    monkeypatch.delenv("EDGEBIND_ENV", raising=False)
    for name, value in WIDE_TERMINAL.items():
        monkeypatch.setenv(name, value)
    return CliRunner()
