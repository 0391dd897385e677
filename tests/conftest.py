"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.backends import backend_url


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A Redis server URL (see tests/backends.py for where it comes from)."""
    with backend_url("redis") as url:
        yield url


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A PostgreSQL server URL whose role may create databases and roles."""
    with backend_url("postgres") as url:
        yield url


@pytest.fixture(scope="session")
def qdrant_url() -> Iterator[str]:
    """A Qdrant server URL; the local-mode tests need no server at all."""
    with backend_url("qdrant") as url:
        yield url
