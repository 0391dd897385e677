"""Translate D1's ``?`` placeholders into psycopg's ``%s``.

D1 statements mark parameters with ``?`` (the next parameter) or ``?NNN``
(parameter number NNN, counted from 1), as SQLite does. psycopg wants ``%s``
and reads every ``%`` in the text as the start of a placeholder, wherever it
stands — psycopg does not look at quoting — so each literal ``%`` becomes
``%%``, inside string literals and comments too.

A ``?`` counts as a placeholder only where PostgreSQL's lexer would see an
operator character: not inside a standard string ``'...'`` (``''`` escapes a
quote), an escape string ``E'...'`` (backslash escapes), a dollar-quoted body
``$tag$...$tag$``, a quoted identifier ``"..."``, a ``--`` comment or a
``/* ... */`` comment (which nest in PostgreSQL). Because ``?`` always means a
parameter, PostgreSQL's own operators that contain ``?`` (the jsonb ``?``,
``?|`` and ``?&``, a few geometric ones) cannot be written in D1 SQL; their
functions (``jsonb_exists``, ``jsonb_exists_any``, ``jsonb_exists_all``) can.

The translator also refuses a second statement after a top-level ``;``. psycopg
sends a statement without parameters through PostgreSQL's simple protocol,
which would run several statements, and a leading ``SET statement_timeout = 0``
could then lift the timeout from the rest.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from psycopg.types.numeric import Int8

from edgebind.d1 import SQLParam
from edgebind.errors import QueryError

__all__ = ["MAX_PARAMETER_NUMBER", "TranslatedSQL", "translate"]

logger = logging.getLogger(__name__)

#: PostgreSQL's wire protocol counts bind parameters in 16 bits.
MAX_PARAMETER_NUMBER = 65535

_INT8_MIN = -(2**63)
_INT8_MAX = 2**63 - 1

# A dollar-quote opener: ``$$`` or ``$tag$``; the tag is an identifier that
# does not start with a digit (``$1`` is a positional parameter instead).
_DOLLAR_TAG = re.compile(
    r"\$(?:[A-Za-z_\u0080-\U0010ffff][A-Za-z0-9_\u0080-\U0010ffff]*)?\$"
)
_DIGITS = re.compile(r"[0-9]+")


@dataclass(frozen=True, slots=True)
class TranslatedSQL:
    """psycopg-ready text plus which D1 parameter fills each ``%s``."""

    text: str
    #: for each ``%s`` in ``text``, in order, the 1-based D1 parameter number
    order: tuple[int, ...]
    #: how many parameters the statement expects (its highest number)
    expected: int

    def bind(self, params: Sequence[SQLParam]) -> list[object]:
        """The psycopg parameter list for ``params``; QueryError on a bad count."""
        if len(params) != self.expected:
            raise QueryError(
                f"the statement expects {self.expected} parameter(s) but "
                f"{len(params)} were given; pass one value in params for each "
                "? placeholder (or up to the highest ?NNN)"
            )
        return [_adapt(params[number - 1]) for number in self.order]


def _adapt(value: SQLParam) -> object:
    # psycopg sends a small Python int as smallint, so `? * ?` with 200 and
    # 300 would overflow; bigint (or numeric beyond it) behaves like SQLite.
    if isinstance(value, bool) or not isinstance(value, int):
        return value
    if _INT8_MIN <= value <= _INT8_MAX:
        return Int8(value)
    return Decimal(value)


def _is_identifier_char(char: str) -> bool:
    if ord(char) >= 0x80:
        return True
    return char.isascii() and (char.isalnum() or char in "_$")


def _starts_escape_string(sql: str, quote_at: int) -> bool:
    """Whether the ``'`` at ``quote_at`` opens an ``E'...'`` string."""
    if quote_at == 0 or sql[quote_at - 1] not in "Ee":
        return False
    return quote_at == 1 or not _is_identifier_char(sql[quote_at - 2])


