"""``edgebind provision --dry-run`` on SQLite: inspect() tells what provision
would do and leaves the folder exactly as it found it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from edgebind.errors import ProvisionError
from edgebind.resource import ProvisionStatus
from edgebind.vectorize import Vector
from edgebind_sqlite import SQLiteDriver
from tests.drivers.sqlite.conftest import d1_spec, kv_spec, vector_spec


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_fresh_directory_reports_would_create_and_stays_absent(
    driver: SQLiteDriver, data_dir: Path
) -> None:
    d1 = await driver.open_d1(d1_spec()).inspect()
    index = await driver.open_vectorize(vector_spec()).inspect()
    kv = await driver.open_kv(kv_spec()).inspect()

    assert d1.status is ProvisionStatus.CREATED
    assert d1.detail == f"would create {data_dir / 'd1-main.sqlite3'}"
    assert index.status is ProvisionStatus.CREATED
    assert index.detail.startswith("would create ")
    assert "vectorize-embeddings.sqlite3" in index.detail
    assert "dimensions=3" in index.detail
    assert kv.status is ProvisionStatus.REUSED  # KV appears on first use
    assert not await asyncio.to_thread(data_dir.exists)


async def test_after_provision_dry_run_reports_reused(
    driver: SQLiteDriver, data_dir: Path
) -> None:
    await driver.open_d1(d1_spec()).provision()
    await driver.open_vectorize(vector_spec()).provision()

    assert (await driver.open_d1(d1_spec()).inspect()).status is (
        ProvisionStatus.REUSED
    )
    assert (await driver.open_vectorize(vector_spec()).inspect()).status is (
        ProvisionStatus.REUSED
    )


@pytest.mark.parametrize("writer_open", [False, True])
async def test_another_process_reads_reused_without_creating_files(
    data_dir: Path, writer_open: bool
) -> None:
    first = SQLiteDriver(f"sqlite:///{data_dir}")
    await first.open_d1(d1_spec()).provision()
    await first.open_vectorize(vector_spec()).upsert([Vector("a", (1.0, 0, 0))])
    if not writer_open:
        await first.aclose()
    # With the writer open its -wal and -shm files exist and are read; once
    # it closed, they are gone and must not come back.
    before = _listing(data_dir)

    second = SQLiteDriver(f"sqlite:///{data_dir}")
    d1 = await second.open_d1(d1_spec()).inspect()
    index = await second.open_vectorize(vector_spec()).inspect()

    assert (d1.status, index.status) == (ProvisionStatus.REUSED,) * 2
    assert _listing(data_dir) == before
    await second.aclose()
    await first.aclose()


@pytest.mark.parametrize("writer_open", [False, True])
@pytest.mark.parametrize(
    ("dimensions", "metric", "stored", "declared"),
    [
        (4, "cosine", "dimensions=3 and", "dimensions=4 and"),
        (3, "euclidean", "and metric='cosine'", "and metric='euclidean'"),
    ],
)
async def test_other_stored_settings_are_mismatched_naming_both(
    data_dir: Path,
    writer_open: bool,
    dimensions: int,
    metric: str,
    stored: str,
    declared: str,
) -> None:
    first = SQLiteDriver(f"sqlite:///{data_dir}")
    await first.open_vectorize(vector_spec()).upsert([Vector("a", (1.0, 0, 0))])
    if not writer_open:
        await first.aclose()
    before = _listing(data_dir)

    second = SQLiteDriver(f"sqlite:///{data_dir}")
    changed = second.open_vectorize(vector_spec(dimensions=dimensions, metric=metric))
    outcome = await changed.inspect()

    assert outcome.status is ProvisionStatus.MISMATCHED
    assert stored in outcome.detail.split("but the config")[0]
    assert declared in outcome.detail.split("but the config")[1]
    assert "vectorize-embeddings.sqlite3" in outcome.detail
    assert _listing(data_dir) == before
    await second.aclose()
    await first.aclose()


async def test_request_time_mismatch_is_a_provision_error_with_advice(
    data_dir: Path,
) -> None:
    first = SQLiteDriver(f"sqlite:///{data_dir}")
    await first.open_vectorize(vector_spec()).provision()
    await first.aclose()

    second = SQLiteDriver(f"sqlite:///{data_dir}")
    changed = second.open_vectorize(vector_spec(dimensions=4))
    with pytest.raises(ProvisionError) as caught:
        await changed.query((1.0, 0, 0, 0))

    message = caught.value.message
    assert "dimensions=3" in message and "dimensions=4" in message
    assert "fix the config" in message and "`edgebind provision`" in message
    assert "/" not in message  # a request's message shows no server path
    outcome = await changed.inspect()
    assert str(data_dir / "vectorize-embeddings.sqlite3") in outcome.detail
    await second.aclose()


async def test_index_file_without_settings_would_be_created(
    driver: SQLiteDriver, data_dir: Path
) -> None:
    def empty_database() -> None:
        data_dir.mkdir()
        sqlite3.connect(data_dir / "vectorize-embeddings.sqlite3").close()

    await asyncio.to_thread(empty_database)

    outcome = await driver.open_vectorize(vector_spec()).inspect()

    assert outcome.status is ProvisionStatus.CREATED
    assert outcome.detail.startswith("would create the index in ")
    assert _listing(data_dir) == ["vectorize-embeddings.sqlite3"]


async def test_memory_answers_what_provision_would_answer_now() -> None:
    driver = SQLiteDriver("sqlite://:memory:")
    db = driver.open_d1(d1_spec())
    index = driver.open_vectorize(vector_spec())

    assert (await db.inspect()).status is ProvisionStatus.CREATED
    assert (await index.inspect()).status is ProvisionStatus.CREATED
    assert (await db.provision()).status is ProvisionStatus.CREATED
    assert (await index.provision()).status is ProvisionStatus.CREATED
    assert (await db.inspect()).status is ProvisionStatus.REUSED
    assert (await index.inspect()).status is ProvisionStatus.REUSED

    other = await driver.open_vectorize(vector_spec(dimensions=4)).inspect()
    assert other.status is ProvisionStatus.MISMATCHED
    assert "dimensions=3" in other.detail and "dimensions=4" in other.detail
    await driver.aclose()
