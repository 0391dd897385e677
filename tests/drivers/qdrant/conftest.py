"""Fixtures for the Qdrant driver tests: local mode on disk, no server."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from edgebind.resource import ResourceSpec
from edgebind_qdrant import QdrantDriver
from edgebind_qdrant.vectorize import QdrantVectorIndex

MakeIndex = Callable[..., Awaitable[QdrantVectorIndex]]


def local_url(directory: Path) -> str:
    # three slashes and an absolute path give the four of an absolute location
    return f"qdrant+local:///{directory}"


def index_spec(
    name: str | None = None, *, dimensions: int = 3, metric: str = "cosine"
) -> ResourceSpec:
    return ResourceSpec(
        kind="vectorize",
        name=name or f"t{uuid.uuid4().hex[:12]}",
        binding="VECTORIZE_TEST",
        options={"dimensions": dimensions, "metric": metric},
    )


@pytest.fixture
async def local_driver(tmp_path: Path) -> AsyncIterator[QdrantDriver]:
    driver = QdrantDriver(local_url(tmp_path / "qdrant"))
    yield driver
    await driver.aclose()


@pytest.fixture
def make_index(local_driver: QdrantDriver) -> MakeIndex:
    """Open and provision an index on the local driver."""

    async def make(
        name: str | None = None, *, dimensions: int = 3, metric: str = "cosine"
    ) -> QdrantVectorIndex:
        spec = index_spec(name, dimensions=dimensions, metric=metric)
        index = local_driver.open_vectorize(spec)
        assert isinstance(index, QdrantVectorIndex)
        await index.provision()
        return index

    return make
