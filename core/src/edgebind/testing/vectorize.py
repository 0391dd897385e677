"""VectorizeContract: the vector-index cases every driver must pass
(CONTRACT_CASES V1-V11, with DESIGN §3 deciding where they differ).

Subclass it and provide the ``driver`` fixture (see :mod:`edgebind.testing`).

* Ids are unique per index; ``namespace`` partitions search only (DESIGN §3
  replaces the generic V8). Empty ``ids`` / ``vectors`` lists are refused.
* Capabilities are checked both ways: declared ⇒ must work, undeclared ⇒
  must be refused. ``test_l2_metric_capability_is_honest`` and
  ``test_l2_filter_operator_capability_is_honest`` run for every metric and
  operator (a declared one must rank or select as the oracle and
  :func:`edgebind.filters.matches` do; an undeclared one must be refused),
  and ``test_l2_namespaces_capability_is_honest`` always runs. Tests that
  exercise a metric or namespaces skip, with that reason, only for a driver
  that leaves it out, so a driver declaring everything skips nothing.
* Search results are compared with the brute-force oracle
  (:mod:`edgebind.testing.oracle`): an ``exact`` driver must return the
  oracle's ids with the oracle's scores (within float32 tolerance); an
  approximate one must reach its declared ``min_recall``.
* Filter expectations are written out by hand and also checked against the
  reference evaluator :func:`edgebind.filters.matches`.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import struct
from collections.abc import AsyncIterator, Sequence
from typing import Any, ClassVar

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from edgebind.capabilities import MAX_VECTOR_ID_BYTES, VectorizeCapabilities
from edgebind.drivers import Driver
from edgebind.errors import (
    Conflict,
    EdgebindError,
    InvalidArgument,
    NotFound,
    NotSupported,
    ProvisionError,
    ResourceClosed,
)
from edgebind.filters import OPERATORS, matches, parse_filter
from edgebind.resource import ProvisionStatus, ResourceSpec
from edgebind.testing import oracle
from edgebind.testing._base import (
    ContractBase,
    ResourceOpener,
    asyncio_contract,
    unique_name,
)
from edgebind.testing.clock import FakeClock
from edgebind.vectorize import (
    MAX_METADATA_BYTES,
    METRICS,
    QueryOptions,
    Vector,
    VectorIndex,
    VectorMatch,
)

__all__ = ["VectorizeContract", "f32"]

logger = logging.getLogger(__name__)

DIMS = 4
#: absolute and relative slack for scores and values a driver may keep as
#: float32
TOLERANCE = 1e-4


def f32(value: float) -> float:
    """``value`` rounded to float32, so stored and expected values agree."""
    rounded: float = struct.unpack("f", struct.pack("f", value))[0]
    return rounded


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE)


def random_vectors(count: int, dims: int, seed: int, prefix: str = "v") -> list[Vector]:
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    return [
        Vector(f"{prefix}{i}", tuple(f32(rng.gauss(0, 1)) for _ in range(dims)))
        for i in range(count)
    ]


def assert_values_close(got: Sequence[float] | None, want: Sequence[float]) -> None:
    assert got is not None, "values were not returned"
    assert len(got) == len(want)
    assert all(close(g, w) for g, w in zip(got, want, strict=True)), (got, want)


#: (filter, ids it must select) over FILTER_DATA; see filters.py for the rules
FILTER_DATA: dict[str, dict[str, Any] | None] = {
    "jazz-2019": {
        "genre": "jazz",
        "year": 2019,
        "live": True,
        "info": {"rating": 4.5, "label": "blue"},
    },
    "jazz-2021": {"genre": "jazz", "year": 2021, "live": False, "info": {"rating": 3}},
    "rock-2020": {"genre": "rock", "year": 2020, "live": True},
    "rock-1999": {"genre": "rock", "year": 1999.5, "code": "1"},
    "pop-none": {"genre": "pop"},
    "bare": None,
    "num-code": {"code": 1, "year": 2020},
    "bool-one": {"flag": True, "code": True},
    "strs": {"genre": "Jazz", "year": "2020"},
}
ALL_IDS = frozenset(FILTER_DATA)
FILTER_CASES: list[tuple[str, dict[str, Any], set[str]]] = [
    ("eq-shorthand", {"genre": "jazz"}, {"jazz-2019", "jazz-2021"}),
    ("eq", {"genre": {"$eq": "jazz"}}, {"jazz-2019", "jazz-2021"}),
    (
        "ne-matches-missing",
        {"genre": {"$ne": "jazz"}},
        set(ALL_IDS) - {"jazz-2019", "jazz-2021"},
    ),
    ("in", {"genre": {"$in": ["rock", "pop"]}}, {"rock-2020", "rock-1999", "pop-none"}),
    (
        "nin-matches-missing",
        {"genre": {"$nin": ["rock", "pop"]}},
        {"jazz-2019", "jazz-2021", "bare", "num-code", "bool-one", "strs"},
    ),
    ("gt", {"year": {"$gt": 2019}}, {"jazz-2021", "rock-2020", "num-code"}),
    (
        "gte",
        {"year": {"$gte": 2019}},
        {"jazz-2019", "jazz-2021", "rock-2020", "num-code"},
    ),
    ("lt", {"year": {"$lt": 2020}}, {"jazz-2019", "rock-1999"}),
    (
        "lte",
        {"year": {"$lte": 2020}},
        {"jazz-2019", "rock-2020", "rock-1999", "num-code"},
    ),
    (
        "range-and",
        {"year": {"$gte": 2000, "$lt": 2021}},
        {"jazz-2019", "rock-2020", "num-code"},
    ),
    ("fields-and", {"genre": "rock", "live": True}, {"rock-2020"}),
    ("bool", {"live": False}, {"jazz-2021"}),
    ("dotted-range", {"info.rating": {"$gte": 4}}, {"jazz-2019"}),
    ("dotted-eq", {"info.label": "blue"}, {"jazz-2019"}),
    ("number-not-string-or-bool", {"code": 1}, {"num-code"}),
    ("string-not-number", {"code": "1"}, {"rock-1999"}),
    ("bool-not-number", {"code": True}, {"bool-one"}),
    ("int-equals-float", {"year": 2020.0}, {"rock-2020", "num-code"}),
    ("string-range", {"genre": {"$gt": "p"}}, {"rock-2020", "rock-1999", "pop-none"}),
    ("case-sensitive", {"genre": "Jazz"}, {"strs"}),
    ("nin-absent-field", {"nowhere": {"$nin": ["x"]}}, set(ALL_IDS)),
    ("eq-absent-field", {"nowhere": "x"}, set()),
    ("range-absent-field", {"nowhere": {"$lt": 5}}, set()),
]


@asyncio_contract
class VectorizeContract(ContractBase):
    """The Vectorize contract. Provide a ``driver`` fixture; see the module
    docs."""

    kind: ClassVar = "vectorize"
    capability_class: ClassVar = VectorizeCapabilities

    stateful_settings: ClassVar[settings] = settings(
        max_examples=15,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )

    def probe_options(self) -> dict[str, object]:
        return {"dimensions": DIMS, "metric": "cosine"}

    @pytest.fixture
    def caps(self, declared: VectorizeCapabilities) -> VectorizeCapabilities:
        return declared

    @pytest.fixture(params=METRICS)
    def metric(
        self, request: pytest.FixtureRequest, caps: VectorizeCapabilities
    ) -> str:
        """Each metric in turn; one the driver does not declare is skipped."""
        metric: str = request.param
        if metric not in caps.metrics:
            pytest.skip(f"driver does not declare vectorize metric {metric!r}")
        return metric

    @pytest.fixture
    def any_metric(self, caps: VectorizeCapabilities) -> str:
        """A metric the driver declares, for tests the metric does not affect."""
        for preferred in ("euclidean", "cosine", "dot-product"):
            if preferred in caps.metrics:
                return preferred
        pytest.fail("the driver declares no vectorize metric at all", pytrace=False)

    @pytest_asyncio.fixture(loop_scope="function")
    async def index(
        self, opener: ResourceOpener, any_metric: str
    ) -> AsyncIterator[VectorIndex]:
        """A fresh index of DIMS dimensions with a declared metric."""
        created: VectorIndex = await opener.provisioned(
            dimensions=DIMS, metric=any_metric
        )
        yield created

    async def upsert_filter_data(self, index: VectorIndex) -> None:
        vectors = [
            Vector(vid, (1.0, float(i + 1), 0.5, -1.0), metadata)
            for i, (vid, metadata) in enumerate(FILTER_DATA.items())
        ]
        await index.upsert(vectors)

    async def search_ids(
        self, index: VectorIndex, vector: Sequence[float], **options: Any
    ) -> list[str]:
        options.setdefault("top_k", index.capabilities.max_top_k)
        matched = await index.query(vector, QueryOptions(**options))
        return [m.id for m in matched]

    # ------------------------------------------------------------- V1 - V2

    async def test_v1_describe_tracks_count(
        self, opener: ResourceOpener, metric: str
    ) -> None:
        """V1: describe reports dimensions, metric and the live count."""
        index: VectorIndex = await opener.provisioned(dimensions=DIMS, metric=metric)
        info = await index.describe()
        assert (info.dimensions, info.metric, info.vector_count) == (DIMS, metric, 0)

        await index.upsert(random_vectors(5, DIMS, seed=1))
        await index.upsert(random_vectors(2, DIMS, seed=2))  # replaces v0, v1
        await index.delete_by_ids(["v4", "absent"])

        info = await index.describe()
        assert (info.dimensions, info.metric, info.vector_count) == (DIMS, metric, 4)

    async def test_v2_upsert_then_get_by_ids(self, index: VectorIndex) -> None:
        """V2: values within float32 tolerance; metadata exactly equal with
        types kept; unknown ids left out; order as asked."""
        metadata = {
            "int": 7,
            "float": 2.5,
            "bool": True,
            "text": "héllo 😀",
            "null": None,
            "list": [1, "two", False],
            "nested": {"deep": {"n": 0}},
        }
        stored = [
            Vector("a", (0.1, 0.2, 0.3, 0.4), metadata, "ns1"),
            Vector("b", (1.0, -1.0, 1e-3, 123.456)),
        ]
        result = await index.upsert(stored)
        assert result.count == 2
        assert result.mutation_id

        got = await index.get_by_ids(["b", "missing", "a"])
        assert [v.id for v in got] == ["b", "a"]
        assert_values_close(got[1].values, stored[0].values)
        assert_values_close(got[0].values, stored[1].values)
        assert got[1].metadata == metadata
        assert type(got[1].metadata["int"]) is int
        assert type(got[1].metadata["float"]) is float
        assert type(got[1].metadata["bool"]) is bool
        assert got[1].namespace == "ns1"
        assert not got[0].metadata
        assert got[0].namespace is None
        assert await index.get_by_ids(["missing"]) == []

    async def test_v2_empty_lists_rejected(self, index: VectorIndex) -> None:
        """V2 (DESIGN): empty ``vectors`` or ``ids`` lists are refused."""
        with pytest.raises(InvalidArgument):
            await index.upsert([])
        with pytest.raises(InvalidArgument):
            await index.insert([])
        with pytest.raises(InvalidArgument):
            await index.get_by_ids([])
        with pytest.raises(InvalidArgument):
            await index.delete_by_ids([])

    # ------------------------------------------------------------------ V3

    async def test_v3_insert_conflict_writes_nothing(self, index: VectorIndex) -> None:
        """V3: insert of an existing id is Conflict, and nothing of the batch
        is written."""
        await index.insert([Vector("a", (1.0, 0.0, 0.0, 0.0), {"v": 1})])

        with pytest.raises(Conflict):
            await index.insert(
                [
                    Vector("b", (0.0, 1.0, 0.0, 0.0)),
                    Vector("a", (0.0, 0.0, 1.0, 0.0), {"v": 2}),
                ]
            )

        assert await index.get_by_ids(["b"]) == []
        (a,) = await index.get_by_ids(["a"])
        assert a.metadata == {"v": 1}
        assert_values_close(a.values, (1.0, 0.0, 0.0, 0.0))
        assert (await index.describe()).vector_count == 1

    async def test_v3_upsert_replaces_not_merges(self, index: VectorIndex) -> None:
        """V3: upsert replaces both the vector and its metadata."""
        await index.upsert([Vector("a", (1.0, 0.0, 0.0, 0.0), {"old": 1, "keep": 1})])
        await index.upsert([Vector("a", (0.0, 1.0, 0.0, 0.0), {"keep": 2})])

        (a,) = await index.get_by_ids(["a"])
        assert a.metadata == {"keep": 2}
        assert_values_close(a.values, (0.0, 1.0, 0.0, 0.0))

        await index.upsert([Vector("a", (0.0, 0.0, 1.0, 0.0))])
        (a,) = await index.get_by_ids(["a"])
        assert not a.metadata
        assert (await index.describe()).vector_count == 1

    async def test_v3_duplicate_ids_in_one_batch(self, index: VectorIndex) -> None:
        """V3: duplicates in one upsert: last wins; in one insert: refused."""
        await index.upsert(
            [
                Vector("d", (1.0, 0.0, 0.0, 0.0), {"n": 1}),
                Vector("d", (0.0, 1.0, 0.0, 0.0), {"n": 2}),
            ]
        )
        (d,) = await index.get_by_ids(["d"])
        assert d.metadata == {"n": 2}

        with pytest.raises(InvalidArgument):
            await index.insert(
                [Vector("e", (1.0, 0.0, 0.0, 0.0)), Vector("e", (1.0, 1.0, 0.0, 0.0))]
            )
        assert await index.get_by_ids(["e"]) == []

    # ------------------------------------------------------------------ V4

    @pytest.mark.parametrize(
        "values",
        [
            (1.0, 2.0, 3.0),
            (1.0, 2.0, 3.0, 4.0, 5.0),
            (),
            (1.0, math.nan, 0.0, 0.0),
            (1.0, math.inf, 0.0, 0.0),
            (1.0, -math.inf, 0.0, 0.0),
            (1.0, True, 0.0, 0.0),
        ],
        ids=["short", "long", "empty", "nan", "inf", "-inf", "bool"],
    )
    async def test_v4_bad_vectors_rejected(
        self, index: VectorIndex, values: tuple[float, ...]
    ) -> None:
        """V4: wrong dimensions, non-finite or non-number values are refused
        on upsert, insert and query."""
        with pytest.raises(InvalidArgument):
            await index.upsert([Vector("bad", values)])
        with pytest.raises(InvalidArgument):
            await index.insert([Vector("bad", values)])
        with pytest.raises(InvalidArgument):
            await index.query(values)
        assert (await index.describe()).vector_count == 0

    async def test_v4_zero_vector_policy(
        self, opener: ResourceOpener, metric: str
    ) -> None:
        """V4: a zero vector is refused under cosine, accepted otherwise."""
        index: VectorIndex = await opener.provisioned(dimensions=DIMS, metric=metric)
        zero = Vector("z", (0.0, 0.0, 0.0, 0.0))

        if metric == "cosine":
            with pytest.raises(InvalidArgument):
                await index.upsert([zero])
            with pytest.raises(InvalidArgument):
                await index.query(zero.values)
        else:
            await index.upsert([zero])
            matched = await index.query(zero.values, QueryOptions(top_k=1))
            assert [m.id for m in matched] == ["z"]

    async def test_v4_ids_and_metadata_limits(self, index: VectorIndex) -> None:
        """V4/V11: ids are 1-64 bytes; metadata is at most 10 KiB of JSON."""
        values = (1.0, 0.0, 0.0, 0.0)
        longest = "é" * (MAX_VECTOR_ID_BYTES // 2)
        await index.upsert([Vector(longest, values), Vector("ünï😀", values)])
        assert len(await index.get_by_ids([longest, "ünï😀"])) == 2

        for bad_id in ("", "x" * (MAX_VECTOR_ID_BYTES + 1), longest + "x"):
            with pytest.raises(InvalidArgument):
                await index.upsert([Vector(bad_id, values)])

        # {"p":"..."} is 8 bytes of JSON around the text
        at_limit = {"p": "m" * (MAX_METADATA_BYTES - 8)}
        await index.upsert([Vector("meta", values, at_limit)])
        (meta,) = await index.get_by_ids(["meta"])
        assert meta.metadata == at_limit
        with pytest.raises(InvalidArgument):
            await index.upsert(
                [Vector("meta2", values, {"p": "m" * (MAX_METADATA_BYTES - 7)})]
            )
        with pytest.raises(InvalidArgument):
            await index.upsert([Vector("nan", values, {"x": math.nan})])

    # ------------------------------------------------------------------ V5

    async def test_v5_matches_brute_force_oracle(
        self, opener: ResourceOpener, metric: str, caps: VectorizeCapabilities
    ) -> None:
        """V5: search agrees with the brute-force oracle for each metric."""
        dims = 8
        index: VectorIndex = await opener.provisioned(dimensions=dims, metric=metric)
        stored = random_vectors(300, dims, seed=5)
        await index.upsert(stored)
        queries = [v.values for v in random_vectors(6, dims, seed=55, prefix="q")]

        for query in queries:
            for top_k in (1, 10, 37):
                want = oracle.nearest(
                    metric, query, ((v.id, v.values) for v in stored), top_k + 1
                )
                got = await index.query(query, QueryOptions(top_k=top_k))
                self.check_against_oracle(metric, caps, got, want, top_k)

    def check_against_oracle(
        self,
        metric: str,
        caps: VectorizeCapabilities,
        got: list[VectorMatch],
        want: list[tuple[str, float]],
        top_k: int,
    ) -> None:
        assert len(got) == top_k, f"asked for {top_k}, got {len(got)}"
        assert len({m.id for m in got}) == len(got), "an id came back twice"

        sign = 1 if oracle.higher_is_better(metric) else -1
        for better, worse in itertools.pairwise(got):
            assert sign * (better.score - worse.score) >= -TOLERANCE, (
                f"results are not best-first for {metric}"
            )

        expected_ids = [vid for vid, _ in want[:top_k]]
        if not caps.exact:
            found = oracle.recall(expected_ids, [m.id for m in got])
            assert found >= caps.min_recall, f"recall {found} < {caps.min_recall}"
            return

        oracle_scores = dict(want)
        boundary_tied = len(want) > top_k and close(want[top_k - 1][1], want[top_k][1])
        if not boundary_tied:
            assert {m.id for m in got} == set(expected_ids)
        for match in got:
            if match.id in oracle_scores:
                assert close(match.score, oracle_scores[match.id]), (
                    f"{match.id}: score {match.score}, oracle "
                    f"{oracle_scores[match.id]} ({metric})"
                )

    # ------------------------------------------------------------------ V6

    async def test_v6_top_k_bounds(
        self, index: VectorIndex, caps: VectorizeCapabilities
    ) -> None:
        """V6: topK above the count returns the count; 0, negative and above
        max_top_k are refused; max_top_k itself is fine."""
        await index.upsert(random_vectors(5, DIMS, seed=6))
        query = (1.0, 0.5, 0.25, 0.125)

        assert len(await index.query(query, QueryOptions(top_k=50))) == 5
        assert len(await index.query(query, QueryOptions(top_k=caps.max_top_k))) == 5
        assert len(await index.query(query, QueryOptions(top_k=5))) == 5
        assert len(await index.query(query, QueryOptions(top_k=4))) == 4
        assert len(await index.query(query)) == 5  # default 10
        for bad in (0, -1, caps.max_top_k + 1, True, 2.0):
            with pytest.raises(InvalidArgument):
                await index.query(query, QueryOptions(top_k=bad))  # type: ignore[arg-type]

    async def test_v6_default_top_k_is_ten(self, index: VectorIndex) -> None:
        """V6: without topK a search returns at most 10 matches."""
        await index.upsert(random_vectors(25, DIMS, seed=60))
        assert len(await index.query((1.0, 0.0, 0.0, 0.0))) == 10

    # ------------------------------------------------------------------ V7

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [(raw, expected) for _, raw, expected in FILTER_CASES],
        ids=[case_id for case_id, _, _ in FILTER_CASES],
    )
    async def test_v7_filter_operators(
        self,
        index: VectorIndex,
        caps: VectorizeCapabilities,
        raw: dict[str, Any],
        expected: set[str],
    ) -> None:
        """V7: every operator, missing fields, dotted paths, type families."""
        flt = parse_filter(raw)
        assert flt is not None
        needed = {cond.op for cond in flt.conditions}
        missing = sorted(needed - caps.filter_operators)
        # The hand-written expectation must agree with the reference meaning.
        assert {vid for vid, md in FILTER_DATA.items() if matches(md, flt)} == expected
        await self.upsert_filter_data(index)

        if missing:
            # A filter the driver cannot evaluate in full must not be
            # answered with a weaker one.
            with pytest.raises((InvalidArgument, NotSupported)):
                await self.search_ids(index, (1.0, 1.0, 1.0, 1.0), filter=flt)
        else:
            found = await self.search_ids(index, (1.0, 1.0, 1.0, 1.0), filter=flt)
            assert set(found) == expected

    @pytest.mark.parametrize(
        "raw",
        [
            {"genre": {"$regex": "j.*"}},
            {"$and": [{"genre": "jazz"}]},
            {"genre": {"$in": []}},
            {"genre": {"$in": "jazz"}},
            {"year": {"$gt": None}},
            {"year": {"$gt": True}},
            {"genre": {}},
            {"a..b": 1},
            {"genre": ["jazz"]},
            "genre = jazz",
        ],
        ids=[
            "unknown-op",
            "top-level-op",
            "empty-in",
            "in-scalar",
            "range-null",
            "range-bool",
            "empty-object",
            "empty-segment",
            "list-value",
            "string",
        ],
    )
    async def test_v7_bad_filters_rejected(
        self, index: VectorIndex, raw: object
    ) -> None:
        """V7: an unknown operator or malformed filter is an error, not
        ignored."""
        with pytest.raises(InvalidArgument):
            parse_filter(raw)

    async def test_v7_filter_starvation(self, index: VectorIndex) -> None:
        """V7: topK=3 with exactly 3 matches among 1,000 returns those 3,
        however far they are from the query."""
        crowd = [
            Vector(f"c{i}", v.values, {"rare": False, "i": i})
            for i, v in enumerate(random_vectors(997, DIMS, seed=7))
        ]
        far = [
            Vector(f"far{i}", (100.0 + i, -100.0, 100.0, -100.0), {"rare": True})
            for i in range(3)
        ]
        await index.upsert(crowd + far)

        found = await self.search_ids(
            index, (0.1, 0.1, 0.1, 0.1), top_k=3, filter=parse_filter({"rare": True})
        )
        assert sorted(found) == ["far0", "far1", "far2"]

    @pytest.mark.parametrize("op", sorted(OPERATORS))
    async def test_l2_filter_operator_capability_is_honest(
        self, index: VectorIndex, caps: VectorizeCapabilities, op: str
    ) -> None:
        """L2 / V7: a declared operator is accepted and selects exactly what
        :func:`edgebind.filters.matches` selects; an undeclared one is
        refused, never ignored."""
        await self.upsert_filter_data(index)
        operand: object = ["jazz"] if op in ("$in", "$nin") else "jazz"
        flt = parse_filter({"genre": {op: operand}})
        assert flt is not None
        expected = {vid for vid, md in FILTER_DATA.items() if matches(md, flt)}
        # Every operator selects something here and leaves something out, so
        # a driver that drops the condition cannot pass.
        assert expected
        assert expected != set(ALL_IDS)

        if op in caps.filter_operators:
            found = await self.search_ids(index, (1.0, 1.0, 1.0, 1.0), filter=flt)
            assert len(found) == len(set(found)), "an id came back twice"
            assert set(found) == expected, f"{op} selected the wrong vectors"
            assert all(matches(FILTER_DATA[vid], flt) for vid in found)
        else:
            with pytest.raises((InvalidArgument, NotSupported)):
                await self.search_ids(index, (1.0, 1.0, 1.0, 1.0), filter=flt)

    # ----------------------------------------------------------- V8 - V10

    @pytest.mark.requires("namespaces")
    async def test_v8_namespaces_partition_search_only(
        self, index: VectorIndex
    ) -> None:
        """V8 (DESIGN): ids are unique per index; namespaces scope search;
        get and delete reach ids in any namespace; an upsert moves an id."""
        await index.upsert(
            [
                Vector("a1", (1.0, 0.0, 0.0, 0.0), namespace="a"),
                Vector("a2", (0.9, 0.1, 0.0, 0.0), namespace="a"),
                Vector("b1", (1.0, 0.0, 0.0, 0.1), namespace="b"),
                Vector("n1", (1.0, 0.1, 0.0, 0.0)),
            ]
        )
        query = (1.0, 0.0, 0.0, 0.0)

        assert set(await self.search_ids(index, query, namespace="a")) == {"a1", "a2"}
        assert set(await self.search_ids(index, query, namespace="b")) == {"b1"}
        assert await self.search_ids(index, query, namespace="elsewhere") == []
        everything = await self.search_ids(index, query)
        assert set(everything) == {"a1", "a2", "b1", "n1"}
        matched = await index.query(query, QueryOptions(namespace="a"))
        assert {m.namespace for m in matched} == {"a"}

        # The same id upserted into another namespace moves, not copies.
        await index.upsert([Vector("a1", (1.0, 0.0, 0.0, 0.0), namespace="b")])
        assert set(await self.search_ids(index, query, namespace="a")) == {"a2"}
        assert set(await self.search_ids(index, query, namespace="b")) == {"a1", "b1"}
        (moved,) = await index.get_by_ids(["a1"])
        assert moved.namespace == "b"
        assert (await index.describe()).vector_count == 4

        deleted = await index.delete_by_ids(["b1", "n1"])
        assert deleted.count == 2
        assert set(await self.search_ids(index, query)) == {"a1", "a2"}

    async def test_l2_namespaces_capability_is_honest(
        self, index: VectorIndex, caps: VectorizeCapabilities
    ) -> None:
        """L2 / V8: declared namespaces scope a search; undeclared, a
        namespace on upsert or query is refused rather than dropped."""
        if caps.namespaces:
            await index.upsert(
                [
                    Vector("in-a", (1.0, 0.0, 0.0, 0.0), namespace="a"),
                    Vector("in-b", (1.0, 0.0, 0.0, 0.1), namespace="b"),
                ]
            )
            query = (1.0, 0.0, 0.0, 0.0)
            assert await self.search_ids(index, query, namespace="a") == ["in-a"]
            assert await self.search_ids(index, query, namespace="b") == ["in-b"]
            (stored,) = await index.get_by_ids(["in-a"])
            assert stored.namespace == "a"
        else:
            with pytest.raises((InvalidArgument, NotSupported)):
                await index.upsert([Vector("a", (1.0, 0.0, 0.0, 0.0), namespace="a")])
            assert await index.get_by_ids(["a"]) == []
            with pytest.raises((InvalidArgument, NotSupported)):
                await index.query((1.0, 0.0, 0.0, 0.0), QueryOptions(namespace="a"))

    @pytest.mark.parametrize("return_metadata", ["none", "all", "indexed"])
    @pytest.mark.parametrize("return_values", [False, True])
    async def test_v9_return_flags(
        self, index: VectorIndex, return_values: bool, return_metadata: str
    ) -> None:
        """V9: values and metadata come back exactly when asked for."""
        stored = Vector("r", (0.5, 0.25, -0.5, 1.0), {"k": "v", "n": 1}, "ns")
        await index.upsert([stored])

        options = QueryOptions(
            top_k=1,
            return_values=return_values,
            return_metadata=return_metadata,  # type: ignore[arg-type]
        )
        for matched in (
            await index.query(stored.values, options),
            await index.query_by_id("r", options),
        ):
            (match,) = matched
            assert match.id == "r"
            if return_values:
                assert_values_close(match.values, stored.values)
            else:
                assert match.values is None
            if return_metadata == "none":
                assert match.metadata is None
            else:
                assert match.metadata == stored.metadata

    async def test_v10_delete_idempotent(self, index: VectorIndex) -> None:
        """V10: deleting counts only real deletions; deleted ids vanish from
        get and search; deleting again is fine."""
        await index.upsert(random_vectors(4, DIMS, seed=10))

        first = await index.delete_by_ids(["v0", "v1", "ghost", "v0"])
        again = await index.delete_by_ids(["v0", "v1"])
        assert first.count == 2
        assert again.count == 0
        assert await index.get_by_ids(["v0", "v1"]) == []
        assert set(await self.search_ids(index, (1.0, 1.0, 1.0, 1.0))) == {"v2", "v3"}
        assert (await index.describe()).vector_count == 2

    async def test_query_by_id_includes_itself(
        self, index: VectorIndex, any_metric: str
    ) -> None:
        """queryById searches with a stored vector, which matches itself
        first; an unknown id is NotFound."""
        stored = random_vectors(20, DIMS, seed=11)
        await index.upsert(stored)

        matched = await index.query_by_id("v3", QueryOptions(top_k=5))
        want = oracle.nearest(
            any_metric, stored[3].values, ((v.id, v.values) for v in stored), 5
        )
        assert len(matched) == 5
        if index.capabilities.exact:
            assert {m.id for m in matched} == {vid for vid, _ in want}
        if any_metric != "dot-product":
            # Under dot product a longer vector may outscore the query itself.
            assert matched[0].id == "v3"
        with pytest.raises(NotFound):
            await index.query_by_id("ghost")

    # ------------------------------------------------------------ L1 - L4

    async def test_l1_still_empty(self, index: VectorIndex) -> None:
        """L1: a fresh index holds nothing from earlier tests."""
        assert (await index.describe()).vector_count == 0
        assert await index.query((1.0, 1.0, 1.0, 1.0)) == []

    async def test_l2_runtime_capabilities_equal_declared(
        self, driver: Driver, index: VectorIndex, caps: VectorizeCapabilities
    ) -> None:
        """L2: the resource's capabilities equal the driver's declaration;
        approximate drivers say how much recall they promise."""
        assert index.capabilities == caps
        if type(driver).vectorize_capabilities is not None:
            assert type(driver).vectorize_capabilities == type(index).capabilities
        assert set(caps.metrics) <= set(METRICS)
        assert set(caps.filter_operators) <= OPERATORS
        if caps.exact:
            assert caps.min_recall == 1.0
        else:
            assert 0 < caps.min_recall <= 1.0

    @pytest.mark.parametrize("candidate", METRICS)
    async def test_l2_metric_capability_is_honest(
        self, opener: ResourceOpener, caps: VectorizeCapabilities, candidate: str
    ) -> None:
        """L2 / V5: an index with a declared metric opens and ranks as the
        oracle does; one with an undeclared metric is refused."""
        if candidate not in caps.metrics:
            with pytest.raises((InvalidArgument, NotSupported, ProvisionError)):
                await opener.provisioned(dimensions=DIMS, metric=candidate)
        else:
            index: VectorIndex = await opener.provisioned(
                dimensions=DIMS, metric=candidate
            )
            assert (await index.describe()).metric == candidate
            stored = random_vectors(12, DIMS, seed=12)
            await index.upsert(stored)
            query = (0.5, -0.25, 1.0, 0.125)
            want = oracle.nearest(
                candidate, query, ((v.id, v.values) for v in stored), 5
            )
            got = await index.query(query, QueryOptions(top_k=4))
            self.check_against_oracle(candidate, caps, got, want, 4)

    async def test_l3_provision_idempotent_and_mismatch(
        self, opener: ResourceOpener, any_metric: str
    ) -> None:
        """L3: provision twice reuses; other dimensions on the same name are
        a mismatch naming both settings."""
        name = unique_name()
        first = await opener.open(name, dimensions=DIMS, metric=any_metric).provision()
        again = await opener.open(name, dimensions=DIMS, metric=any_metric).provision()
        assert first.status in (ProvisionStatus.CREATED, ProvisionStatus.REUSED)
        assert again.status is ProvisionStatus.REUSED

        other = opener.open(name, dimensions=DIMS + 1, metric=any_metric)
        try:
            outcome = await other.provision()
        except ProvisionError as exc:
            detail = str(exc)
        else:
            assert outcome.status is ProvisionStatus.MISMATCHED
            detail = outcome.detail
        assert str(DIMS) in detail
        assert str(DIMS + 1) in detail
        await other.ping()

    async def test_l4_close_idempotent_use_after_close(
        self, driver: Driver, clock: FakeClock, any_metric: str
    ) -> None:
        """L4: aclose twice is fine; every call afterwards is ResourceClosed."""
        own = self.make_driver(driver, clock)
        spec = ResourceSpec(
            "vectorize",
            unique_name(),
            "CONTRACT_VECTORIZE",
            {"dimensions": DIMS, "metric": any_metric},
        )
        index = own.open_vectorize(spec)
        await index.provision()
        await index.upsert([Vector("a", (1.0, 0.0, 0.0, 0.0))])

        await index.aclose()
        await index.aclose()
        calls = [
            index.upsert([Vector("a", (1.0, 0.0, 0.0, 0.0))]),
            index.insert([Vector("b", (1.0, 0.0, 0.0, 0.0))]),
            index.query((1.0, 0.0, 0.0, 0.0)),
            index.query_by_id("a"),
            index.get_by_ids(["a"]),
            index.delete_by_ids(["a"]),
            index.describe(),
        ]
        for call in calls:
            with pytest.raises(ResourceClosed):
                await call
        await own.aclose()
        await own.aclose()

    # ------------------------------------------------------- stateful model

    def test_v11_matches_model(
        self, driver: Driver, caps: VectorizeCapabilities
    ) -> None:
        """V11: random upsert / insert / delete / query sequences agree with a
        dict model: count, no duplicates, fields equal, recall."""
        machine = _vector_machine(self, driver, caps)
        run_state_machine_as_test(machine, settings=self.stateful_settings)


_IDS = st.sampled_from(["a", "b", "c", "d", "é", "😀", "x" * MAX_VECTOR_ID_BYTES])
_COMPONENT = st.integers(-4, 4).map(float)
_VALUES = st.tuples(_COMPONENT, _COMPONENT, _COMPONENT, _COMPONENT).filter(any)
_METADATA = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {"tag": st.sampled_from(["red", "blue"]), "n": st.integers(-3, 3)}
    ),
)
_NAMESPACES = st.sampled_from([None, "one", "two"])


def _vector_machine(
    contract: VectorizeContract, template: Driver, caps: VectorizeCapabilities
) -> type[RuleBasedStateMachine]:
    metric = next(
        m for m in ("euclidean", "cosine", "dot-product") if m in caps.metrics
    )

    class VectorModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
            self.driver = contract.make_driver(template, FakeClock())
            spec = ResourceSpec(
                "vectorize",
                unique_name("sm"),
                "CONTRACT_VECTORIZE",
                {"dimensions": DIMS, "metric": metric},
            )
            self.index = self.driver.open_vectorize(spec)
            self.runner.run(self.index.provision())
            self.model: dict[str, Vector] = {}

        @rule(vid=_IDS, values=_VALUES, metadata=_METADATA, namespace=_NAMESPACES)
        def upsert(
            self,
            vid: str,
            values: tuple[float, ...],
            metadata: dict[str, Any] | None,
            namespace: str | None,
        ) -> None:
            if namespace is not None and not caps.namespaces:
                namespace = None
            vector = Vector(vid, values, metadata, namespace)
            self.runner.run(self.index.upsert([vector]))
            self.model[vid] = vector

        @rule(vid=_IDS, values=_VALUES, metadata=_METADATA)
        def insert(
            self, vid: str, values: tuple[float, ...], metadata: dict[str, Any] | None
        ) -> None:
            vector = Vector(vid, values, metadata)
            if vid in self.model:
                with pytest.raises(Conflict):
                    self.runner.run(self.index.insert([vector]))
                return
            self.runner.run(self.index.insert([vector]))
            self.model[vid] = vector

        @rule(ids=st.lists(_IDS, min_size=1, max_size=3))
        def delete(self, ids: list[str]) -> None:
            result = self.runner.run(self.index.delete_by_ids(ids))
            assert result.count == len(set(ids) & set(self.model))
            for vid in ids:
                self.model.pop(vid, None)

        @rule(query=_VALUES, top_k=st.integers(1, 8), namespace=_NAMESPACES)
        def query(
            self, query: tuple[float, ...], top_k: int, namespace: str | None
        ) -> None:
            if namespace is not None and not caps.namespaces:
                namespace = None
            options = QueryOptions(
                top_k=top_k, namespace=namespace, return_metadata="all"
            )
            got = self.runner.run(self.index.query(query, options))
            pool = [
                v
                for v in self.model.values()
                if namespace is None or v.namespace == namespace
            ]
            want = oracle.nearest(metric, query, ((v.id, v.values) for v in pool), 99)
            assert len(got) == min(top_k, len(pool))
            assert len({m.id for m in got}) == len(got)
            for match in got:
                assert match.id in self.model
                assert (match.metadata or None) == (
                    self.model[match.id].metadata or None
                )
            if caps.exact and got:
                # Every returned id scores at least as well as the k-th best.
                kth = want[len(got) - 1][1]
                sign = 1 if oracle.higher_is_better(metric) else -1
                for match in got:
                    assert sign * (match.score - kth) >= -TOLERANCE

        @invariant()
        def count_and_fields(self) -> None:
            info = self.runner.run(self.index.describe())
            assert info.vector_count == len(self.model)
            if not self.model:
                return
            got = self.runner.run(self.index.get_by_ids(list(self.model)))
            assert [v.id for v in got] == list(self.model)
            for vector in got:
                want = self.model[vector.id]
                assert_values_close(vector.values, want.values)
                assert (vector.metadata or None) == (want.metadata or None)
                assert vector.namespace == want.namespace

        def teardown(self) -> None:
            try:
                self.runner.run(self.index.aclose())
                self.runner.run(self.driver.aclose())
            except EdgebindError:
                logger.exception("closing the state machine's driver failed")
            finally:
                self.runner.close()

    return VectorModel
