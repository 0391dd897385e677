"""Start a long-running CLI command (dev, serve) and read what it prints."""

from __future__ import annotations

import contextlib
import queue
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from tests.cli.conftest import cli_env, edgebind_command

DEADLINE_SECONDS = 60.0


class RunningCommand:
    """A CLI process whose stdout lines are collected by a reader thread."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, starts_with: str) -> str:
        """The first stdout line that starts with ``starts_with`` (after
        stripping indentation); fails if the process ends first."""
        for line in self.lines:
            if line.strip().startswith(starts_with):
                return line.strip()

        deadline = time.monotonic() + DEADLINE_SECONDS
        while True:
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"no line {starts_with!r} in {self.lines}"
            try:
                received = self._queue.get(timeout=remaining)
            except queue.Empty:
                continue
            assert received is not None, (
                f"process exited ({self.process.wait()}) before printing "
                f"{starts_with!r}; output: {self.lines}"
            )
            self.lines.append(received)
            if received.strip().startswith(starts_with):
                return received.strip()


def wait_until_healthy(url: str) -> None:
    """Poll ``/api/health`` until the server answers (readiness, not timing)."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{url} never became healthy"
        time.sleep(0.05)


@contextlib.contextmanager
def running(args: Sequence[str], cwd: Path, **env: str) -> Iterator[RunningCommand]:
    process = subprocess.Popen(
        [*edgebind_command(), *args],
        cwd=cwd,
        env=cli_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield RunningCommand(process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=DEADLINE_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
