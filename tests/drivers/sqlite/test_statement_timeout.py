"""D1 on SQLite: the per-statement deadline (the URL's statement_timeout)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from edgebind.errors import QueryError
from edgebind_sqlite import SQLiteDriver
from edgebind_sqlite.d1 import STATEMENT_TIMEOUT, SQLiteD1Database
from tests.drivers.sqlite.conftest import d1_spec

#: Never ends without the deadline: counts up for ever.
RUNAWAY = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) FROM c"
)
#: Writes a row per step for ever, so the statement has written when it ends.
RUNAWAY_INSERT = (
    "INSERT INTO t (name) WITH RECURSIVE c(x) AS "
    "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 'r' || x FROM c"
)
#: Far above the 0.2 s limit, so a slow CI machine does not fail the test,
#: yet a statement that is never cancelled fails it instead of hanging.
BOUND = 30.0


@pytest.fixture
async def db(data_dir: Path) -> AsyncIterator[SQLiteD1Database]:
    driver = SQLiteDriver(f"sqlite:///{data_dir}?statement_timeout=0.2")
    database = driver.open_d1(d1_spec())
    await database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)")
    await database.execute("INSERT INTO t (name) VALUES ('first')")
    yield database
    await driver.aclose()


async def test_a_runaway_statement_is_cancelled(db: SQLiteD1Database) -> None:
    started = time.monotonic()
    with pytest.raises(QueryError) as caught:
        await asyncio.wait_for(db.execute(RUNAWAY), BOUND)
    assert time.monotonic() - started < BOUND
    message = str(caught.value)
    assert "cancelled after 0.2 seconds" in message
    assert "statement_timeout=<seconds>" in message
    assert caught.value.status == 400
    # The database is usable at once.
    result = await db.execute("SELECT count(*) AS n FROM t")
    assert result.results == [{"n": 1}]


async def test_what_the_cancelled_statement_wrote_is_rolled_back(
    db: SQLiteD1Database,
) -> None:
    with pytest.raises(QueryError, match="statement_timeout"):
        await asyncio.wait_for(db.execute(RUNAWAY_INSERT), BOUND)
    result = await db.execute("SELECT name FROM t")
    assert result.results == [{"name": "first"}]
    # Writes go on as before: the rollback left no transaction open.
    written = await db.execute("INSERT INTO t (name) VALUES ('second')")
    assert written.meta.changes == 1


async def test_a_query_queued_behind_a_runaway_one_completes(
    db: SQLiteD1Database,
) -> None:
    runaway = asyncio.ensure_future(db.execute(RUNAWAY))
    small = asyncio.ensure_future(db.execute("SELECT name FROM t"))
    outcomes = await asyncio.wait_for(
        asyncio.gather(runaway, small, return_exceptions=True), BOUND
    )
    assert isinstance(outcomes[0], QueryError)
    assert "cancelled after" in str(outcomes[0])
    assert not isinstance(outcomes[1], BaseException)
    assert outcomes[1].results == [{"name": "first"}]


async def test_statements_within_the_limit_run_as_before(
    db: SQLiteD1Database,
) -> None:
    # About 10^5 steps: many deadline checks, but far inside 0.2 s.
    result = await db.execute(
        "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
        "WHERE x < 100000) SELECT count(*) AS n FROM c"
    )
    assert result.results == [{"n": 100000}]


async def test_the_deadline_is_per_statement(db: SQLiteD1Database) -> None:
    # Together these run far longer than the limit; each alone is quick, so
    # none is cancelled: the clock starts afresh with every statement.
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        await db.execute("SELECT count(*) FROM t")


async def test_the_handler_is_removed_after_the_statement(
    db: SQLiteD1Database,
) -> None:
    # The connection's progress handler is gone once a statement ends (here
    # a cancelled one), so the driver's own work on it is never interrupted.
    with pytest.raises(QueryError):
        await db.execute(RUNAWAY)

    def runs_past_the_deadline(conn: sqlite3.Connection) -> int:
        time.sleep(0.3)
        row = conn.execute(
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
            "WHERE x < 200000) SELECT count(*) FROM c"
        ).fetchone()
        return int(row[0])

    assert await db._file.run(runs_past_the_deadline) == 200000


def test_statement_timeout_defaults_to_30_seconds(tmp_path: Path) -> None:
    driver = SQLiteDriver(f"sqlite:///{tmp_path}")
    assert driver.statement_timeout == STATEMENT_TIMEOUT == 30.0
    assert driver.open_d1(d1_spec()).statement_timeout == 30.0


def test_statement_timeout_option_reaches_d1(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}?busy_timeout_ms=25&statement_timeout=2.5"
    driver = SQLiteDriver(url)
    assert driver.busy_timeout_ms == 25
    assert driver.open_d1(d1_spec()).statement_timeout == 2.5
    assert (
        SQLiteDriver("sqlite://:memory:?statement_timeout=60").statement_timeout == 60
    )


@pytest.mark.parametrize(
    "value",
    ["", "0", "0.0", "-1", "ten", "inf", "nan", "1e3", " 1", "1_0", "٣", "9" * 400],
)
def test_a_bad_statement_timeout_names_the_option(value: str) -> None:
    with pytest.raises(
        ValueError, match="statement_timeout must be a number"
    ) as caught:
        SQLiteDriver.validate_url(f"sqlite:///data?statement_timeout={value}")
    assert "seconds above 0" in str(caught.value)


def test_statement_timeout_given_twice_is_refused() -> None:
    url = "sqlite:///data?statement_timeout=1&statement_timeout=2"
    with pytest.raises(ValueError, match="'statement_timeout' is given twice"):
        SQLiteDriver.validate_url(url)
