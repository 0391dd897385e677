"""The ``?`` -> ``%s`` translator: awkward cases, a property test, and a
round trip through a real server for literals psycopg would misread."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from psycopg.types.numeric import Int8

from edgebind.d1 import D1Database
from edgebind.errors import QueryError
from edgebind_postgres.placeholders import MAX_PARAMETER_NUMBER, translate


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("SELECT ?", "SELECT %s"),
        ("SELECT '?'", "SELECT '?'"),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', %s"),
        ("SELECT E'\\' ?', ?", "SELECT E'\\' ?', %s"),
        ("SELECT e'a\\\\', ?", "SELECT e'a\\\\', %s"),
        # Without the E prefix a backslash is an ordinary character.
        ("SELECT '\\', ?", "SELECT '\\', %s"),
        # "typE" is an identifier, not an E prefix.
        ("SELECT typE'\\', ?", "SELECT typE'\\', %s"),
        ("SELECT $$ ? $$, ?", "SELECT $$ ? $$, %s"),
        ("SELECT $fn$ $$ ? $fn$, ?", "SELECT $fn$ $$ ? $fn$, %s"),
        ("SELECT a$b$ ?", "SELECT a$b$ %s"),
        ('SELECT "col?" FROM t WHERE x = ?', 'SELECT "col?" FROM t WHERE x = %s'),
        ('SELECT "a""?" , ?', 'SELECT "a""?" , %s'),
        ("SELECT ? -- why ?\n, ?", "SELECT %s -- why ?\n, %s"),
        (
            "SELECT /* a /* nested ? */ still ? */ ?",
            "SELECT /* a /* nested ? */ still ? */ %s",
        ),
        ("SELECT 5 % 3, '%', ?", "SELECT 5 %% 3, '%%', %s"),
        ("SELECT '%s'", "SELECT '%%s'"),
        ("SELECT 1;", "SELECT 1;"),
        ("SELECT 1; -- done\n  /* really */ ;", "SELECT 1; -- done\n  /* really */ ;"),
        ("SELECT 'a;b'; ", "SELECT 'a;b'; "),
        ("SELECT 'unterminated ?", "SELECT 'unterminated ?"),
    ],
)
def test_translation(source: str, expected: str) -> None:
    assert translate(source).text == expected


def test_plain_placeholders_number_in_order() -> None:
    translated = translate("SELECT ?, ?, ?")
    assert translated.order == (1, 2, 3)
    assert translated.expected == 3


def test_numbered_placeholders_follow_sqlite_rules() -> None:
    # A bare ? after ?NNN takes the number above the highest so far.
    translated = translate("SELECT ?2, ?, ?1, ?")
    assert translated.order == (2, 3, 1, 4)
    assert translated.expected == 4
    assert translated.bind(["a", "b", "c", "d"]) == ["b", "c", "a", "d"]


def test_unused_numbers_still_count() -> None:
    translated = translate("SELECT ?3")
    assert translated.expected == 3
    assert translated.bind([None, None, "x"]) == ["x"]
    with pytest.raises(QueryError, match="expects 3 parameter"):
        translated.bind(["x"])


@pytest.mark.parametrize("params", [[], [1, 2]])
def test_wrong_count_names_both_numbers(params: list[int]) -> None:
    with pytest.raises(QueryError, match=rf"expects 1 parameter.*{len(params)} were"):
        translate("SELECT ?").bind(params)


def test_question_zero_is_refused() -> None:
    with pytest.raises(QueryError, match=r"\?0 is not a parameter number"):
        translate("SELECT ?0")


def test_number_above_postgres_limit_is_refused() -> None:
    with pytest.raises(QueryError, match="limit"):
        translate(f"SELECT ?{MAX_PARAMETER_NUMBER + 1}")


@pytest.mark.parametrize(
    "source",
    [
        "SELECT 1; SELECT 2",
        "SET statement_timeout = 0; SELECT pg_sleep(100)",
        "SELECT 1; 'x'",
        'SELECT 1;"t"',
    ],
)
def test_second_statement_is_refused(source: str) -> None:
    with pytest.raises(QueryError, match="more than one statement"):
        translate(source)


def test_ints_are_sent_as_bigint() -> None:
    bound = translate("SELECT ?, ?, ?").bind([5, True, 2**70])
    assert isinstance(bound[0], Int8)
    assert bound[1] is True
    assert str(bound[2]) == str(2**70)


# ------------------------------------------------------------ property test

# Each fragment is (source, translation, placeholders it holds).
_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=12,
)


def _standard_string(body: str) -> tuple[str, str, int]:
    source = "'" + body.replace("'", "''") + "'"
    return source, source.replace("%", "%%"), 0


def _escape_string(body: str) -> tuple[str, str, int]:
    escaped = body.replace("\\", "\\\\").replace("'", "\\'")
    source = " E'" + escaped + "'"
    return source, source.replace("%", "%%"), 0


def _quoted_identifier(body: str) -> tuple[str, str, int]:
    source = '"' + body.replace('"', '""') + '"'
    return source, source.replace("%", "%%"), 0


def _dollar_string(body: str) -> tuple[str, str, int]:
    source = " $q$" + body.replace("$q$", "") + "$q$"
    return source, source.replace("%", "%%"), 0


def _block_comment(body: str) -> tuple[str, str, int]:
    cleaned = body.replace("*/", "").replace("/*", "")
    source = "/* " + cleaned + " */"
    return source, source.replace("%", "%%"), 0


def _line_comment(body: str) -> tuple[str, str, int]:
    cleaned = body.replace("\n", " ").replace("\r", " ")
    source = "-- " + cleaned + "\n"
    return source, source.replace("%", "%%"), 0


_fragments = st.one_of(
    _text.map(_standard_string),
    _text.map(_escape_string),
    _text.map(_quoted_identifier),
    _text.map(_dollar_string),
    _text.map(_block_comment),
    _text.map(_line_comment),
    st.just((" ? ", " %s ", 1)),
    st.just((" % ", " %% ", 0)),
    st.sampled_from(["SELECT", "x", "1", "+", ",", "(", ")"]).map(
        lambda word: (f" {word} ", f" {word} ", 0)
    ),
)


@given(st.lists(_fragments, max_size=20))
def test_translation_property(fragments: list[tuple[str, str, int]]) -> None:
    source = "".join(piece for piece, _, _ in fragments)
    expected = "".join(translated for _, translated, _ in fragments)
    count = sum(placeholders for _, _, placeholders in fragments)

    translated = translate(source)

    assert translated.text == expected
    assert translated.order == tuple(range(1, count + 1))
    # Every % psycopg sees is either ours (%s) or an escaped one (%%).
    assert translated.text.replace("%%", "").count("%") == count


# ---------------------------------------------------- through a real server


@pytest.mark.parametrize(
    "literal",
    [
        "'50% off, or 100%%?'",
        "E'back\\\\slash \\' quote ?'",
        "$body$ it's ? and % $body$",
        "U&'d\\0061t\\+000061 ?'",
    ],
)
async def test_literals_survive_the_server(db: D1Database, literal: str) -> None:
    plain = await db.execute(f"SELECT {literal} AS v")
    bound = await db.execute(f"SELECT {literal} AS v, CAST(? AS text) AS p", ["%?"])

    assert bound.results[0]["v"] == plain.results[0]["v"]
    assert bound.results[0]["p"] == "%?"
    assert "?" in str(plain.results[0]["v"])