def _end_of_quoted(sql: str, start: int, quote: str, *, backslash: bool) -> int:
    """Index just past the closing ``quote`` of the literal opened at ``start``.

    A doubled quote stays inside the literal; with ``backslash`` a backslash
    escapes the next character. An unterminated literal runs to the end, and
    PostgreSQL reports it.
    """
    index = start + 1
    length = len(sql)
    while index < length:
        char = sql[index]
        if backslash and char == "\\":
            index += 2
            continue
        if char == quote:
            if index + 1 < length and sql[index + 1] == quote:
                index += 2
                continue
            return index + 1
        index += 1
    return length


def _end_of_block_comment(sql: str, start: int) -> int:
    """Index just past the ``*/`` closing the (nestable) comment at ``start``."""
    depth = 0
    index = start
    length = len(sql)
    while index < length:
        if sql.startswith("/*", index):
            depth += 1
            index += 2
        elif sql.startswith("*/", index):
            depth -= 1
            index += 2
            if depth == 0:
                return index
        else:
            index += 1
    return length


def _end_of_line_comment(sql: str, start: int) -> int:
    index = start
    length = len(sql)
    while index < length and sql[index] not in "\r\n":
        index += 1
    return index


def translate(sql: str) -> TranslatedSQL:
    """Translate one D1 statement; QueryError for a second statement or a
    parameter number out of range."""
    pieces: list[str] = []
    order: list[int] = []
    highest = 0
    after_statement = False
    index = 0
    length = len(sql)

    while index < length:
        char = sql[index]

        # Quoted text and comments are copied whole, with % doubled.
        end = _end_of_opaque_run(sql, index)
        if end is not None:
            pieces.append(sql[index:end].replace("%", "%%"))
            is_comment = sql.startswith(("--", "/*"), index)
            if after_statement and not is_comment:
                raise _second_statement()
            index = end
            continue

        if after_statement and not (char.isspace() or char == ";"):
            raise _second_statement()

        if char == "?":
            digits = _DIGITS.match(sql, index + 1)
            if digits is None:
                number = highest + 1
                index += 1
            else:
                number = int(digits.group())
                index = digits.end()
                if number == 0:
                    raise QueryError(
                        "?0 is not a parameter number; numbered parameters "
                        "count from ?1"
                    )
            if number > MAX_PARAMETER_NUMBER:
                raise QueryError(
                    f"parameter number {number} is above PostgreSQL's limit of "
                    f"{MAX_PARAMETER_NUMBER}"
                )
            highest = max(highest, number)
            order.append(number)
            pieces.append("%s")
            continue

        if char == ";":
            after_statement = True
        pieces.append("%%" if char == "%" else char)
        index += 1

    if len(order) > MAX_PARAMETER_NUMBER:
        raise QueryError(
            f"the statement uses {len(order)} placeholders; PostgreSQL binds at "
            f"most {MAX_PARAMETER_NUMBER}"
        )
    return TranslatedSQL("".join(pieces), tuple(order), highest)


def _end_of_opaque_run(sql: str, index: int) -> int | None:
    """End of the literal, quoted identifier or comment starting at ``index``,
    or None when none starts there."""
    char = sql[index]
    if char == "'":
        backslash = _starts_escape_string(sql, index)
        return _end_of_quoted(sql, index, "'", backslash=backslash)
    if char == '"':
        return _end_of_quoted(sql, index, '"', backslash=False)
    if sql.startswith("--", index):
        return _end_of_line_comment(sql, index)
    if sql.startswith("/*", index):
        return _end_of_block_comment(sql, index)
    if char == "$" and (index == 0 or not _is_identifier_char(sql[index - 1])):
        opener = _DOLLAR_TAG.match(sql, index)
        if opener is not None:
            tag = opener.group()
            closer = sql.find(tag, opener.end())
            return len(sql) if closer == -1 else closer + len(tag)
    return None


def _second_statement() -> QueryError:
    return QueryError(
        "the query holds more than one statement; D1 runs one statement per "
        "call, so send each statement as its own query"
    )
