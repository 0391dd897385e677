"""D1 on SQLite: the fence around user SQL, atomicity, results and durability."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pytest

from edgebind.errors import QueryError
from edgebind_sqlite import SQLiteDriver
from edgebind_sqlite.d1 import (
    QUERY_PRAGMAS,
    READ_ONLY_PRAGMAS,
    WRITABLE_PRAGMAS,
    SQLiteD1Database,
)
from tests.drivers.sqlite.conftest import d1_spec, kv_spec, vector_spec


@pytest.fixture
async def db(driver: SQLiteDriver) -> SQLiteD1Database:
    database = driver.open_d1(d1_spec())
    await database.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
    await database.execute("INSERT INTO t (name) VALUES ('first')")
    return database


@pytest.mark.parametrize(
    ("sql", "fragment"),
    [
        ("ATTACH DATABASE '{tmp}/x.db' AS x", "ATTACH, DETACH and VACUUM"),
        ("ATTACH ':memory:' AS m", "ATTACH, DETACH and VACUUM"),
        ("DETACH DATABASE main", "ATTACH, DETACH and VACUUM"),
        ("VACUUM INTO '{tmp}/copy.db'", "VACUUM"),
        ("VACUUM", "VACUUM"),
        ("SELECT load_extension('/tmp/evil')", "load_extension() is not allowed"),
        ("SELECT readfile('/etc/passwd')", "readfile"),
        ("SELECT writefile('{tmp}/w', 'x')", "writefile"),
        ("SELECT edit('x')", "edit"),
        ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer() is not allowed"),
        ("PRAGMA writable_schema = ON", "PRAGMA writable_schema is not allowed"),
        ("PRAGMA writable_schema", "PRAGMA writable_schema is not allowed"),
        ("PRAGMA journal_mode = DELETE", "may be read but not set"),
        ("PRAGMA foreign_keys = OFF", "defer_foreign_keys"),
        ("PRAGMA synchronous = OFF", "may be read but not set"),
        ("PRAGMA trusted_schema = ON", "PRAGMA trusted_schema is not allowed"),
        ("PRAGMA database_list", "PRAGMA database_list is not allowed"),
        ("SELECT * FROM pragma_database_list", "database_list is not allowed"),
        ("PRAGMA temp_store_directory = '/tmp'", "is not allowed"),
        ("PRAGMA cell_size_check = OFF", "is not allowed"),
        ("BEGIN", "transaction control"),
        ("BEGIN IMMEDIATE", "transaction control"),
        ("COMMIT", "transaction control"),
        ("ROLLBACK", "transaction control"),
        ("SAVEPOINT s1", "transaction control"),
        ("RELEASE s1", "transaction control"),
    ],
)
async def test_escape_attempts_are_refused(
    db: SQLiteD1Database,
    tmp_path: Path,
    sql: str,
    fragment: str,
) -> None:
    with pytest.raises(QueryError, match=re.escape(fragment)):
        await db.execute(sql.format(tmp=tmp_path))

    assert not (tmp_path / "x.db").exists()
    assert not (tmp_path / "copy.db").exists()
    assert not (tmp_path / "w").exists()
    # The database still works afterwards, with nothing left half-done.
    result = await db.execute("SELECT count(*) AS n FROM t")
    assert result.results == [{"n": 1}]


@pytest.mark.parametrize(
    "sql",
    [
        "PRAGMA table_info(t)",
        "PRAGMA index_list(t)",
        "PRAGMA foreign_keys",
        "PRAGMA user_version = 7",
        "PRAGMA user_version",
        "PRAGMA defer_foreign_keys = ON",
        "PRAGMA integrity_check",
        "SELECT * FROM pragma_table_info('t')",
    ],
)
async def test_harmless_pragmas_are_allowed(db: SQLiteD1Database, sql: str) -> None:
    await db.execute(sql)


def test_pragma_lists_do_not_overlap() -> None:
    assert not QUERY_PRAGMAS & READ_ONLY_PRAGMAS
    assert not READ_ONLY_PRAGMAS & WRITABLE_PRAGMAS
    assert "writable_schema" not in QUERY_PRAGMAS | READ_ONLY_PRAGMAS | WRITABLE_PRAGMAS


async def test_foreign_keys_are_enforced(db: SQLiteD1Database) -> None:
    await db.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t(id))"
    )
    with pytest.raises(QueryError, match="FOREIGN KEY constraint failed"):
        await db.execute("INSERT INTO child (t_id) VALUES (999)")


async def test_one_database_cannot_read_another(driver: SQLiteDriver) -> None:
    secret = driver.open_d1(d1_spec("secret"))
    await secret.execute("CREATE TABLE secrets (s TEXT)")
    await secret.execute("INSERT INTO secrets VALUES ('hidden')")
    other = driver.open_d1(d1_spec("other"))

    with pytest.raises(QueryError, match="no such table: secrets"):
        await other.execute("SELECT * FROM secrets")
    with pytest.raises(QueryError, match="ATTACH"):
        await other.execute(
            f"ATTACH DATABASE '{driver.directory}/d1-secret.sqlite3' AS s"
        )
    with pytest.raises(QueryError, match="no such table"):
        await other.execute("SELECT * FROM secret.secrets")


async def test_d1_file_holds_no_internal_tables(
    driver: SQLiteDriver, data_dir: Path
) -> None:
    db = driver.open_d1(d1_spec())
    await db.execute("CREATE TABLE mine (x)")
    await driver.open_kv(kv_spec()).put("k", "v")
    vectors = driver.open_vectorize(vector_spec())
    await vectors.provision()

    listing = await db.execute("SELECT name FROM sqlite_master ORDER BY name")

    assert listing.results == [{"name": "mine"}]
    names = sorted(p.name for p in data_dir.glob("*.sqlite3"))  # noqa: ASYNC240
    assert names == [
        "d1-main.sqlite3",
        "kv.sqlite3",
        "vectorize-embeddings.sqlite3",
    ]


async def test_a_failing_statement_changes_nothing(db: SQLiteD1Database) -> None:
    with pytest.raises(QueryError, match="UNIQUE constraint failed"):
        await db.execute("INSERT INTO t (name) VALUES ('a'), ('b'), ('first')")
    await db.execute("INSERT INTO t (name) VALUES ('second')")
    with pytest.raises(QueryError, match="UNIQUE constraint failed"):
        await db.execute("UPDATE t SET name = 'same'")

    rows = await db.execute("SELECT name FROM t ORDER BY id")

    assert rows.results == [{"name": "first"}, {"name": "second"}]


async def test_duplicate_columns_roll_back_a_returning_write(
    db: SQLiteD1Database,
) -> None:
    with pytest.raises(QueryError, match="distinct names with AS"):
        await db.execute("INSERT INTO t (name) VALUES ('x') RETURNING id, name AS id")

    rows = await db.execute("SELECT count(*) AS n FROM t")
    assert rows.results == [{"n": 1}]


async def test_duplicate_column_names_are_refused(db: SQLiteD1Database) -> None:
    with pytest.raises(QueryError, match=r"more than one column named 'id'.*AS"):
        await db.execute("SELECT a.id, b.id FROM t a JOIN t b")


async def test_ddl_is_transactional(db: SQLiteD1Database) -> None:
    with pytest.raises(QueryError, match="already exists"):
        await db.execute("CREATE TABLE t (x)")
    await db.execute("CREATE TABLE IF NOT EXISTS u (x)")
    await db.execute("DROP TABLE u")


async def test_more_than_one_statement_is_refused(db: SQLiteD1Database) -> None:
    with pytest.raises(QueryError, match="only one SQL statement per query"):
        await db.execute("INSERT INTO t (name) VALUES ('x'); DELETE FROM t")

    rows = await db.execute("SELECT count(*) AS n FROM t;  -- trailing comment")
    assert rows.results == [{"n": 1}]


async def test_results_and_meta(db: SQLiteD1Database) -> None:
    inserted = await db.execute("INSERT INTO t (name) VALUES (?)", ["second"])
    assert inserted.meta.changes == 1
    assert inserted.meta.rows_written == 1
    assert inserted.meta.last_row_id == 2
    assert inserted.results == []

    updated = await db.execute("UPDATE t SET name = name || '!'")
    assert updated.meta.changes == 2
    assert updated.meta.last_row_id is None

    selected = await db.execute("SELECT name, id FROM t WHERE id = ?1 OR id = ?1", [2])
    assert selected.results == [{"name": "second!", "id": 2}]
    assert list(selected.results[0]) == ["name", "id"]
    assert selected.meta.changes == 0
    assert selected.meta.rows_read == 1
    assert selected.meta.duration >= 0

    created = await db.execute("CREATE TABLE other (x)")
    assert created.meta.changes == 0
    assert created.meta.last_row_id is None


async def test_blobs_come_back_as_lists_of_ints(db: SQLiteD1Database) -> None:
    result = await db.execute("SELECT x'00ff10' AS b, zeroblob(2) AS z")

    assert result.results == [{"b": [0, 255, 16], "z": [0, 0]}]


async def test_integers_beyond_64_bits_are_a_query_error(db: SQLiteD1Database) -> None:
    with pytest.raises(QueryError, match="64-bit"):
        await db.execute("SELECT ?", [2**64])
    result = await db.execute("SELECT ? AS big", [2**63 - 1])
    assert result.results == [{"big": 2**63 - 1}]


async def test_wrong_parameter_count_is_a_query_error(db: SQLiteD1Database) -> None:
    with pytest.raises(QueryError, match="bindings"):
        await db.execute("SELECT ?, ?", [1])


async def test_question_mark_inside_a_literal_is_not_a_parameter(
    db: SQLiteD1Database,
) -> None:
    result = await db.execute("SELECT '?' AS q, ? AS p -- ?", ["x"])

    assert result.results == [{"q": "?", "p": "x"}]


async def test_data_persists_across_close_and_reopen(data_dir: Path) -> None:
    first = SQLiteDriver(f"sqlite:///{data_dir}")
    db = first.open_d1(d1_spec())
    await db.execute("CREATE TABLE t (x)")
    await db.execute("INSERT INTO t VALUES (42)")
    await first.aclose()

    second = SQLiteDriver(f"sqlite:///{data_dir}")
    rows = await second.open_d1(d1_spec()).execute("SELECT x FROM t")

    assert rows.results == [{"x": 42}]
    await second.aclose()


async def test_d1_file_is_in_wal_mode_with_full_sync(
    db: SQLiteD1Database,
    data_dir: Path,
) -> None:
    with sqlite3.connect(data_dir / "d1-main.sqlite3") as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"

    # Read through the D1 connection itself: synchronous is per connection.
    sync = await db._file.run(
        lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]
    )
    assert sync == 2  # FULL


async def test_provision_reports_created_then_reused(driver: SQLiteDriver) -> None:
    from edgebind.resource import ProvisionStatus

    db = driver.open_d1(d1_spec("fresh"))
    assert (await db.provision()).status is ProvisionStatus.CREATED
    await db.execute("CREATE TABLE t (x)")
    assert (await db.provision()).status is ProvisionStatus.REUSED


async def test_memory_databases_are_separate() -> None:
    driver = SQLiteDriver("sqlite://:memory:")
    one = driver.open_d1(d1_spec("one"))
    two = driver.open_d1(d1_spec("two"))
    await one.execute("CREATE TABLE t (x)")

    with pytest.raises(QueryError, match="no such table"):
        await two.execute("SELECT * FROM t")
    assert (
        await driver.open_d1(d1_spec("one")).execute("SELECT * FROM t")
    ).results == []
    await driver.aclose()
