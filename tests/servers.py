"""Servers for tests: a free loopback port, the Edgebind app under a real
uvicorn in a thread, and a private redis-server process for tests that stop,
restart or reconfigure Redis without disturbing the shared server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from types import TracebackType

import uvicorn
from redis.asyncio import Redis
from redis.exceptions import RedisError

from edgebind.runtime import Runtime
from edgebind_server.app import create_app
from tests.backends import unavailable

logger = logging.getLogger(__name__)

#: How long a freshly started server may take to answer PING.
_START_DEADLINE_SECONDS = 10.0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


#: How long uvicorn may take to start serving in its thread.
_UVICORN_DEADLINE_SECONDS = 20.0


@contextlib.contextmanager
def serve_in_thread(runtime: Runtime, *, http: str = "auto") -> Iterator[str]:
    """Serve ``runtime`` over real HTTP on a free port; yields the base URL.

    The app's lifespan closes the runtime when the server stops.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        create_app(runtime),
        lifespan="on",
        log_level="warning",
        loop="asyncio",
        http=http,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, daemon=True
    )
    thread.start()
    try:
        # Polling for readiness, not timing the code under test.
        deadline = time.monotonic() + _UVICORN_DEADLINE_SECONDS
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=_UVICORN_DEADLINE_SECONDS)
        sock.close()


class PrivateRedis:
    """A ``redis-server`` without persistence on its own port.

    ``start()`` may be called again after ``stop()``: the server comes back on
    the same port, empty, as after a crash.
    """

    def __init__(self) -> None:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not shutil.which(binary):
            unavailable("redis", "no redis-server binary to start a private server")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await self._wait_until_ready()

    async def stop(self) -> None:
        """Kill the server the hard way, as a crash would."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    def client(self) -> Redis:
        return Redis.from_url(self.url, socket_connect_timeout=1, socket_timeout=2)

    async def _wait_until_ready(self) -> None:
        # Polling for readiness, not timing the code under test.
        deadline = time.monotonic() + _START_DEADLINE_SECONDS
        async with self.client() as probe:
            while True:
                try:
                    await probe.ping()
                    return
                except RedisError:
                    if time.monotonic() > deadline:
                        await self.stop()
                        raise RuntimeError(
                            f"redis-server on port {self.port} did not answer "
                            f"within {_START_DEADLINE_SECONDS} s"
                        ) from None
                    await asyncio.sleep(0.05)

    async def __aenter__(self) -> PrivateRedis:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()
