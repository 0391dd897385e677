"""The contract suite run against the embedded SQLite driver, on disk."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgebind import Driver
from edgebind.testing import D1Contract, FakeClock, KVContract, VectorizeContract
from edgebind_sqlite.driver import SQLiteDriver


class _SQLiteDriverFixture:
    @pytest.fixture
    async def driver(self, tmp_path: Path, clock: FakeClock) -> AsyncIterator[Driver]:
        d = SQLiteDriver(f"sqlite:///{tmp_path}", clock=clock)
        yield d
        await d.aclose()


class TestSQLiteKV(_SQLiteDriverFixture, KVContract):
    pass


class TestSQLiteD1(_SQLiteDriverFixture, D1Contract):
    pass


class TestSQLiteVectorize(_SQLiteDriverFixture, VectorizeContract):
    pass
