"""Scores, id mapping, payload layout and mutations on local mode."""

from __future__ import annotations

import math
import random
import uuid

import pytest

from edgebind.errors import Conflict
from edgebind.filters import parse_filter
from edgebind.vectorize import QueryOptions, Vector
from edgebind_qdrant.ids import (
    ID_KEY,
    META_KEY,
    NAMESPACE_KEY,
    collection_name,
    point_id,
)
from tests.drivers.qdrant.conftest import MakeIndex


def oracle_score(metric: str, a: tuple[float, ...], b: tuple[float, ...]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    if metric == "dot-product":
        return dot
    if metric == "euclidean":
        return math.sqrt(sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dot-product"])
async def test_scores_and_order_equal_a_brute_force_oracle(
    make_index: MakeIndex, metric: str
) -> None:
    rng = random.Random(f"qdrant-{metric}")
    index = await make_index(dimensions=5, metric=metric)
    stored = [
        Vector(f"v{i}", tuple(rng.uniform(-1, 1) for _ in range(5))) for i in range(40)
    ]
    await index.upsert(stored)
    query = tuple(rng.uniform(-1, 1) for _ in range(5))

    found = await index.query(query, QueryOptions(top_k=10))

    expected = sorted(
        ((oracle_score(metric, query, v.values), v.id) for v in stored),
        reverse=metric != "euclidean",
    )[:10]
    assert [m.id for m in found] == [vector_id for _, vector_id in expected]
    for match, (score, _) in zip(found, expected, strict=True):
        assert match.score == pytest.approx(score, rel=1e-5, abs=1e-5)


async def test_cosine_returns_the_values_as_given(make_index: MakeIndex) -> None:
    index = await make_index(metric="cosine")
    values = (3.0, -4.0, 12.5)
    await index.upsert([Vector("a", values)])

    (got,) = await index.get_by_ids(["a"])
    (match,) = await index.query(values, QueryOptions(return_values=True))

    assert got.values == pytest.approx(values, rel=1e-6)
    assert match.values == pytest.approx(values, rel=1e-6)
    assert match.score <= 1.0


@pytest.mark.parametrize(
    "vector_id",
    [
        "plain",
        "日本語のID",
        "emoji-🦜",
        "x" * 64,
        "é" * 32,
        "with space/and:colon",
        "\ud800",
    ],
)
async def test_ids_round_trip(make_index: MakeIndex, vector_id: str) -> None:
    index = await make_index()
    await index.upsert([Vector(vector_id, (1.0, 2.0, 3.0), {"i": 1}, "ns")])

    (got,) = await index.get_by_ids([vector_id])
    (match,) = await index.query((1.0, 2.0, 3.0), QueryOptions(namespace="ns"))

    assert got.id == vector_id
    assert match.id == vector_id
    assert (await index.delete_by_ids([vector_id])).count == 1


def test_point_ids_are_stable_uuid5_and_distinct() -> None:
    ids = ["a", "A", "a ", "日本", "x" * 64]

    points = [point_id(vector_id) for vector_id in ids]

    assert len(set(points)) == len(ids)
    assert all(uuid.UUID(p).version == 5 for p in points)
    assert point_id("a") == point_id("a")
    assert collection_name("embeddings") == "edgebind_embeddings"


async def test_metadata_keeps_types_and_cannot_touch_internal_keys(
    make_index: MakeIndex,
) -> None:
    index = await make_index()
    metadata = {
        "int": 1,
        "float": 1.0,
        "big": 2**63 - 1,
        "nested": {"list": [1, "two", None, {"three": 3.5}]},
        ID_KEY: "spoof",
        NAMESPACE_KEY: "spoof",
        META_KEY: "spoof",
    }
    await index.upsert([Vector("real", (1.0, 0.0, 0.0), metadata)])

    (got,) = await index.get_by_ids(["real"])
    (match,) = await index.query((1.0, 0.0, 0.0), QueryOptions(return_metadata="all"))

    assert got.id == "real" and got.namespace is None
    assert got.metadata == metadata
    assert isinstance(got.metadata["int"], int)
    assert isinstance(got.metadata["float"], float)
    assert match.metadata == metadata


async def test_return_flags(make_index: MakeIndex) -> None:
    index = await make_index()
    await index.upsert([Vector("a", (1.0, 0.0, 0.0), {"k": "v"})])

    (bare,) = await index.query((1.0, 0.0, 0.0))
    (indexed,) = await index.query(
        (1.0, 0.0, 0.0), QueryOptions(return_metadata="indexed")
    )

    assert bare.values is None and bare.metadata is None
    assert indexed.metadata == {"k": "v"}


async def test_insert_conflict_writes_nothing(make_index: MakeIndex) -> None:
    index = await make_index()
    await index.insert([Vector("a", (1.0, 0.0, 0.0))])

    with pytest.raises(Conflict):
        await index.insert([Vector("b", (0.0, 1.0, 0.0)), Vector("a", (0.0, 0.0, 1.0))])

    assert [v.id for v in await index.get_by_ids(["a", "b"])] == ["a"]


async def test_upsert_replaces_and_may_move_namespace(make_index: MakeIndex) -> None:
    index = await make_index()
    await index.upsert([Vector("a", (1.0, 0.0, 0.0), {"old": 1}, "one")])
    await index.upsert([Vector("a", (0.0, 1.0, 0.0), {"new": 2}, "two")])

    (got,) = await index.get_by_ids(["a"])
    in_one = await index.query((0.0, 1.0, 0.0), QueryOptions(namespace="one"))
    in_two = await index.query(
        (0.0, 1.0, 0.0),
        QueryOptions(namespace="two", filter=parse_filter({"new": 2})),
    )

    assert got.metadata == {"new": 2} and got.namespace == "two"
    assert in_one == []
    assert [m.id for m in in_two] == ["a"]


async def test_delete_counts_real_deletions_and_describe_tracks_mutations(
    make_index: MakeIndex,
) -> None:
    index = await make_index()
    assert (await index.describe()).processed_up_to_mutation is None
    written = await index.upsert(
        [Vector("a", (1.0, 0.0, 0.0)), Vector("b", (0.0, 1.0, 0.0))]
    )
    assert (await index.describe()).processed_up_to_mutation == written.mutation_id

    deleted = await index.delete_by_ids(["a", "missing"])
    again = await index.delete_by_ids(["a"])
    info = await index.describe()

    assert (written.count, deleted.count, again.count) == (2, 1, 0)
    assert len({written.mutation_id, deleted.mutation_id, again.mutation_id}) == 3
    assert info.vector_count == 1
    assert info.processed_up_to_mutation == again.mutation_id
    assert info.processed_up_to_datetime is not None
    assert (info.dimensions, info.metric) == (3, "cosine")


async def test_indexes_on_one_store_are_apart(make_index: MakeIndex) -> None:
    first = await make_index()
    second = await make_index()
    await first.upsert([Vector("a", (1.0, 0.0, 0.0))])

    assert await second.get_by_ids(["a"]) == []
    assert (await second.describe()).vector_count == 0
    assert (await second.describe()).processed_up_to_mutation is None


async def test_filter_starvation_returns_every_match(make_index: MakeIndex) -> None:
    index = await make_index(dimensions=2, metric="euclidean")
    vectors = [
        Vector(f"v{i}", (float(i), 0.0), {"rare": i % 100 == 7}) for i in range(300)
    ]
    await index.upsert(vectors)

    found = await index.query(
        (0.0, 0.0), QueryOptions(top_k=3, filter=parse_filter({"rare": True}))
    )

    assert [m.id for m in found] == ["v7", "v107", "v207"]
