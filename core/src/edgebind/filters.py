"""Vectorize metadata filters: parsing, validation and a reference evaluator.

A filter is an AND of conditions, ``{"field": value}`` (shorthand for
``$eq``) or ``{"field": {"$op": value, ...}}``. Dotted fields reach nested
metadata. Drivers receive the parsed :class:`VectorFilter` and translate its
conditions into their backend's query language; :func:`matches` is the
meaning every translation must agree with:

* ``$eq`` / ``$in`` match only when the field is present and equal; numbers
  compare by value (``1 == 1.0``), but a boolean never equals a number and a
  string never equals a number (``"1" != 1``).
* ``$ne`` / ``$nin`` also match when the field is absent.
* ``$lt $lte $gt $gte`` match when the field is present and of the same
  family as the operand — both numbers or both strings (compared by code
  point); anything else does not match.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edgebind.errors import InvalidArgument

__all__ = [
    "OPERATORS",
    "Condition",
    "FilterScalar",
    "VectorFilter",
    "lookup",
    "matches",
    "parse_filter",
]

FilterScalar = str | int | float | bool | None

OPERATORS = frozenset({"$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte"})
RANGE_OPERATORS = frozenset({"$lt", "$lte", "$gt", "$gte"})
LIST_OPERATORS = frozenset({"$in", "$nin"})
MAX_IN_VALUES = 1000


@dataclass(frozen=True, slots=True)
class Condition:
    """``path`` is the dotted field split on dots; ``value`` is a scalar, or a
    tuple of scalars for ``$in`` / ``$nin``."""

    path: tuple[str, ...]
    op: str
    value: FilterScalar | tuple[FilterScalar, ...]

    @property
    def field(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class VectorFilter:
    conditions: tuple[Condition, ...]


def parse_filter(raw: Any) -> VectorFilter | None:
    """Validate a filter as sent over the API; None or ``{}`` means no filter."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise InvalidArgument(
            'filter must be an object such as {"genre": "jazz"} or '
            '{"year": {"$gte": 2020}}'
        )
    conditions: list[Condition] = []
    for field_name, spec in raw.items():
        path = _parse_path(field_name)
        if isinstance(spec, Mapping):
            if not spec:
                raise InvalidArgument(
                    f"filter field {field_name!r} has an empty operator object; "
                    'give at least one operator such as {"$eq": ...}'
                )
            for op, operand in spec.items():
                conditions.append(_condition(path, field_name, op, operand))
        else:
            conditions.append(_condition(path, field_name, "$eq", spec))
    if not conditions:
        return None
    return VectorFilter(tuple(conditions))


def _parse_path(field_name: Any) -> tuple[str, ...]:
    if not isinstance(field_name, str) or not field_name:
        raise InvalidArgument("filter field names must be non-empty strings")
    if field_name.startswith("$"):
        raise InvalidArgument(
            f"filter field {field_name!r} starts with '$'; operators go inside "
            'a field, as in {"year": {"$gte": 2020}}'
        )
    path = tuple(field_name.split("."))
    if any(not part for part in path):
        raise InvalidArgument(
            f"filter field {field_name!r} has an empty segment; write nested "
            "fields as 'outer.inner'"
        )
    return path


def _condition(
    path: tuple[str, ...], field_name: str, op: Any, operand: Any
) -> Condition:
    if op not in OPERATORS:
        known = " ".join(sorted(OPERATORS))
        raise InvalidArgument(
            f"filter field {field_name!r} uses unknown operator {op!r}; "
            f"use one of {known}"
        )
    if op in LIST_OPERATORS:
        if not isinstance(operand, list | tuple) or not operand:
            raise InvalidArgument(
                f"filter {field_name!r} {op} needs a non-empty list of values"
            )
        if len(operand) > MAX_IN_VALUES:
            raise InvalidArgument(
                f"filter {field_name!r} {op} has {len(operand)} values; "
                f"the limit is {MAX_IN_VALUES}"
            )
        values = tuple(_scalar(field_name, op, item) for item in operand)
        return Condition(path, op, values)
    value = _scalar(field_name, op, operand)
    if op in RANGE_OPERATORS and (value is None or isinstance(value, bool)):
        raise InvalidArgument(f"filter {field_name!r} {op} needs a number or a string")
    return Condition(path, op, value)


def _scalar(field_name: str, op: str, value: Any) -> FilterScalar:
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, int):
        # Metadata integers are limited to 64 bits; a wider operand could
        # only be compared inexactly.
        if not -(2**63) <= value <= 2**63 - 1:
            raise InvalidArgument(
                f"filter {field_name!r} {op} compares with {value}, an integer "
                "beyond 64 bits"
            )
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidArgument(f"filter {field_name!r} {op} needs a finite number")
        return value
    raise InvalidArgument(
        f"filter {field_name!r} {op} compares with a {type(value).__name__}; "
        "filter values must be strings, numbers, booleans or null"
    )


_MISSING = object()


def lookup(metadata: Mapping[str, Any] | None, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested metadata, or a private MISSING marker."""
    node: Any = metadata
    for part in path:
        if not isinstance(node, Mapping) or part not in node:
            return _MISSING
        node = node[part]
    return node


def is_missing(value: Any) -> bool:
    return value is _MISSING


def _family(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "other"


def scalar_equal(left: Any, right: Any) -> bool:
    """Equality that keeps booleans, numbers and strings apart."""
    family = _family(left)
    return family == _family(right) and family != "other" and left == right


def _condition_holds(metadata: Mapping[str, Any] | None, cond: Condition) -> bool:
    actual = lookup(metadata, cond.path)
    missing = actual is _MISSING
    if cond.op == "$eq":
        return not missing and scalar_equal(actual, cond.value)
    if cond.op == "$ne":
        return missing or not scalar_equal(actual, cond.value)
    if cond.op in LIST_OPERATORS:
        assert isinstance(cond.value, tuple)
        found = not missing and any(scalar_equal(actual, v) for v in cond.value)
        return found if cond.op == "$in" else not found
    if missing or _family(actual) != _family(cond.value):
        return False
    if _family(actual) not in ("number", "string"):
        return False
    if cond.op == "$lt":
        return bool(actual < cond.value)
    if cond.op == "$lte":
        return bool(actual <= cond.value)
    if cond.op == "$gt":
        return bool(actual > cond.value)
    return bool(actual >= cond.value)


def matches(metadata: Mapping[str, Any] | None, flt: VectorFilter | None) -> bool:
    """Whether ``metadata`` satisfies every condition of ``flt``."""
    if flt is None:
        return True
    return all(_condition_holds(metadata, cond) for cond in flt.conditions)
