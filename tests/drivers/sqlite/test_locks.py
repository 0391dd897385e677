"""Another process holding a file's write lock, and other failures of the
file rather than the request: each is BackendUnavailable (a 503) naming the
driver and the binding, and the resource works again once it clears."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from edgebind.errors import BackendUnavailable
from edgebind.vectorize import Vector
from edgebind_sqlite import SQLiteDriver
from tests.drivers.sqlite.conftest import d1_spec, kv_spec, vector_spec


@pytest.fixture
async def impatient(data_dir: Path) -> AsyncIterator[SQLiteDriver]:
    """A driver that waits 50 ms for a lock, so the tests do not wait 5 s."""
    sqlite_driver = SQLiteDriver(f"sqlite:///{data_dir}?busy_timeout_ms=50")
    yield sqlite_driver
    await sqlite_driver.aclose()


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold ``path``'s write lock from a second connection, as another
    ``edgebind serve`` worker in the middle of a write would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        other.execute("ROLLBACK")
        other.close()


def _assert_lock_error(error: BackendUnavailable, binding: str) -> None:
    assert (error.driver, error.binding) == ("sqlite", binding)
    assert "another process holds its write lock" in error.message
    assert "retry" in error.message
    assert "50 ms" in error.message
    assert "/" not in error.message  # callers learn no server paths


async def test_kv_put_waits_out_the_timeout_then_recovers(
    impatient: SQLiteDriver, data_dir: Path
) -> None:
    impatient.open_kv(kv_spec())  # the first namespace names the shared file
    sessions = impatient.open_kv(kv_spec("sessions"))
    await sessions.put("k", "v")

    with write_lock(data_dir / "kv.sqlite3"):
        with pytest.raises(BackendUnavailable) as caught:
            await sessions.put("k", "v2")
        assert await sessions.get("k") == "v"  # WAL readers are not blocked

    _assert_lock_error(caught.value, "SESSIONS_KV")
    await sessions.put("k", "v2")
    assert await sessions.get("k") == "v2"


async def test_kv_first_use_under_a_lock_sets_up_once_released(
    impatient: SQLiteDriver, data_dir: Path
) -> None:
    kv = impatient.open_kv(kv_spec())

    with (
        write_lock(data_dir / "kv.sqlite3"),
        pytest.raises(BackendUnavailable) as caught,
    ):
        await kv.put("k", "v")

    _assert_lock_error(caught.value, "CACHE_KV")
    await kv.put("k", "v")
    assert await kv.get("k") == "v"


async def test_d1_write_is_backend_unavailable_not_a_query_error(
    impatient: SQLiteDriver, data_dir: Path
) -> None:
    db = impatient.open_d1(d1_spec())
    await db.execute("CREATE TABLE t (x INTEGER)")

    with write_lock(data_dir / "d1-main.sqlite3"):
        with pytest.raises(BackendUnavailable) as caught:
            await db.execute("INSERT INTO t VALUES (1)")
        # Reads go on while another process writes.
        assert (await db.execute("SELECT count(*) AS n FROM t")).results == [{"n": 0}]

    _assert_lock_error(caught.value, "MAIN_DB")
    await db.execute("INSERT INTO t VALUES (2)")
    rows = (await db.execute("SELECT x FROM t")).results
    assert rows == [{"x": 2}]


async def test_vectorize_upsert_is_backend_unavailable_then_recovers(
    impatient: SQLiteDriver, data_dir: Path
) -> None:
    index = impatient.open_vectorize(vector_spec())
    await index.upsert([Vector("a", (1.0, 0, 0))])

    with write_lock(data_dir / "vectorize-embeddings.sqlite3"):
        with pytest.raises(BackendUnavailable) as caught:
            await index.upsert([Vector("b", (0, 1.0, 0))])
        assert (await index.describe()).vector_count == 1

    _assert_lock_error(caught.value, "VECTORIZE_EMBEDDINGS")
    await index.upsert([Vector("b", (0, 1.0, 0))])
    assert (await index.describe()).vector_count == 2


async def test_vectorize_first_use_under_a_lock_recovers(
    impatient: SQLiteDriver, data_dir: Path
) -> None:
    index = impatient.open_vectorize(vector_spec())

    with (
        write_lock(data_dir / "vectorize-embeddings.sqlite3"),
        pytest.raises(BackendUnavailable) as caught,
    ):
        await index.upsert([Vector("a", (1.0, 0, 0))])

    _assert_lock_error(caught.value, "VECTORIZE_EMBEDDINGS")
    await index.upsert([Vector("a", (1.0, 0, 0))])
    assert (await index.describe()).vector_count == 1


@pytest.mark.parametrize(
    "text", ["disk I/O error", "attempt to write a readonly database"]
)
async def test_other_sqlite_failures_are_backend_unavailable(
    driver: SQLiteDriver, text: str
) -> None:
    kv = driver.open_kv(kv_spec())
    await kv.put("k", "v")

    def failing(conn: sqlite3.Connection) -> None:
        raise sqlite3.OperationalError(text)

    with pytest.raises(BackendUnavailable, match=text) as caught:
        await kv._store.file.run(failing, binding=kv.binding)

    assert (caught.value.driver, caught.value.binding) == ("sqlite", "CACHE_KV")
    assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
