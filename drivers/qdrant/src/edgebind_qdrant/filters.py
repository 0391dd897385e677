"""Vectorize metadata filters evaluated by Qdrant itself.

Qdrant's own payload matching differs from :func:`edgebind.filters.matches`
in ways a direct translation cannot hide: a match on an array field matches
any element, ``Range`` is numeric only (no string ranges), and exact match
takes no floats. So every vector also carries a *filter index*, built from
its metadata when it is written, in which each reachable field has slots of
one type each:

* ``s`` — the string value (keyword match);
* ``i`` — a number with an integral value that fits in 64 bits, as an int;
  ``x`` — one beyond that, as its decimal digits (exact equality either way);
* ``n`` — any number as a double (numeric ranges, non-integral equality);
* ``b`` — a boolean; ``z`` — ``true`` when the value is null;
* ``c0``, ``c1``, … — a string's code points, two per integer, so that code
  point order can be tested with numeric conditions (see :func:`_chunks`).

Lists and objects get no slots: the reference says they equal nothing and
fall in no range. A field is addressed by a hash of its path, so no metadata
key (dots, brackets, quotes) can confuse Qdrant's key syntax. Because each
slot holds one type, booleans, numbers and strings cannot meet by accident,
and ``$ne``/``$nin`` become ``must_not`` around the equality test, which also
matches an absent field, as the reference requires.

Known limits, both raised or documented rather than approximated silently:
a string range operand may have at most :data:`MAX_STRING_RANGE_CHARS` code
points (InvalidArgument beyond), and numeric ranges compare in double
precision, so integers beyond 2**53 may round.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from qdrant_client import models

from edgebind.errors import InvalidArgument
from edgebind.filters import Condition, FilterScalar, VectorFilter
from edgebind_qdrant.ids import INDEX_KEY, NAMESPACE_KEY

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_STRING_RANGE_CHARS",
    "build_filter_index",
    "translate_filter",
]

#: A stored string keeps this many chunks of two code points each.
STRING_CHUNKS = 64
#: The longest string operand of ``$lt $lte $gt $gte``: its chunks, with the
#: end marker, must fit in the chunks every stored string keeps.
MAX_STRING_RANGE_CHARS = 2 * STRING_CHUNKS - 1

_CODE_POINT_BITS = 21
_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1

Slots = dict[str, Any]


# --------------------------------------------------------------- the index


def field_token(path: tuple[str, ...]) -> str:
    """The payload key standing for metadata path ``path``."""
    encoded = json.dumps(list(path), ensure_ascii=False).encode(
        "utf-8", "surrogatepass"
    )
    return "f" + hashlib.blake2b(encoded, digest_size=16).hexdigest()


def _slot_key(path: tuple[str, ...], slot: str) -> str:
    return f"{INDEX_KEY}.{field_token(path)}.{slot}"


def _chunks(text: str, limit: int) -> list[int]:
    """``text`` as integers that sort like its code points.

    Each integer packs two code points, each stored as ``ord + 1`` in 21 bits,
    with 0 marking the end of the string; the chunk holding the end is always
    included (a string of even length ends with a chunk of 0). Comparing two
    such lists chunk by chunk orders strings exactly as Python does, and every
    chunk stays below 2**42, exact in the doubles Qdrant compares ranges in.
    """
    marks = [ord(ch) + 1 for ch in text[: 2 * limit]]
    if len(marks) < 2 * limit:
        marks.append(0)
    if len(marks) % 2:
        marks.append(0)
    pairs = zip(marks[0::2], marks[1::2], strict=True)
    return [(high << _CODE_POINT_BITS) | low for high, low in pairs][:limit]


def _integral(value: int | float) -> int | None:
    if isinstance(value, int):
        return value
    return int(value) if value.is_integer() else None


def _exact_number_slot(whole: int) -> tuple[str, int | str]:
    if _INT64_MIN <= whole <= _INT64_MAX:
        return "i", whole
    return "x", str(whole)


def _as_double(value: int | float) -> float:
    # An integer too large for a double sorts beyond every finite double,
    # which the largest double stands for.
    try:
        return float(value)
    except OverflowError:
        return sys.float_info.max if value > 0 else -sys.float_info.max


def _slots(value: Any) -> Slots | None:
    if value is None:
        return {"z": True}
    if isinstance(value, bool):
        return {"b": value}
    if isinstance(value, int | float):
        slots: Slots = {"n": _as_double(value)}
        whole = _integral(value)
        if whole is not None:
            slot, exact = _exact_number_slot(whole)
            slots[slot] = exact
        return slots
    if isinstance(value, str):
        slots = {"s": value}
        for position, chunk in enumerate(_chunks(value, STRING_CHUNKS)):
            slots[f"c{position}"] = chunk
        return slots
    return None


def _reachable(
    node: Mapping[str, Any], prefix: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], Any]]:
    for key, value in node.items():
        # A filter path is split on dots and has no empty segment, so such a
        # key (and all below it) can never be reached by a filter.
        if not isinstance(key, str) or not key or "." in key:
            continue
        path = (*prefix, key)
        yield path, value
        if isinstance(value, Mapping):
            yield from _reachable(value, path)


def build_filter_index(metadata: Mapping[str, Any] | None) -> dict[str, Slots]:
    """The filter index stored under :data:`INDEX_KEY` for ``metadata``."""
    if not metadata:
        return {}
    index: dict[str, Slots] = {}
    for path, value in _reachable(metadata, ()):
        slots = _slots(value)
        if slots is not None:
            index[field_token(path)] = slots
    return index


# ---------------------------------------------------------- the translation


def _match(key: str, value: bool | int | str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _equals(path: tuple[str, ...], value: FilterScalar) -> models.FieldCondition:
    """The condition "present, of the same family and equal to ``value``"."""
    if value is None:
        return _match(_slot_key(path, "z"), True)
    if isinstance(value, bool | str):
        return _match(_slot_key(path, "b" if isinstance(value, bool) else "s"), value)
    whole = _integral(value)
    if whole is None:
        # A non-integral double equals only the same double; stored integers
        # have integral doubles, so they cannot match by accident.
        return models.FieldCondition(
            key=_slot_key(path, "n"), range=models.Range(gte=value, lte=value)
        )
    slot, exact = _exact_number_slot(whole)
    return _match(_slot_key(path, slot), exact)


def _equals_any(
    path: tuple[str, ...], values: tuple[FilterScalar, ...]
) -> list[models.Condition]:
    """Conditions of which at least one holds when the field is in ``values``."""
    strings: list[str] = []
    integers: list[int] = []
    others: list[models.Condition] = []
    # no dict.fromkeys here: it would fold True into 1
    for value in values:
        if isinstance(value, str):
            strings.append(value)
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            whole = _integral(value)
            if whole is not None and _INT64_MIN <= whole <= _INT64_MAX:
                integers.append(whole)
                continue
        others.append(_equals(path, value))
    if strings:
        others.append(
            models.FieldCondition(
                key=_slot_key(path, "s"),
                match=models.MatchAny(any=sorted(set(strings))),
            )
        )
    if integers:
        others.append(
            models.FieldCondition(
                key=_slot_key(path, "i"),
                match=models.MatchAny(any=sorted(set(integers))),
            )
        )
    return others


_NUMERIC_RANGE = {
    "$lt": "lt",
    "$lte": "lte",
    "$gt": "gt",
    "$gte": "gte",
}


def _string_range(path: tuple[str, ...], op: str, operand: str) -> models.Filter:
    """Code point order as an OR over the first chunk that differs.

    ``s < t`` holds when, for some k, the chunks before k are equal and chunk
    k is smaller; only strings have chunk slots, so nothing else matches. The
    last chunk of ``t`` holds its end marker, so for ``<=`` and ``>=`` that
    chunk's test may include equality: equal up to there means equal strings.
    """
    if len(operand) > MAX_STRING_RANGE_CHARS:
        raise InvalidArgument(
            f"filter {'.'.join(path)!r} {op} compares with a string of "
            f"{len(operand)} characters; the qdrant driver supports string "
            f"ranges up to {MAX_STRING_RANGE_CHARS} characters"
        )
    target = _chunks(operand, STRING_CHUNKS)
    strict = "lt" if op in ("$lt", "$lte") else "gt"
    inclusive = "lte" if strict == "lt" else "gte"
    alternatives: list[models.Condition] = []
    for position, chunk in enumerate(target):
        last = position == len(target) - 1
        bound = inclusive if last and op in ("$lte", "$gte") else strict
        must: list[models.Condition] = [
            _match(_slot_key(path, f"c{before}"), target[before])
            for before in range(position)
        ]
        must.append(
            models.FieldCondition(
                key=_slot_key(path, f"c{position}"),
                range=models.Range(**{bound: chunk}),
            )
        )
        alternatives.append(models.Filter(must=must))
    return models.Filter(should=alternatives)


def _range(path: tuple[str, ...], op: str, operand: FilterScalar) -> models.Condition:
    if isinstance(operand, str):
        return _string_range(path, op, operand)
    if operand is None or isinstance(operand, bool):
        # parse_filter refuses these; kept as a guard for hand-made filters
        raise InvalidArgument(
            f"filter {'.'.join(path)!r} {op} needs a number or a string"
        )
    bound = {_NUMERIC_RANGE[op]: _as_double(operand)}
    return models.FieldCondition(key=_slot_key(path, "n"), range=models.Range(**bound))


def _add(
    cond: Condition, must: list[models.Condition], must_not: list[models.Condition]
) -> None:
    if cond.op in ("$eq", "$ne"):
        assert not isinstance(cond.value, tuple)
        (must if cond.op == "$eq" else must_not).append(_equals(cond.path, cond.value))
        return
    if cond.op in ("$in", "$nin"):
        assert isinstance(cond.value, tuple)
        alternatives = _equals_any(cond.path, cond.value)
        if cond.op == "$in":
            must.append(models.Filter(should=alternatives))
        else:
            must_not.extend(alternatives)
        return
    if cond.op in _NUMERIC_RANGE:
        assert not isinstance(cond.value, tuple)
        must.append(_range(cond.path, cond.op, cond.value))
        return
    raise InvalidArgument(
        f"filter {cond.field!r} uses operator {cond.op!r}, which the qdrant "
        "driver does not know"
    )


def translate_filter(
    flt: VectorFilter | None, *, namespace: str | None = None
) -> models.Filter | None:
    """The Qdrant filter equal in meaning to ``flt``, within ``namespace``."""
    must: list[models.Condition] = []
    must_not: list[models.Condition] = []
    if namespace is not None:
        must.append(_match(NAMESPACE_KEY, namespace))
    for cond in flt.conditions if flt is not None else ():
        _add(cond, must, must_not)
    if not must and not must_not:
        return None
    return models.Filter(must=must or None, must_not=must_not or None)
