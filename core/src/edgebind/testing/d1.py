"""D1Contract: the SQL cases every D1 driver must pass (CONTRACT_CASES S1-S11).

Subclass it and provide the ``driver`` fixture (see :mod:`edgebind.testing`).
Every database the suite opens is new and uniquely named, so tests create
their tables with fixed names. The SQL is written to run on both SQLite and
PostgreSQL (``BIGINT``, ``DOUBLE PRECISION``, ``CAST(? AS ...)`` around bare
parameters); the few cases that only make sense in one dialect are gated on
``D1Capabilities.dialect``.

D1 runs one statement per call (DESIGN §3), so S8 asks that several
statements in one call are refused and that a failing statement changes
nothing; S9 (transactions) does not apply.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
import pytest_asyncio

from edgebind.capabilities import D1Capabilities
from edgebind.d1 import D1Database
from edgebind.drivers import Driver
from edgebind.errors import InvalidArgument, QueryError, ResourceClosed
from edgebind.resource import ProvisionStatus, ResourceSpec
from edgebind.testing._base import (
    ContractBase,
    ResourceOpener,
    asyncio_contract,
    unique_name,
)
from edgebind.testing.clock import FakeClock

__all__ = ["D1Contract"]

logger = logging.getLogger(__name__)

INJECTION = "'); DROP TABLE t; --"


@asyncio_contract
class D1Contract(ContractBase):
    """The D1 contract. Provide a ``driver`` fixture; see the module docs."""

    kind: ClassVar = "d1"
    capability_class: ClassVar = D1Capabilities

    @pytest_asyncio.fixture(loop_scope="function")
    async def db(self, opener: ResourceOpener) -> AsyncIterator[D1Database]:
        database: D1Database = await opener.provisioned()
        yield database

    @pytest_asyncio.fixture(loop_scope="function")
    async def table(self, db: D1Database) -> D1Database:
        """``db`` with ``t(id BIGINT PRIMARY KEY, name TEXT, score DOUBLE
        PRECISION)``, empty."""
        await db.execute(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, score DOUBLE PRECISION)"
        )
        return db

    @pytest.fixture
    def caps(self, declared: D1Capabilities) -> D1Capabilities:
        return declared

    async def count(self, db: D1Database, table: str = "t") -> int:
        result = await db.execute(f"SELECT COUNT(*) AS n FROM {table}")
        return int(result.results[0]["n"])

    # ------------------------------------------------------------------ S1

    async def test_s1_round_trip_and_column_order(self, table: D1Database) -> None:
        """S1: insert then select; rows keep the column order asked for."""
        inserted = await table.execute(
            "INSERT INTO t (id, name, score) VALUES (?, ?, ?)", [1, "ada", 9.5]
        )
        assert inserted.meta.changes == 1
        assert inserted.meta.duration >= 0
        assert inserted.results == []

        result = await table.execute("SELECT score, name, id FROM t")
        assert result.results == [{"score": 9.5, "name": "ada", "id": 1}]
        assert list(result.results[0]) == ["score", "name", "id"]
        assert result.meta.duration >= 0

    @pytest.mark.requires(dialect="sqlite")
    async def test_s1_last_row_id(self, db: D1Database) -> None:
        """S1: an insert reports its rowid as last_row_id (SQLite dialect)."""
        await db.execute("CREATE TABLE r (id INTEGER PRIMARY KEY, v TEXT)")
        first = await db.execute("INSERT INTO r (v) VALUES (?)", ["a"])
        second = await db.execute("INSERT INTO r (v) VALUES (?)", ["b"])

        assert first.meta.last_row_id == 1
        assert second.meta.last_row_id == 2
        assert second.meta.rows_written >= 1

    # ------------------------------------------------------------------ S2

    async def test_s2_wrong_param_count(self, table: D1Database) -> None:
        """S2: too few or too many parameters is a typed error."""
        with pytest.raises(InvalidArgument):
            await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [1])
        with pytest.raises(InvalidArgument):
            await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [1, "a", 3])
        assert await self.count(table) == 0

    async def test_s2_none_is_null(self, table: D1Database) -> None:
        """S2: a None parameter is stored as NULL."""
        await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [1, None])

        result = await table.execute("SELECT name FROM t WHERE name IS NULL")
        assert result.results == [{"name": None}]

    async def test_s2_question_mark_in_literal_is_not_a_placeholder(
        self, db: D1Database
    ) -> None:
        """S2: ``?`` inside a string literal or a comment is plain text."""
        result = await db.execute(
            "SELECT 'what?' AS q, CAST(? AS INTEGER) AS v, '??' AS qq", [7]
        )
        assert result.results == [{"q": "what?", "v": 7, "qq": "??"}]

        commented = await db.execute(
            "SELECT CAST(? AS INTEGER) AS v /* is ? a placeholder */", [8]
        )
        assert commented.results == [{"v": 8}]

        line = await db.execute("SELECT CAST(? AS INTEGER) AS v -- or ? here", [9])
        assert line.results == [{"v": 9}]

    async def test_s2_injection_payload_stored_verbatim(
        self, table: D1Database
    ) -> None:
        """S2: a bound injection payload is data, stored as sent."""
        await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [1, INJECTION])

        result = await table.execute("SELECT name FROM t WHERE id = ?", [1])
        assert result.results == [{"name": INJECTION}]
        assert await self.count(table) == 1

    @pytest.mark.requires("numbered_params")
    async def test_s2_numbered_params(self, db: D1Database) -> None:
        """S2: ``?NNN`` numbered parameters bind by position."""
        result = await db.execute(
            "SELECT CAST(?2 AS INTEGER) AS b, CAST(?1 AS INTEGER) AS a, "
            "CAST(?2 AS INTEGER) AS b2",
            [1, 2],
        )
        assert result.results == [{"b": 2, "a": 1, "b2": 2}]

    @pytest.mark.lacks("numbered_params")
    async def test_l2_numbered_params_refused(self, db: D1Database) -> None:
        """L2: a driver without numbered parameters refuses ``?1``."""
        with pytest.raises(InvalidArgument):
            await db.execute("SELECT CAST(?1 AS INTEGER) AS a", [1])

    async def test_s2_params_must_be_scalars(self, db: D1Database) -> None:
        """S2: lists, dicts and non-finite floats are refused before the DB."""
        for bad in ([1, 2], {"a": 1}, float("nan"), float("inf")):
            with pytest.raises(InvalidArgument):
                await db.execute("SELECT ? AS v", [bad])  # type: ignore[list-item]

    # ------------------------------------------------------------------ S3

    @pytest.mark.parametrize(
        "number",
        [0, -1, 2**31, 2**53 + 1, 2**63 - 1, -(2**63)],
        ids=["zero", "minus-one", "2^31", "2^53+1", "2^63-1", "-2^63"],
    )
    async def test_s3_integers_exact(self, table: D1Database, number: int) -> None:
        """S3: 64-bit integers, past 2^53 included, come back exactly."""
        await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [number, "n"])

        result = await table.execute("SELECT id FROM t")
        assert result.results == [{"id": number}]
        assert type(result.results[0]["id"]) is int

    async def test_s3_floats(self, table: D1Database) -> None:
        """S3: doubles keep their precision."""
        values = [0.1, 1 / 3, -2.5e-300, 1.7976931348623157e308]
        for position, value in enumerate(values):
            await table.execute(
                "INSERT INTO t (id, score) VALUES (?, ?)", [position, value]
            )

        result = await table.execute("SELECT score FROM t ORDER BY id")
        assert [row["score"] for row in result.results] == values

    async def test_s3_empty_string_is_not_null(self, table: D1Database) -> None:
        """S3: the empty string and NULL stay distinct."""
        await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [1, ""])
        await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [2, None])

        empty = await table.execute("SELECT id FROM t WHERE name = ?", [""])
        null = await table.execute("SELECT id FROM t WHERE name IS NULL")
        both = await table.execute("SELECT id, name FROM t ORDER BY id")
        assert empty.results == [{"id": 1}]
        assert null.results == [{"id": 2}]
        assert both.results == [{"id": 1, "name": ""}, {"id": 2, "name": None}]

    async def test_s3_unicode_text(self, table: D1Database) -> None:
        """S3: any Unicode text round-trips."""
        text = "naïve 漢字 😀 \U0010ffff ﷽ e\u0301"
        await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [1, text])

        result = await table.execute("SELECT name FROM t")
        assert result.results == [{"name": text}]

    @pytest.mark.requires(dialect="sqlite")
    async def test_s3_bool_maps_to_integer(self, db: D1Database) -> None:
        """S3: on SQLite a boolean parameter is stored as 1 or 0."""
        result = await db.execute("SELECT ? AS t, ? AS f", [True, False])
        assert result.results == [{"t": 1, "f": 0}]

    # ------------------------------------------------------------- S4 - S6

    async def test_s4_select_matching_nothing(self, table: D1Database) -> None:
        """S4: a SELECT that matches nothing has no rows."""
        result = await table.execute("SELECT id, name FROM t WHERE id = ?", [42])
        assert result.results == []
        assert result.meta.changes == 0

    @pytest.mark.requires("rejects_duplicate_columns")
    async def test_s5_duplicate_column_names_refused(self, db: D1Database) -> None:
        """S5: a result with two columns of one name is refused, not
        silently last-wins."""
        await db.execute("CREATE TABLE a (id BIGINT, name TEXT)")
        await db.execute("CREATE TABLE b (id BIGINT, name TEXT)")
        await db.execute("INSERT INTO a VALUES (1, 'from-a')")
        await db.execute("INSERT INTO b VALUES (1, 'from-b')")

        with pytest.raises(QueryError):
            await db.execute("SELECT a.name, b.name FROM a JOIN b ON a.id = b.id")
        with pytest.raises(QueryError):
            await db.execute("SELECT 1 AS x, 2 AS x")
        aliased = await db.execute(
            "SELECT a.name AS a_name, b.name AS b_name FROM a JOIN b ON a.id = b.id"
        )
        assert aliased.results == [{"a_name": "from-a", "b_name": "from-b"}]

    @pytest.mark.lacks("rejects_duplicate_columns")
    async def test_s5_duplicate_column_names_kept(self, db: D1Database) -> None:
        """S5: a driver that does not refuse duplicates must keep both."""
        result = await db.execute("SELECT 1 AS x, 2 AS x")
        assert len(result.results[0]) == 2

    async def test_s6_changes_for_update_and_delete(self, table: D1Database) -> None:
        """S6: changes counts rows touched: 0, 1 and many."""
        for i in range(5):
            await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [i, "x"])

        none = await table.execute("UPDATE t SET name = ? WHERE id = ?", ["y", 99])
        one = await table.execute("UPDATE t SET name = ? WHERE id = ?", ["y", 0])
        many = await table.execute("UPDATE t SET name = ? WHERE id >= ?", ["z", 2])
        assert (none.meta.changes, one.meta.changes, many.meta.changes) == (0, 1, 3)

        gone_none = await table.execute("DELETE FROM t WHERE id = ?", [99])
        gone_many = await table.execute("DELETE FROM t WHERE name = ?", ["z"])
        assert (gone_none.meta.changes, gone_many.meta.changes) == (0, 3)
        assert await self.count(table) == 2

    async def test_s6_ddl_returns_no_rows(self, db: D1Database) -> None:
        """S6: DDL returns no rows and reports no changed rows."""
        created = await db.execute("CREATE TABLE d (x BIGINT)")
        dropped = await db.execute("DROP TABLE d")

        assert created.results == []
        assert dropped.results == []
        assert created.meta.changes == 0

    @pytest.mark.requires("returning")
    async def test_s6_returning(self, table: D1Database) -> None:
        """S6: RETURNING gives the written rows back."""
        result = await table.execute(
            "INSERT INTO t (id, name) VALUES (?, ?), (?, ?) RETURNING id, name",
            [1, "a", 2, "b"],
        )
        assert sorted(result.results, key=lambda r: r["id"]) == [
            {"id": 1, "name": "a"},
            {"id": 2, "name": "b"},
        ]
        assert await self.count(table) == 2

    @pytest.mark.lacks("returning")
    async def test_l2_returning_refused(self, table: D1Database) -> None:
        """L2: a driver without RETURNING refuses it rather than dropping it."""
        with pytest.raises(QueryError):
            await table.execute(
                "INSERT INTO t (id, name) VALUES (?, ?) RETURNING id", [1, "a"]
            )

    # ------------------------------------------------------------- S7 - S8

    async def test_s7_syntax_error(self, db: D1Database) -> None:
        """S7: a syntax error is a QueryError with the database's text."""
        with pytest.raises(QueryError) as caught:
            await db.execute("SELEC 1")
        assert "syntax" in caught.value.message.lower()
        assert caught.value.__cause__ is not None

    async def test_s7_constraint_violations(self, db: D1Database) -> None:
        """S7: UNIQUE and NOT NULL violations are QueryErrors naming them."""
        await db.execute("CREATE TABLE c (id BIGINT PRIMARY KEY, v TEXT NOT NULL)")
        await db.execute("INSERT INTO c VALUES (?, ?)", [1, "a"])

        with pytest.raises(QueryError) as unique:
            await db.execute("INSERT INTO c VALUES (?, ?)", [1, "b"])
        with pytest.raises(QueryError) as not_null:
            await db.execute("INSERT INTO c VALUES (?, ?)", [2, None])
        assert "unique" in unique.value.message.lower()
        assert "null" in not_null.value.message.lower()
        assert unique.value.__cause__ is not None
        assert await self.count(db, "c") == 1

    async def test_s7_missing_table_names_it(self, db: D1Database) -> None:
        """S7: a missing table is a QueryError whose text names the table,
        non-ASCII names surviving intact."""
        with pytest.raises(QueryError) as plain:
            await db.execute("SELECT * FROM no_such_table_here")
        assert "no_such_table_here" in plain.value.message

        with pytest.raises(QueryError) as accented:
            await db.execute('SELECT * FROM "tablé_ünknown"')
        assert "tablé_ünknown" in accented.value.message

    async def test_s8_multiple_statements_refused(self, table: D1Database) -> None:
        """S8: two statements in one call are refused and neither runs."""
        with pytest.raises(QueryError):
            await table.execute(
                "INSERT INTO t (id) VALUES (1); INSERT INTO t (id) VALUES (2)"
            )
        with pytest.raises(QueryError):
            await table.execute("SELECT 1; DROP TABLE t")
        assert await self.count(table) == 0

    async def test_s8_trailing_semicolon_is_one_statement(self, db: D1Database) -> None:
        """S8: a single statement ending in ``;`` is still one statement."""
        result = await db.execute("SELECT 1 AS one;")
        assert result.results == [{"one": 1}]

    async def test_s8_failing_statement_changes_nothing(
        self, table: D1Database
    ) -> None:
        """S8: a multi-row insert that fails midway writes no row at all."""
        with pytest.raises(QueryError):
            await table.execute(
                "INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b'), (1, 'dup')"
            )
        assert await self.count(table) == 0

        await table.execute("INSERT INTO t (id, name) VALUES (1, 'a'), (2, 'b')")
        with pytest.raises(QueryError):
            await table.execute("UPDATE t SET id = ?", [3])
        unchanged = await table.execute("SELECT id FROM t ORDER BY id")
        assert unchanged.results == [{"id": 1}, {"id": 2}]

    # ------------------------------------------------------------ S10 - S11

    async def test_s10_ten_thousand_rows(self, db: D1Database) -> None:
        """S10: a 10,000-row result arrives whole and in order."""
        result = await db.execute(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 10000) SELECT i FROM n ORDER BY i"
        )
        assert len(result.results) == 10_000
        assert result.results[0] == {"i": 1}
        assert result.results[-1] == {"i": 10_000}

    async def test_s10_large_text(self, table: D1Database) -> None:
        """S10: a 1 MiB text value round-trips."""
        text = "abcdefghij" * (1024 * 1024 // 10)
        await table.execute("INSERT INTO t (id, name) VALUES (?, ?)", [1, text])

        result = await table.execute("SELECT name FROM t")
        assert result.results[0]["name"] == text

    async def test_s11_awkward_literals(self, table: D1Database) -> None:
        """S11: ``%``, ``%%``, backslashes and quotes survive as literals and
        as parameters."""
        awkward = ["100%", "a%%b", "back\\slash", "it's", 'say "hi"', "%s", "$1"]
        for position, text in enumerate(awkward):
            await table.execute(
                "INSERT INTO t (id, name) VALUES (?, ?)", [position, text]
            )

        stored = await table.execute("SELECT name FROM t ORDER BY id")
        assert [row["name"] for row in stored.results] == awkward
        literal = await table.execute(
            "SELECT '100%' AS p, 'a%%b' AS pp, 'it''s' AS q, 'back\\slash' AS b"
        )
        assert literal.results == [
            {"p": "100%", "pp": "a%%b", "q": "it's", "b": "back\\slash"}
        ]

    # ------------------------------------------------------------ L1 - L4

    async def test_s2_empty_query_rejected(self, db: D1Database) -> None:
        """S2: an empty or blank query is InvalidArgument, not sent."""
        for sql in ("", "   \n\t"):
            with pytest.raises(InvalidArgument):
                await db.execute(sql)

    async def test_l1_databases_isolated(
        self, table: D1Database, opener: ResourceOpener
    ) -> None:
        """L1: a table in one database is invisible in another."""
        other: D1Database = await opener.provisioned()
        await table.execute("INSERT INTO t (id, name) VALUES (1, 'a')")

        with pytest.raises(QueryError):
            await other.execute("SELECT * FROM t")
        again: D1Database = await opener.provisioned(table.name)
        assert await self.count(again) == 1

    async def test_l1_still_empty(self, db: D1Database) -> None:
        """L1: a fresh database has no tables left by earlier tests."""
        with pytest.raises(QueryError):
            await db.execute("SELECT * FROM t")

    async def test_l2_runtime_capabilities_equal_declared(
        self, driver: Driver, db: D1Database, declared: D1Capabilities
    ) -> None:
        """L2: the resource's capabilities equal the driver's declaration."""
        assert db.capabilities == declared
        assert declared.dialect in ("sqlite", "postgresql")
        if type(driver).d1_capabilities is not None:
            assert type(driver).d1_capabilities == type(db).capabilities

    async def test_l3_provision_idempotent_and_ping(
        self, opener: ResourceOpener
    ) -> None:
        """L3: provision is safe to repeat; ping succeeds."""
        db = opener.open()
        first = await db.provision()
        second = await db.provision()

        assert first.status in (ProvisionStatus.CREATED, ProvisionStatus.REUSED)
        assert second.status is ProvisionStatus.REUSED
        await db.ping()

    async def test_l4_close_idempotent_use_after_close(
        self, driver: Driver, clock: FakeClock
    ) -> None:
        """L4: aclose twice is fine; execute afterwards is ResourceClosed."""
        own = self.make_driver(driver, clock)
        db = own.open_d1(ResourceSpec("d1", unique_name(), "CONTRACT_D1"))
        await db.provision()
        await db.execute("SELECT 1 AS one")

        await db.aclose()
        await db.aclose()
        with pytest.raises(ResourceClosed):
            await db.execute("SELECT 1 AS one")
        await own.aclose()
        await own.aclose()
