"""Fixtures for the SQLite driver's own tests: a driver on a temporary folder
and a clock the tests move by hand."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgebind.resource import ResourceSpec
from edgebind_sqlite import SQLiteDriver


class ManualClock:
    """Time that moves only when a test says so."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
async def driver(data_dir: Path, clock: ManualClock) -> AsyncIterator[SQLiteDriver]:
    sqlite_driver = SQLiteDriver(f"sqlite:///{data_dir}", clock=clock)
    yield sqlite_driver
    await sqlite_driver.aclose()


def kv_spec(name: str = "cache") -> ResourceSpec:
    return ResourceSpec("kv", name, f"{name.upper()}_KV")


def d1_spec(name: str = "main") -> ResourceSpec:
    return ResourceSpec("d1", name, f"{name.upper()}_DB")


def vector_spec(
    name: str = "embeddings", dimensions: int = 3, metric: str = "cosine"
) -> ResourceSpec:
    return ResourceSpec(
        "vectorize",
        name,
        f"VECTORIZE_{name.upper()}",
        {"dimensions": dimensions, "metric": metric},
    )
