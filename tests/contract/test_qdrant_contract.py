"""The shared Vectorize contract, run against the Qdrant driver.

Twice: on qdrant-client's embedded local mode in a temporary directory (no
server needed, always runs), and on a real Qdrant server from the
``qdrant_url`` fixture (EDGEBIND_TEST_QDRANT_URL, else a testcontainer, else
skipped with the reason). On the server, every collection a test opened is
deleted after it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import ClassVar

import pytest
from qdrant_client import AsyncQdrantClient

from edgebind.resource import ResourceSpec
from edgebind.testing import FakeClock, VectorizeContract
from edgebind.vectorize import VectorIndex
from edgebind_qdrant import QdrantDriver
from edgebind_qdrant.driver import parse_qdrant_url
from edgebind_qdrant.ids import STATE_COLLECTION, collection_name, state_point_id


class RecordingQdrantDriver(QdrantDriver):
    """The real driver, remembering which indexes were opened so that the
    fixture can delete exactly their collections."""

    opened_names: ClassVar[set[str]] = set()

    def open_vectorize(self, spec: ResourceSpec) -> VectorIndex:
        RecordingQdrantDriver.opened_names.add(spec.name)
        return super().open_vectorize(spec)


async def drop_collections(url: str, names: set[str]) -> None:
    target = parse_qdrant_url(url)
    client = AsyncQdrantClient(
        url=target.base_url,
        prefix=target.prefix or None,
        timeout=target.timeout,
        check_compatibility=False,
    )
    try:
        for name in names:
            await client.delete_collection(collection_name(name))
        if await client.collection_exists(STATE_COLLECTION):
            await client.delete(
                STATE_COLLECTION,
                points_selector=[state_point_id(name) for name in names],
            )
    finally:
        await client.close()


class TestQdrantLocalVectorize(VectorizeContract):
    @pytest.fixture
    async def driver(
        self, tmp_path: Path, clock: FakeClock
    ) -> AsyncIterator[QdrantDriver]:
        local = QdrantDriver(f"qdrant+local:///{tmp_path / 'qdrant'}", clock=clock)
        yield local
        await local.aclose()


@pytest.mark.backend("qdrant")
class TestQdrantServerVectorize(VectorizeContract):
    @pytest.fixture
    async def driver(
        self, qdrant_url: str, clock: FakeClock
    ) -> AsyncIterator[QdrantDriver]:
        RecordingQdrantDriver.opened_names.clear()
        remote = RecordingQdrantDriver(qdrant_url, clock=clock)
        yield remote
        await remote.aclose()
        await drop_collections(qdrant_url, set(RecordingQdrantDriver.opened_names))
