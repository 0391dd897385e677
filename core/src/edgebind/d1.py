"""The D1 interface: one SQL statement at a time against one isolated database."""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from edgebind.capabilities import D1Capabilities
from edgebind.errors import InvalidArgument
from edgebind.resource import Resource

__all__ = ["D1Database", "D1Meta", "D1Result", "SQLParam"]

#: A bound parameter: a JSON scalar.
SQLParam = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class D1Meta:
    changes: int = 0
    #: milliseconds the statement took inside the driver
    duration: float = 0.0
    rows_read: int = 0
    rows_written: int = 0
    last_row_id: int | None = None


@dataclass(frozen=True, slots=True)
class D1Result:
    """Rows as column→value dicts in column order, plus ``meta``."""

    results: list[dict[str, Any]] = field(default_factory=list)
    meta: D1Meta = field(default_factory=D1Meta)


class D1Database(Resource):
    """One declared D1 database. Statements can reach nothing outside it.

    A statement that fails changes nothing and raises
    :class:`~edgebind.errors.QueryError` with the database's own error text.
    """

    capabilities: ClassVar[D1Capabilities] = D1Capabilities()

    async def execute(
        self, sql: str, params: Sequence[SQLParam] | None = None
    ) -> D1Result:
        """Run one statement with ``?`` placeholders bound to ``params``."""
        self._check_open()
        if not isinstance(sql, str):
            raise InvalidArgument("query must be a string of SQL")
        if not sql.strip():
            raise InvalidArgument("query is empty; send one SQL statement")
        bound = list(params or ())
        for position, value in enumerate(bound, start=1):
            if not isinstance(value, str | int | float | bool | type(None)):
                raise InvalidArgument(
                    f"params[{position - 1}] is a {type(value).__name__}; "
                    "parameters must be strings, numbers, booleans or null"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidArgument(f"params[{position - 1}] is not a finite number")
        return await self._execute(sql, bound)

    @abstractmethod
    async def _execute(self, sql: str, params: list[SQLParam]) -> D1Result:
        """Run ``sql`` atomically; raise QueryError on any database error."""
