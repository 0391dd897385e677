"""D1 on PostgreSQL: value types, meta, errors, and the plugin entry point."""

from __future__ import annotations

import pytest

from edgebind.d1 import D1Database
from edgebind.errors import QueryError
from edgebind.plugins import DriverRegistry
from edgebind_postgres import PostgresDriver
from edgebind_postgres.d1 import to_json_value


async def test_values_come_out_json_ready(db: D1Database) -> None:
    result = await db.execute(
        "SELECT 1.5 AS literal, sum(x) AS total, 2.0 AS two, "
        "'NaN'::float8 AS nan, '-Infinity'::float8 AS minus_inf, "
        "'\\x00ff'::bytea AS blob, DATE '2024-02-29' AS day, "
        "TIMESTAMPTZ '2024-02-29 12:00:00+02' AS moment, "
        "INTERVAL '1 day 2 hours' AS span, '{\"a\": [1, 2]}'::jsonb AS doc, "
        "'infinity'::date AS forever, ARRAY[1, 2] AS list, true AS flag, "
        "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid AS id "
        "FROM (VALUES (2::bigint), (3::bigint)) AS v(x)"
    )

    assert result.results == [
        {
            "literal": 1.5,
            "total": 5,
            "two": 2.0,
            "nan": "NaN",
            "minus_inf": "-Infinity",
            "blob": [0, 255],
            "day": "2024-02-29",
            "moment": "2024-02-29 10:00:00+00",
            "span": "P1DT2H",
            "doc": '{"a": [1, 2]}',
            "forever": "infinity",
            "list": [1, 2],
            "flag": True,
            "id": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        }
    ]
    assert isinstance(result.results[0]["total"], int)


def test_value_conversion_edges() -> None:
    from decimal import Decimal

    assert to_json_value(Decimal("1e400")) == 10**400
    huge_fraction = Decimal("1" + "0" * 400 + ".5")
    assert to_json_value(huge_fraction) == str(huge_fraction)
    assert to_json_value(Decimal("NaN")) == "NaN"
    assert to_json_value(Decimal("-0.25")) == -0.25
    assert to_json_value(float("inf")) == "Infinity"
    assert to_json_value(memoryview(b"\x01")) == [1]
    assert to_json_value({"k": (1, b"\x02")}) == {"k": [1, [2]]}


async def test_meta_counts_changes_and_last_row_id(db: D1Database) -> None:
    await db.execute("CREATE TABLE r (id bigserial PRIMARY KEY, v text)")

    first = await db.execute("INSERT INTO r (v) VALUES (?), (?)", ["a", "b"])
    plain = await db.execute("CREATE TABLE s (v text)")
    no_sequence = await db.execute("INSERT INTO s VALUES ('x')")
    updated = await db.execute("UPDATE r SET v = ? WHERE id > ?", ["z", 0])
    selected = await db.execute("SELECT * FROM r")

    assert first.meta.changes == 2
    assert first.meta.rows_written == 2
    assert first.meta.last_row_id == 2
    assert plain.meta.changes == 0
    assert no_sequence.meta.last_row_id is None
    assert updated.meta.changes == 2
    assert updated.meta.last_row_id is None
    assert selected.meta.changes == 0
    assert selected.meta.rows_read == 2
    assert selected.meta.duration >= 0


async def test_small_ints_do_not_overflow_smallint(db: D1Database) -> None:
    result = await db.execute("SELECT ? * ? AS product", [300, 400])
    assert result.results == [{"product": 120000}]

    big = await db.execute("SELECT ? AS big", [2**70])
    assert big.results == [{"big": 2**70}]


async def test_duplicate_columns_are_refused_with_their_name(db: D1Database) -> None:
    with pytest.raises(QueryError, match="more than one column named name"):
        await db.execute("SELECT 'a' AS name, 'b' AS name")


async def test_errors_carry_postgres_text(db: D1Database) -> None:
    with pytest.raises(QueryError, match='syntax error at or near "SELEC"'):
        await db.execute("SELEC 1")
    with pytest.raises(QueryError, match='relation "missing" does not exist'):
        await db.execute("SELECT * FROM missing")
    await db.execute("CREATE TABLE n (v text NOT NULL)")
    with pytest.raises(QueryError, match="DETAIL: "):
        await db.execute("INSERT INTO n VALUES (NULL)")


async def test_comment_only_query_returns_nothing(db: D1Database) -> None:
    result = await db.execute("-- nothing to run")
    assert result.results == []
    assert result.meta.changes == 0


async def test_percent_and_question_marks_round_trip(db: D1Database) -> None:
    await db.execute("CREATE TABLE p (v text)")
    await db.execute("INSERT INTO p VALUES ('100%'), (?)", ["50%? %s %%"])
    result = await db.execute(
        "SELECT v FROM p WHERE v LIKE '%\\%' OR v LIKE ?", ["%?%"]
    )
    assert [row["v"] for row in result.results] == ["100%", "50%? %s %%"]


def test_plugin_registers_through_its_entry_point() -> None:
    registry = DriverRegistry()
    registry.load_entry_points()

    assert registry.for_url("postgresql://u@h/db") is PostgresDriver
    assert registry.for_url("postgres://u@h/db") is PostgresDriver


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("postgresql://u@h/db?statement_timeout=0", "statement_timeout"),
        ("postgresql://u@h/db?pool_max_size=many", "pool_max_size"),
        ("postgresql://u@h/db?schema=Bad-Name", "schema"),
        ("mysql://u@h/db", "scheme"),
    ],
)
def test_bad_urls_are_refused_before_use(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PostgresDriver.validate_url(url)


def test_password_is_not_reused_for_d1_roles() -> None:
    driver = PostgresDriver("postgresql://admin:s3cret@h/app")
    password = driver.d1_role_password("app_d1_x")
    assert password is not None
    assert "s3cret" not in password
    assert password != driver.d1_role_password("app_d1_y")
    assert PostgresDriver("postgresql://admin@h/app").d1_role_password("r") is None
