"""A private redis-server process, for tests that stop, restart or
reconfigure Redis (restarts, command statistics) without disturbing the
shared server; and a free loopback port to put a server on."""

from __future__ import annotations

import asyncio
import logging
import shutil
import socket
import time
from types import TracebackType

from redis.asyncio import Redis
from redis.exceptions import RedisError

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
