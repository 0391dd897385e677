"""A server that is not there: fast BackendUnavailable, and recovery."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from edgebind.errors import BackendUnavailable
from edgebind.resource import ResourceSpec
from edgebind_postgres import PostgresDriver
from tests.drivers.postgres.pg_helpers import (
    RecordingPostgresDriver,
    unique,
    with_query,
)
from tests.servers import free_port


async def test_opening_does_no_io() -> None:
    driver = PostgresDriver(f"postgresql://nobody@127.0.0.1:{free_port()}/app")
    driver.open_kv(ResourceSpec("kv", "cache", "CACHE_KV"))
    driver.open_d1(ResourceSpec("d1", "main", "MAIN_DB"))
    await driver.aclose()


async def test_closed_port_is_backend_unavailable() -> None:
    url = f"postgresql://postgres@127.0.0.1:{free_port()}/app?connect_timeout=2"
    driver = PostgresDriver(url)
    kv = driver.open_kv(ResourceSpec("kv", "cache", "CACHE_KV"))
    db = driver.open_d1(ResourceSpec("d1", "main", "MAIN_DB"))
    try:
        # The guard only stops a hang; a refused connection fails at once.
        async with asyncio.timeout(15):
            with pytest.raises(BackendUnavailable, match="refused") as kv_error:
                await kv.get("k")
            with pytest.raises(BackendUnavailable) as d1_error:
                await db.execute("SELECT 1")
            with pytest.raises(BackendUnavailable):
                await db.provision()
    finally:
        await driver.aclose()

    assert kv_error.value.binding == "CACHE_KV"
    assert kv_error.value.driver == "postgres"
    assert d1_error.value.binding == "MAIN_DB"


class Proxy:
    """A TCP relay to the real server that a test can stop and restart."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = free_port()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._relays: set[asyncio.Task[object]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._relay, "127.0.0.1", self.port, reuse_address=True
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()
        await asyncio.gather(*self._relays, return_exceptions=True)
        self._relays.clear()

    async def _relay(
        self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._relays.add(task)
        server_reader, server_writer = await asyncio.open_connection(*self.target)
        self._writers.update({client_writer, server_writer})

        async def pump(
            reader: asyncio.StreamReader, writer: asyncio.StreamWriter
        ) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(
            pump(client_reader, server_writer), pump(server_reader, client_writer)
        )


async def test_recovers_when_the_server_returns(pg_url: str) -> None:
    real = RecordingPostgresDriver(pg_url)
    host = real.settings.admin_params.get("host", "127.0.0.1")
    port = int(real.settings.admin_params.get("port", "5432"))
    await real.aclose()

    proxy = Proxy(host, port)
    await proxy.start()
    proxied_url = pg_url.replace(f"{host}:{port}", f"127.0.0.1:{proxy.port}", 1)
    assert proxied_url != pg_url
    driver = RecordingPostgresDriver(
        with_query(proxied_url, connect_timeout=2, pool_timeout=2)
    )
    kv = driver.open_kv(ResourceSpec("kv", unique("ns"), "CACHE_KV"))
    db = driver.open_d1(ResourceSpec("d1", unique("db"), "MAIN_DB"))
    try:
        async with asyncio.timeout(60):
            await kv.provision()
            await db.provision()
            await kv.put("k", "before")
            await db.execute("CREATE TABLE t (v text)")

            await proxy.stop()
            with pytest.raises(BackendUnavailable):
                await kv.get("k")
            with pytest.raises(BackendUnavailable):
                await db.execute("SELECT * FROM t")

            await proxy.start()
            assert await kv.get("k") == "before"
            assert (await db.execute("SELECT count(*) AS n FROM t")).results == [
                {"n": 0}
            ]
    finally:
        await driver.aclose()
        await proxy.stop()
