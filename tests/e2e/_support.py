"""Helpers for end-to-end tests: free ports, private server processes."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from edgebind.kv import KVNamespace

ROOT_KEY = "e2e-root-key-0123456789"


async def empty_kv(namespace: KVNamespace) -> None:
    """Delete every key, so a shared Redis keeps nothing of the test."""
    cursor = None
    while True:
        page = await namespace.list(cursor=cursor)
        for key in page.keys:
            await namespace.delete(key)
        if page.cursor is None:
            return
        cursor = page.cursor


def d1_storage_name(postgres_url: str, d1_name: str) -> str:
    """The PostgreSQL database (and role) that backs D1 database ``d1_name``."""
    from edgebind_postgres.driver import PostgresSettings, d1_identifier

    main = PostgresSettings.from_url(postgres_url).main_database
    return d1_identifier(main, d1_name)


def wait_for_port(port: int, *, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=0.5),
        ):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@contextlib.contextmanager
def serving(
    args: list[str], *, port: int, env: dict[str, str], cwd: Path
) -> Iterator[httpx.Client]:
    """Run ``edgebind <args>`` as a process; yield a client for it.

    The server's output goes to a file, not a pipe: nobody reads a pipe while
    the test runs, and a full one would block the server's logging.
    """
    log_path = cwd / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            ["edgebind", *args],
            cwd=cwd,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        try:
            wait_for_port(port, timeout=60)
        except TimeoutError:
            process.kill()
            process.wait(timeout=10)
            output = log_path.read_text(errors="replace")
            raise AssertionError(f"server did not start:\n{output}") from None
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"X-EdgeBase-Service-Key": ROOT_KEY},
            timeout=60,
        ) as client:
            yield client
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
