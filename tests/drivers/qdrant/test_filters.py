"""The filter translation agrees with edgebind.filters.matches.

Every check stores vectors in Qdrant's local mode and lets Qdrant evaluate the
translated filter; the expected ids come from the reference evaluator.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgebind.errors import InvalidArgument
from edgebind.filters import matches, parse_filter
from edgebind.vectorize import QueryOptions, Vector
from edgebind_qdrant import QdrantDriver
from edgebind_qdrant.filters import MAX_STRING_RANGE_CHARS, translate_filter
from edgebind_qdrant.vectorize import QdrantVectorIndex
from tests.drivers.qdrant.conftest import MakeIndex, index_spec

KEYS = ["a", "b", "c"]
PATHS = ["a", "b", "c", "a.b", "a.c", "b.a", "a.b.c"]

strings = st.sampled_from(["", "1", "a", "ab", "abc", "b", "B", "é", "日本", "a\x00"])
integers = st.one_of(
    st.integers(-3, 3), st.sampled_from([2**53, -(2**53), 2**63 - 1, -(2**63)])
)
floats = st.one_of(
    st.sampled_from([0.0, -0.0, 1.0, 1.5, -2.5, 3.0, 1e300]),
    st.floats(-5, 5, allow_nan=False, width=32),
)
scalars = st.one_of(st.none(), st.booleans(), integers, floats, strings)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(KEYS), inner, max_size=3),
    ),
    max_leaves=6,
)
metadata = st.one_of(
    st.none(),
    st.dictionaries(st.sampled_from([*KEYS, "a.b"]), values, max_size=4),
)

range_operands = st.one_of(
    st.integers(-4, 4),
    st.floats(-5, 5, allow_nan=False, width=32),
    strings,
)


@st.composite
def raw_filters(draw: st.DrawFn) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for path in draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=3)):
        op = draw(st.sampled_from(["=", "$eq", "$ne", "$in", "$nin", "range"]))
        if op == "=":
            raw[path] = draw(scalars)
        elif op in ("$in", "$nin"):
            raw[path] = {op: draw(st.lists(scalars, min_size=1, max_size=4))}
        elif op == "range":
            ops = draw(
                st.lists(
                    st.sampled_from(["$lt", "$lte", "$gt", "$gte"]),
                    min_size=1,
                    max_size=2,
                    unique=True,
                )
            )
            raw[path] = {o: draw(range_operands) for o in ops}
        else:
            raw[path] = {op: draw(scalars)}
    return raw


async def matching_ids(index: QdrantVectorIndex, raw: dict[str, Any]) -> set[str]:
    found = await index.query(
        [0.0, 0.0], QueryOptions(top_k=100, filter=parse_filter(raw))
    )
    return {match.id for match in found}


def run_case(docs: list[dict[str, Any] | None], raw_list: list[dict[str, Any]]) -> None:
    async def case() -> None:
        driver = QdrantDriver("qdrant+local://:memory:")
        try:
            index = driver.open_vectorize(index_spec(dimensions=2, metric="euclidean"))
            assert isinstance(index, QdrantVectorIndex)
            await index.provision()
            vectors = [
                Vector(f"v{i}", (float(i), 1.0), doc) for i, doc in enumerate(docs)
            ]
            await index.upsert(vectors)
            for raw in raw_list:
                flt = parse_filter(raw)
                expected = {v.id for v in vectors if matches(v.metadata, flt)}
                assert await matching_ids(index, raw) == expected, (raw, docs)
        finally:
            await driver.aclose()

    asyncio.run(case())


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    docs=st.lists(metadata, min_size=1, max_size=12),
    raw_list=st.lists(raw_filters(), min_size=1, max_size=6),
)
def test_translation_agrees_with_reference(
    docs: list[dict[str, Any] | None], raw_list: list[dict[str, Any]]
) -> None:
    run_case(docs, raw_list)


# Cases named in the filter semantics, so a regression is read at a glance.
TRICKY_DOCS: list[dict[str, Any] | None] = [
    {"n": 1},
    {"n": 1.0},
    {"n": True},
    {"n": "1"},
    {"n": [1, 2]},
    {"n": {"m": 1}},
    {"n": None},
    {"n": 2**63 - 1},
    {"n": float(2**70)},
    {"n": 0.5},
    {"s": "abc"},
    {"s": "abd"},
    {"s": "ab"},
    {"s": "b" * 200},
    {"s": "\U0010ffff"},
    {"s": 5},
    {"other": 1},
    None,
    {},
]
TRICKY_FILTERS: list[dict[str, Any]] = [
    {"n": 1},
    {"n": 1.0},
    {"n": True},
    {"n": "1"},
    {"n": None},
    {"n": 2**63 - 1},
    {"n": float(2**70)},
    {"n": {"$ne": 1}},
    {"n": {"$ne": None}},
    {"n": {"$in": [True, "1"]}},
    {"n": {"$in": [1, True]}},
    {"n": {"$nin": [1, None]}},
    {"n": {"$in": [0.5, 2**63 - 1, float(2**70)]}},
    {"n": {"$gte": 1}},
    {"n": {"$lt": 1}},
    {"n": {"$gt": 0.25, "$lt": 0.75}},
    {"n": {"$gte": "1"}},
    {"n.m": 1},
    {"s": {"$gt": "ab"}},
    {"s": {"$gte": "ab"}},
    {"s": {"$lt": "abd"}},
    {"s": {"$lte": "abd"}},
    {"s": {"$lt": "b" * 127}},
    {"s": {"$gt": "b" * 127}},
    {"s": {"$gt": "\uffff"}},
    {"s": {"$lte": ""}},
    {"s": {"$gte": ""}},
    {"s": {"$lt": 10}},
    {"missing": {"$ne": 1}},
    {"missing": {"$nin": ["x"]}},
    {"missing": None},
]


def test_named_cases_agree_with_reference() -> None:
    run_case(TRICKY_DOCS, TRICKY_FILTERS)


async def test_long_string_range_operand_is_refused(make_index: MakeIndex) -> None:
    index = await make_index()
    too_long = "x" * (MAX_STRING_RANGE_CHARS + 1)

    with pytest.raises(InvalidArgument, match="string ranges up to 127"):
        await index.query(
            [1.0, 0.0, 0.0],
            QueryOptions(filter=parse_filter({"title": {"$lt": too_long}})),
        )


def test_no_filter_and_no_namespace_is_no_qdrant_filter() -> None:
    assert translate_filter(None) is None


def test_metadata_keys_cannot_reach_internal_payload() -> None:
    flt = parse_filter({"__edgebind_id": "v0", "__edgebind_ns": "n"})
    translated = translate_filter(flt)
    assert translated is not None
    keys = [condition.key for condition in translated.must or []]  # type: ignore[union-attr]
    assert all(key.startswith("__edgebind_f.") for key in keys)


async def test_internal_payload_is_not_matched_by_metadata_filters(
    make_index: MakeIndex,
) -> None:
    index = await make_index()
    await index.upsert([Vector("v0", (1.0, 0.0, 0.0), {"x": 1}, "n")])

    found = await index.query(
        [1.0, 0.0, 0.0],
        QueryOptions(filter=parse_filter({"__edgebind_id": "v0"})),
    )

    assert found == []
