"""A real Edgebind server for client tests: uvicorn in a thread, own port."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn

from edgebind.config import EdgebindConfig, define_config
from edgebind.keys import sha256_hex
from edgebind.runtime import Runtime
from edgebind_server.app import create_app

ROOT_KEY = "root-key-for-client-tests"
STARTUP_DEADLINE_SECONDS = 20.0


def make_config(data_dir: Path, **overrides: Any) -> EdgebindConfig:
    """KV "cache", D1 "main", Vectorize "embeddings" (3 dims, cosine) on
    SQLite in ``data_dir``, with one root key."""
    settings: dict[str, Any] = {
        "kv": {"cache": {}},
        "d1": ["main"],
        "vectorize": [{"name": "embeddings", "dimensions": 3, "metric": "cosine"}],
        "service_keys": [
            {"kid": "root", "tier": "root", "secret_sha256": sha256_hex(ROOT_KEY)}
        ],
        "environments": {"dev": {"default": f"sqlite:///{data_dir}"}},
    }
    settings.update(overrides)
    return define_config(**settings)


@contextlib.contextmanager
def serve_in_thread(runtime: Runtime) -> Iterator[str]:
    """Serve ``runtime`` over real HTTP; yields the base URL. The app's
    lifespan closes the runtime when the server stops."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    config = uvicorn.Config(
        create_app(runtime), lifespan="on", log_level="warning", loop="asyncio"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()

    # Polling for readiness, not timing the code under test.
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)

    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=STARTUP_DEADLINE_SECONDS)
        sock.close()


def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
