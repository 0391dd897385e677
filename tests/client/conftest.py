"""Fixtures: a real server on SQLite in a temp folder, and clients for it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from edgebind.client import AdminClient, AsyncAdminClient
from edgebind.runtime import Runtime
from edgebind_server.app import create_app
from tests.client.live_server import ROOT_KEY, make_config
from tests.servers import serve_in_thread


@pytest.fixture
def server_url(tmp_path: Path) -> Iterator[str]:
    runtime = Runtime(make_config(tmp_path), "dev")
    with serve_in_thread(runtime) as url:
        yield url


@pytest.fixture
def admin(server_url: str) -> Iterator[AdminClient]:
    with AdminClient(server_url, ROOT_KEY) as client:
        yield client


@pytest.fixture
async def async_admin(tmp_path: Path) -> AsyncIterator[AsyncAdminClient]:
    """The async client talking to the app in this process, no sockets."""
    runtime = Runtime(make_config(tmp_path), "dev")
    transport = httpx.ASGITransport(app=create_app(runtime))
    try:
        async with AsyncAdminClient(
            "http://edgebind.test", ROOT_KEY, transport=transport
        ) as client:
            yield client
    finally:
        # ASGITransport sends no lifespan events, so close the runtime here.
        await runtime.aclose()
