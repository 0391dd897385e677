"""Vectorize on SQLite: filter translation, exact search, provisioning."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgebind.errors import Conflict, ProvisionError
from edgebind.filters import Condition, VectorFilter, matches, parse_filter
from edgebind.resource import ProvisionStatus
from edgebind.vectorize import QueryOptions, Vector
from edgebind_sqlite import SQLiteDriver
from edgebind_sqlite.vectorize import filter_to_sql
from tests.drivers.sqlite.conftest import vector_spec

# --------------------------------------------------- filter translation

# Field names include ones SQLite's JSON paths cannot spell, which take the
# driver's fallback path, and ones with dots inside nested objects.
FIELDS = ["a", "b", "é", 'q"uote', "back\\slash", "sp ace"]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-3, max_value=3),
    st.sampled_from([0.0, 1.0, 1.5, -2.5, 2**53, 2**53 + 1]),
    st.sampled_from(["", "1", "a", "b", "é", "A", "true"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=2),
        st.dictionaries(st.sampled_from(FIELDS), inner, max_size=3),
    ),
    max_leaves=6,
)
metadata_strategy = st.one_of(
    st.none(), st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=4)
)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    path = tuple(draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=2)))
    op = draw(
        st.sampled_from(["$eq", "$ne", "$in", "$nin", "$lt", "$lte", "$gt", "$gte"])
    )
    if op in ("$in", "$nin"):
        values = tuple(draw(st.lists(scalars, min_size=1, max_size=3)))
        return Condition(path, op, values)
    if op in ("$lt", "$lte", "$gt", "$gte"):
        value = draw(
            st.one_of(
                st.integers(min_value=-3, max_value=3),
                st.sampled_from([1.5, -2.5, 2**53]),
                st.sampled_from(["", "1", "a", "b", "é"]),
            )
        )
        return Condition(path, op, value)
    return Condition(path, op, draw(scalars))


def _translated_matches(
    rows: list[dict[str, Any] | None], flt: VectorFilter
) -> list[int]:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE vectors (metadata TEXT)")
    conn.executemany(
        "INSERT INTO vectors (rowid, metadata) VALUES (?, ?)",
        [
            (i, None if m is None else json.dumps(m, ensure_ascii=False))
            for i, m in enumerate(rows)
        ],
    )
    where, params, rest = filter_to_sql(flt)
    found = [
        rowid
        for rowid, text in conn.execute(
            f"SELECT rowid, metadata FROM vectors WHERE {where}", params
        )
        if rest is None or matches(None if text is None else json.loads(text), rest)
    ]
    conn.close()
    return sorted(found)


@settings(max_examples=400, deadline=None)
@given(
    rows=st.lists(metadata_strategy, min_size=1, max_size=8),
    conds=st.lists(conditions(), min_size=1, max_size=3),
)
def test_sql_filter_agrees_with_the_reference_evaluator(
    rows: list[dict[str, Any] | None], conds: list[Condition]
) -> None:
    flt = VectorFilter(tuple(conds))

    expected = [i for i, m in enumerate(rows) if matches(m, flt)]

    assert _translated_matches(rows, flt) == expected


@pytest.mark.parametrize(
    ("metadata", "raw_filter", "expected"),
    [
        ({"x": True}, {"x": 1}, False),
        ({"x": 1}, {"x": True}, False),
        ({"x": 1}, {"x": 1.0}, True),
        ({"x": "1"}, {"x": 1}, False),
        ({"x": False}, {"x": {"$ne": 0}}, True),
        ({}, {"x": {"$ne": 1}}, True),
        ({}, {"x": {"$nin": [1]}}, True),
        ({"x": None}, {"x": None}, True),
        ({}, {"x": None}, False),
        ({"x": "b"}, {"x": {"$gt": "a"}}, True),
        ({"x": 5}, {"x": {"$gt": "a"}}, False),
        ({"x": {"y": 2}}, {"x.y": {"$gte": 2}}, True),
        ({"x": [2]}, {"x": 2}, False),
        ({"x.y": 2}, {"x.y": 2}, False),
    ],
)
def test_filter_cases_from_the_reference_docstring(
    metadata: dict[str, Any], raw_filter: dict[str, Any], expected: bool
) -> None:
    flt = parse_filter(raw_filter)
    assert flt is not None
    assert matches(metadata, flt) is expected
    assert (_translated_matches([metadata], flt) == [0]) is expected


# ------------------------------------------------------------- search


def _oracle(
    stored: np.ndarray, query: np.ndarray, metric: str
) -> tuple[np.ndarray, np.ndarray]:
    """Scores in float64 over the float32-rounded stored values, best first."""
    data = stored.astype(np.float32).astype(np.float64)
    q = query.astype(np.float64)
    if metric == "cosine":
        scores = (data / np.linalg.norm(data, axis=1, keepdims=True)) @ (
            q / np.linalg.norm(q)
        )
        order = np.argsort(-scores, kind="stable")
    elif metric == "euclidean":
        scores = np.linalg.norm(data - q, axis=1)
        order = np.argsort(scores, kind="stable")
    else:
        scores = data @ q
        order = np.argsort(-scores, kind="stable")
    return order, scores


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot-product"])
async def test_search_matches_a_brute_force_oracle(
    driver: SQLiteDriver, metric: str
) -> None:
    rng = np.random.default_rng(7)
    stored = rng.normal(size=(300, 8))
    index = driver.open_vectorize(vector_spec(f"ix-{metric}", 8, metric))
    await index.upsert(
        [Vector(f"v{i}", tuple(row.tolist())) for i, row in enumerate(stored)]
    )

    for _ in range(5):
        query = rng.normal(size=8)
        matches_found = await index.query(tuple(query.tolist()), QueryOptions(top_k=20))

        order, scores = _oracle(stored, query, metric)
        assert [m.id for m in matches_found] == [f"v{i}" for i in order[:20]]
        np.testing.assert_allclose(
            [m.score for m in matches_found], scores[order[:20]], rtol=1e-5, atol=1e-5
        )


async def test_search_honours_namespace_and_filter(driver: SQLiteDriver) -> None:
    index = driver.open_vectorize(vector_spec())
    await index.upsert(
        [
            Vector("a", (1.0, 0.0, 0.0), {"kind": "x"}, "left"),
            Vector("b", (0.9, 0.1, 0.0), {"kind": "y"}, "left"),
            Vector("c", (0.8, 0.2, 0.0), {"kind": "x"}, "right"),
            Vector("d", (0.7, 0.3, 0.0), {'k"q': 1}),
        ]
    )
    query = (1.0, 0.0, 0.0)

    left = await index.query(query, QueryOptions(namespace="left"))
    only_x = await index.query(query, QueryOptions(filter=parse_filter({"kind": "x"})))
    both = await index.query(
        query, QueryOptions(namespace="right", filter=parse_filter({"kind": "x"}))
    )
    quoted = await index.query(query, QueryOptions(filter=parse_filter({'k"q': 1})))
    nowhere = await index.query(query, QueryOptions(namespace="absent"))

    assert [m.id for m in left] == ["a", "b"]
    assert [m.id for m in only_x] == ["a", "c"]
    assert [m.id for m in both] == ["c"]
    assert [m.id for m in quoted] == ["d"]
    assert nowhere == []


async def test_filter_starvation_returns_every_match(driver: SQLiteDriver) -> None:
    index = driver.open_vectorize(vector_spec("starve", 2, "dot-product"))
    await index.upsert(
        [Vector(f"v{i}", (float(i), 1.0), {"rare": i % 333 == 0}) for i in range(1000)]
    )

    found = await index.query(
        (1.0, 0.0), QueryOptions(top_k=10, filter=parse_filter({"rare": True}))
    )

    assert [m.id for m in found] == ["v999", "v666", "v333", "v0"]


async def test_return_flags(driver: SQLiteDriver) -> None:
    index = driver.open_vectorize(vector_spec())
    await index.upsert([Vector("a", (0.5, 0.25, 0.0), {"n": 1, "s": "é"}, "ns")])

    bare = await index.query((1.0, 0.0, 0.0))
    full = await index.query(
        (1.0, 0.0, 0.0), QueryOptions(return_values=True, return_metadata="indexed")
    )

    assert bare[0].values is None and bare[0].metadata is None
    assert full[0].values == (0.5, 0.25, 0.0)
    assert full[0].metadata == {"n": 1, "s": "é"}
    assert full[0].namespace == "ns"


async def test_search_sees_writes_of_another_driver_on_the_same_file(
    data_dir: Path,
) -> None:
    reader = SQLiteDriver(f"sqlite:///{data_dir}")
    writer = SQLiteDriver(f"sqlite:///{data_dir}")
    seen = reader.open_vectorize(vector_spec())
    written = writer.open_vectorize(vector_spec())
    await written.upsert([Vector("a", (1.0, 0.0, 0.0))])
    assert [m.id for m in await seen.query((1.0, 0.0, 0.0))] == ["a"]

    await written.upsert([Vector("b", (0.0, 1.0, 0.0))])
    await written.delete_by_ids(["a"])

    assert [m.id for m in await seen.query((1.0, 0.0, 0.0))] == ["b"]
    await reader.aclose()
    await writer.aclose()


# ------------------------------------------------------- mutations


async def test_insert_conflict_writes_nothing(driver: SQLiteDriver) -> None:
    index = driver.open_vectorize(vector_spec())
    await index.upsert([Vector("taken", (1.0, 0.0, 0.0))])

    with pytest.raises(Conflict, match="taken"):
        await index._insert(
            [Vector("new", (0.0, 1.0, 0.0)), Vector("taken", (0.0, 0.0, 1.0))]
        )

    assert [v.id for v in await index.get_by_ids(["new", "taken"])] == ["taken"]
    assert (await index.describe()).vector_count == 1


async def test_mutation_ids_increase_and_describe_reports_them(
    driver: SQLiteDriver,
) -> None:
    index = driver.open_vectorize(vector_spec())
    before = await index.describe()
    assert before.processed_up_to_mutation is None

    first = await index.upsert([Vector("a", (1.0, 0.0, 0.0))])
    second = await index.delete_by_ids(["a", "missing"])
    info = await index.describe()

    assert first.mutation_id < second.mutation_id
    assert int(first.mutation_id) < int(second.mutation_id)
    assert second.count == 1
    assert info.processed_up_to_mutation == second.mutation_id
    assert info.processed_up_to_datetime is not None
    assert info.vector_count == 0


async def test_vectors_persist_across_close_and_reopen(data_dir: Path) -> None:
    first = SQLiteDriver(f"sqlite:///{data_dir}")
    await first.open_vectorize(vector_spec()).upsert(
        [Vector("a", (0.1, 0.2, 0.3), {"k": [1, {"n": None}]}, "ns")]
    )
    await first.aclose()

    second = SQLiteDriver(f"sqlite:///{data_dir}")
    (found,) = await second.open_vectorize(vector_spec()).get_by_ids(["a"])

    np.testing.assert_allclose(found.values, (0.1, 0.2, 0.3), rtol=1e-6)
    assert found.metadata == {"k": [1, {"n": None}]}
    assert found.namespace == "ns"
    await second.aclose()


# ------------------------------------------------------ provisioning


async def test_provision_creates_then_reuses(driver: SQLiteDriver) -> None:
    index = driver.open_vectorize(vector_spec())
    assert (await index.provision()).status is ProvisionStatus.CREATED
    assert (await index.provision()).status is ProvisionStatus.REUSED

    again = SQLiteDriver(driver.url).open_vectorize(vector_spec())
    assert (await again.provision()).status is ProvisionStatus.REUSED


@pytest.mark.parametrize(
    ("dimensions", "metric", "fragment"),
    [
        (4, "cosine", "dimensions=3 .* declares dimensions=4"),
        (3, "euclidean", "metric='cosine'.* metric='euclidean'"),
    ],
)
async def test_settings_mismatch_is_a_provision_error(
    data_dir: Path, dimensions: int, metric: str, fragment: str
) -> None:
    first = SQLiteDriver(f"sqlite:///{data_dir}")
    await first.open_vectorize(vector_spec()).upsert([Vector("a", (1.0, 0.0, 0.0))])
    await first.aclose()

    second = SQLiteDriver(f"sqlite:///{data_dir}")
    changed = second.open_vectorize(vector_spec(dimensions=dimensions, metric=metric))

    with pytest.raises(ProvisionError, match=fragment):
        await changed.provision()
    with pytest.raises(ProvisionError):
        await changed.describe()
    await second.aclose()


async def test_index_file_is_in_wal_mode(driver: SQLiteDriver, data_dir: Path) -> None:
    await driver.open_vectorize(vector_spec()).provision()

    with sqlite3.connect(data_dir / "vectorize-embeddings.sqlite3") as conn:
        (mode,) = conn.execute("PRAGMA journal_mode").fetchone()

    assert mode == "wal"
