"""The contract suite must catch deliberately broken drivers.

Each mutant is a small subclass of the reference driver with one realistic
bug. All of them run in one ``pytester`` session (in pytest-asyncio's default
strict mode, with no ini file, exactly as a third party's project would),
and every mutant must fail at least one contract test. The unbroken
reference must pass in that same session.

Capability honesty is checked both ways. Honest drivers that leave a
capability out must pass the two-way ``*_capability_is_honest`` tests (which
run for every driver and assert refusal), and only tests that exercise the
missing capability may skip, with a reason naming it. For each two-way test
a mutant declares a capability absent yet silently accepts it, and that very
test must fail.
"""

from __future__ import annotations

import collections
import dataclasses

import pytest

pytest_plugins = ["pytester"]

MUTANTS_MODULE = '''
from __future__ import annotations

import copy
import re
from dataclasses import replace

import pytest
from hypothesis import Phase, settings

from edgebind.errors import InvalidArgument, QueryError
from edgebind.capabilities import (
    D1Capabilities,
    KVCapabilities,
    VectorizeCapabilities,
)
from edgebind.filters import Condition, VectorFilter
from edgebind.kv import KVListPage, encode_cursor
from edgebind.testing import D1Contract, KVContract, VectorizeContract
from edgebind.resource import system_clock
from edgebind.testing.reference import (
    ReferenceD1,
    ReferenceDriver,
    ReferenceKV,
    ReferenceVectorIndex,
)
from edgebind.vectorize import MutationResult, QueryOptions


def driver_with(kv=None, d1=None, vectorize=None, **attrs):
    """A ReferenceDriver subclass whose resources are the given classes."""

    class Mutant(ReferenceDriver):
        def open_kv(self, spec):
            base = super().open_kv(spec)
            if kv is None:
                return base
            return kv(spec, base._store, clock=self.clock)

        def open_d1(self, spec):
            base = super().open_d1(spec)
            return base if d1 is None else d1(spec, base._connection)

        def open_vectorize(self, spec):
            base = super().open_vectorize(spec)
            return base if vectorize is None else vectorize(spec, base._indexes)

    for name, value in attrs.items():
        setattr(Mutant, name, value)
    return Mutant


def contract_for(contract, driver_cls):
    class Bound(contract):
        # A mutant's state-machine failure needs no shrinking here; only
        # whether one is found matters, and shrinking takes minutes.
        stateful_settings = settings(
            contract.stateful_settings,
            phases=[Phase.explicit, Phase.reuse, Phase.generate],
            database=None,
        )

        @pytest.fixture
        async def driver(self, clock):
            d = driver_cls("reference://", clock=clock)
            yield d
            await d.aclose()

    return Bound


# ---------------------------------------------------------------- KV bugs

class IgnoresTTL(ReferenceKV):
    async def _put(self, key, value, expires_at):
        await super()._put(key, value, None)


class DropsLastPage(ReferenceKV):
    async def _list(self, prefix, limit, after):
        page = await super()._list(prefix, limit, after)
        if page.cursor is None and after is not None:
            return KVListPage([], None)
        return page


class RepeatsCursorKey(ReferenceKV):
    async def _list(self, prefix, limit, after):
        page = await super()._list(prefix, limit, after)
        if after is not None and await self._get(after) is not None:
            keys = [after, *page.keys][:limit]
            cursor = encode_cursor(keys[-1]) if page.cursor else None
            return KVListPage(keys, cursor)
        return page


class DeleteRaisesOnMissing(ReferenceKV):
    async def _delete(self, key):
        if key not in self._store:
            raise KeyError(key)
        await super()._delete(key)


class LikePrefix(ReferenceKV):
    async def _list(self, prefix, limit, after):
        # Treats the prefix as a SQL LIKE pattern, as a naive driver would.
        pattern = re.compile(
            "".join(
                "." if c == "_" else ".*" if c == "%" else re.escape(c)
                for c in prefix
            )
        )
        keys = sorted(
            k for k, e in self._store.items()
            if pattern.match(k) and (after is None or k > after) and self._live(e)
        )
        page = keys[:limit]
        return KVListPage(page, encode_cursor(page[-1]) if len(keys) > limit else None)


shared_store = {}


class SharedNamespaces(ReferenceKV):
    def __init__(self, spec, store, *, clock):
        super().__init__(spec, shared_store, clock=clock)


class LiesAboutCapabilities(ReferenceKV):
    capabilities = KVCapabilities(max_list_limit=500)


# ---------------------------------------------------------------- D1 bugs

class BindsInsideLiterals(ReferenceD1):
    async def _execute(self, sql, params):
        # Substitutes every ? textually, string literals included.
        values = iter(params)

        def substitute(match):
            value = next(values, None)
            return "NULL" if value is None else repr(value)

        return await super()._execute(re.sub(r"\\?", substitute, sql), [])


class RowcountAlwaysOne(ReferenceD1):
    async def _execute(self, sql, params):
        result = await super()._execute(sql, params)
        return replace(result, meta=replace(result.meta, changes=1))


class LastColumnWins(ReferenceD1):
    async def _execute(self, sql, params):
        cursor = self._connection.execute(sql, params)
        columns = [d[0] for d in cursor.description or ()]
        rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
        result = await super()._execute("SELECT 1 WHERE 0", [])
        return replace(result, results=rows)


# --------------------------------------------------------- Vectorize bugs

class MergesMetadata(ReferenceVectorIndex):
    async def _upsert(self, vectors):
        merged = []
        for vector in vectors:
            old = self._state.vectors.get(vector.id)
            if old is not None and old.metadata and vector.metadata is not None:
                vector = replace(vector, metadata={**old.metadata, **vector.metadata})
            merged.append(vector)
        return await super()._upsert(merged)


class IgnoresNe(ReferenceVectorIndex):
    async def _query(self, values, options):
        if options.filter is not None:
            kept = tuple(c for c in options.filter.conditions if c.op != "$ne")
            options = replace(options, filter=VectorFilter(kept) if kept else None)
        return await super()._query(values, options)


class TopKOffByOne(ReferenceVectorIndex):
    async def _query(self, values, options):
        return await super()._query(values, replace(options, top_k=options.top_k + 1))


class IgnoresNamespace(ReferenceVectorIndex):
    async def _query(self, values, options):
        return await super()._query(values, replace(options, namespace=None))


class WrongEuclideanDirection(ReferenceVectorIndex):
    async def _query(self, values, options):
        matches = await super()._query(values, replace(options, top_k=100))
        if self.metric == "euclidean":
            matches = matches[::-1]
        return matches[: options.top_k]


class InsertWritesBeforeConflict(ReferenceVectorIndex):
    async def insert(self, vectors):
        for vector in vectors:
            if vector.id not in self._state.vectors:
                await self._upsert([vector])
        return await super().insert(vectors)


class DeleteCountsMissing(ReferenceVectorIndex):
    async def _delete_by_ids(self, ids):
        result = await super()._delete_by_ids(ids)
        return MutationResult(len(ids), result.mutation_id)


# ------------------------------------ capabilities declared absent, yet used

class AcceptsUndeclaredTTL(ReferenceKV):
    capabilities = KVCapabilities(ttl=False)

    def _check_ttl(self, ttl):
        # Validates the value like the core but forgets the capability, as a
        # driver with its own put might; only the honesty test can notice.
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1
        ):
            raise InvalidArgument("ttl must be a positive whole number")


class RealClockKV(ReferenceKV):
    capabilities = KVCapabilities(injectable_clock=False)


class RealClockIgnoresTTL(RealClockKV):
    async def _put(self, key, value, expires_at):
        await super()._put(key, value, None)


def real_clock_driver(kv):
    """A driver that, like a server with its own clock, ignores the suite's."""

    class RealClock(driver_with(kv=kv, kv_capabilities=kv.capabilities)):
        def __init__(self, url, *, clock=system_clock):
            super().__init__(url, clock=system_clock)

    return RealClock


def d1_declaring(**flags):
    """The reference D1 (SQLite, which does everything) declaring less."""
    caps = D1Capabilities(**flags)
    resource = type("DeclaresLess", (ReferenceD1,), {"capabilities": caps})
    return driver_with(d1=resource, d1_capabilities=caps)


class KeepsNoDuplicates(ReferenceD1):
    """Declares it keeps duplicate columns, yet lets the last one win."""

    capabilities = D1Capabilities(rejects_duplicate_columns=False)

    async def _execute(self, sql, params):
        try:
            return await super()._execute(sql, params)
        except QueryError as exc:
            if "more than one column" not in exc.message:
                raise
        cursor = self._connection.execute(sql, params)
        columns = [d[0] for d in cursor.description or ()]
        rows = [dict(zip(columns, row)) for row in cursor.fetchall()]
        result = await super()._execute("SELECT 1 WHERE 0", [])
        return replace(result, results=rows)


def vectorize_declaring(**fields):
    caps = VectorizeCapabilities(**fields)
    resource = type("DeclaresLess", (ReferenceVectorIndex,), {"capabilities": caps})
    return driver_with(vectorize=resource, vectorize_capabilities=caps)


ALL_OPS = VectorizeCapabilities().filter_operators

# ------------------------------------------------------------- the runs

TestRefKV = contract_for(KVContract, ReferenceDriver)
TestRefD1 = contract_for(D1Contract, ReferenceDriver)
TestRefVectorize = contract_for(VectorizeContract, ReferenceDriver)

TestMutantIgnoresTTL = contract_for(KVContract, driver_with(kv=IgnoresTTL))
TestMutantDropsLastPage = contract_for(KVContract, driver_with(kv=DropsLastPage))
TestMutantRepeatsCursorKey = contract_for(KVContract, driver_with(kv=RepeatsCursorKey))
TestMutantDeleteRaises = contract_for(KVContract, driver_with(kv=DeleteRaisesOnMissing))
TestMutantLikePrefix = contract_for(KVContract, driver_with(kv=LikePrefix))
TestMutantSharedNamespaces = contract_for(KVContract, driver_with(kv=SharedNamespaces))
TestMutantLiesAboutCaps = contract_for(
    KVContract, driver_with(kv=LiesAboutCapabilities)
)
TestMutantBindsInsideLiterals = contract_for(
    D1Contract, driver_with(d1=BindsInsideLiterals)
)
TestMutantRowcountAlwaysOne = contract_for(
    D1Contract, driver_with(d1=RowcountAlwaysOne)
)
TestMutantLastColumnWins = contract_for(D1Contract, driver_with(d1=LastColumnWins))
TestMutantMergesMetadata = contract_for(
    VectorizeContract, driver_with(vectorize=MergesMetadata)
)
TestMutantIgnoresNe = contract_for(VectorizeContract, driver_with(vectorize=IgnoresNe))
TestMutantTopKOffByOne = contract_for(
    VectorizeContract, driver_with(vectorize=TopKOffByOne)
)
TestMutantIgnoresNamespace = contract_for(
    VectorizeContract, driver_with(vectorize=IgnoresNamespace)
)
TestMutantWrongEuclidean = contract_for(
    VectorizeContract, driver_with(vectorize=WrongEuclideanDirection)
)
TestMutantInsertWritesFirst = contract_for(
    VectorizeContract, driver_with(vectorize=InsertWritesBeforeConflict)
)
TestMutantDeleteCountsMissing = contract_for(
    VectorizeContract, driver_with(vectorize=DeleteCountsMissing)
)

TestMutantAcceptsUndeclaredTTL = contract_for(
    KVContract,
    driver_with(kv=AcceptsUndeclaredTTL, kv_capabilities=KVCapabilities(ttl=False)),
)
TestMutantRealClockIgnoresTTL = contract_for(
    KVContract, real_clock_driver(RealClockIgnoresTTL)
)
# The real-time wait is the point here; a second of slack keeps it short.
TestMutantRealClockIgnoresTTL.real_time_ttl_slack_seconds = 1.0
TestMutantAcceptsUndeclaredNumbered = contract_for(
    D1Contract, d1_declaring(numbered_params=False)
)
TestMutantAcceptsUndeclaredReturning = contract_for(
    D1Contract, d1_declaring(returning=False)
)
TestMutantDropsUndeclaredDuplicates = contract_for(
    D1Contract,
    driver_with(d1=KeepsNoDuplicates, d1_capabilities=KeepsNoDuplicates.capabilities),
)
TestMutantWrongDialect = contract_for(D1Contract, d1_declaring(dialect="postgresql"))
TestMutantUnknownDialect = contract_for(D1Contract, d1_declaring(dialect="mysql"))
TestMutantAcceptsUndeclaredOperator = contract_for(
    VectorizeContract, vectorize_declaring(filter_operators=ALL_OPS - {"$ne"})
)
TestMutantAcceptsUndeclaredNamespaces = contract_for(
    VectorizeContract, vectorize_declaring(namespaces=False)
)
TestMutantAcceptsUndeclaredMetric = contract_for(
    VectorizeContract,
    vectorize_declaring(metrics=frozenset({"cosine", "euclidean"})),
)

# Drivers that honestly leave capabilities out: the two-way tests run and
# pass by refusal; only tests exercising the capability skip, naming it.
class NoTTLKV(ReferenceKV):
    capabilities = KVCapabilities(ttl=False)


class NoTTLDriver(ReferenceDriver):
    kv_capabilities = NoTTLKV.capabilities

    def open_kv(self, spec):
        return NoTTLKV(spec, super().open_kv(spec)._store, clock=self.clock)


TestHonestNoTTL = contract_for(KVContract, NoTTLDriver)
TestHonestRealClock = contract_for(KVContract, real_clock_driver(RealClockKV))
'''


@dataclasses.dataclass
class Run:
    """What one pytester run over every mutant produced."""

    #: outcome counts per test class
    counts: dict[str, collections.Counter[str]]
    #: per test class, the outcome of each test (node id after the class)
    outcomes: dict[str, dict[str, str]]
    #: per test class, the text of each failure or skip
    details: dict[str, dict[str, str]]


#: one pytester run serves every test in this file; it takes a few seconds
_RUNS: dict[str, Run] = {}


@pytest.fixture
def run(pytester: pytest.Pytester) -> Run:
    """The results of one run over every mutant, made on first use."""
    if "run" in _RUNS:
        return _RUNS["run"]
    pytester.makepyfile(test_mutants_under_test=MUTANTS_MODULE)
    reprec = pytester.inline_run(
        "-p",
        "no:cacheprovider",
        "-q",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )

    result = Run(
        collections.defaultdict(collections.Counter),
        collections.defaultdict(dict),
        collections.defaultdict(dict),
    )
    for report in reprec.getreports("pytest_runtest_logreport"):
        if report.when != "call" and report.passed:
            continue
        parts = report.nodeid.split("::")
        cls = parts[1] if len(parts) > 2 else "<module>"
        test = "::".join(parts[2:])
        result.counts[cls][report.outcome] += 1
        # A setup failure or skip decides the test; a teardown failure
        # after a passing call must still show as a failure.
        if result.outcomes[cls].get(test) != "failed":
            result.outcomes[cls][test] = report.outcome
        if not report.passed:
            result.details[cls][test] = str(report.longrepr)
    _RUNS["run"] = result
    return result


MUTANTS = [
    "TestMutantIgnoresTTL",
    "TestMutantDropsLastPage",
    "TestMutantRepeatsCursorKey",
    "TestMutantDeleteRaises",
    "TestMutantLikePrefix",
    "TestMutantSharedNamespaces",
    "TestMutantLiesAboutCaps",
    "TestMutantBindsInsideLiterals",
    "TestMutantRowcountAlwaysOne",
    "TestMutantLastColumnWins",
    "TestMutantMergesMetadata",
    "TestMutantIgnoresNe",
    "TestMutantTopKOffByOne",
    "TestMutantIgnoresNamespace",
    "TestMutantWrongEuclidean",
    "TestMutantInsertWritesFirst",
    "TestMutantDeleteCountsMissing",
    *(
        "TestMutantAcceptsUndeclaredTTL",
        "TestMutantRealClockIgnoresTTL",
        "TestMutantAcceptsUndeclaredNumbered",
        "TestMutantAcceptsUndeclaredReturning",
        "TestMutantDropsUndeclaredDuplicates",
        "TestMutantWrongDialect",
        "TestMutantUnknownDialect",
        "TestMutantAcceptsUndeclaredOperator",
        "TestMutantAcceptsUndeclaredNamespaces",
        "TestMutantAcceptsUndeclaredMetric",
    ),
]

#: the test that must catch each capability mutant: the two-way test whose
#: undeclared (or dialect) branch the mutant breaks, with a parameter if any
CAUGHT_BY = {
    "TestMutantAcceptsUndeclaredTTL": "test_l2_ttl_capability_is_honest",
    "TestMutantRealClockIgnoresTTL": "test_k8_ttl_expires_on_the_drivers_clock",
    "TestMutantAcceptsUndeclaredNumbered": (
        "test_s2_numbered_params_capability_is_honest"
    ),
    "TestMutantAcceptsUndeclaredReturning": "test_s6_returning_capability_is_honest",
    "TestMutantDropsUndeclaredDuplicates": (
        "test_s5_duplicate_columns_capability_is_honest"
    ),
    "TestMutantWrongDialect": "test_s3_bool_follows_dialect",
    "TestMutantUnknownDialect": "test_s1_last_row_id",
    "TestMutantAcceptsUndeclaredOperator": (
        "test_l2_filter_operator_capability_is_honest[$ne]"
    ),
    "TestMutantAcceptsUndeclaredNamespaces": "test_l2_namespaces_capability_is_honest",
    "TestMutantAcceptsUndeclaredMetric": (
        "test_l2_metric_capability_is_honest[dot-product]"
    ),
}


@pytest.mark.parametrize("mutant", MUTANTS)
def test_mutant_is_caught(run: Run, mutant: str) -> None:
    counts = run.counts[mutant]
    assert counts["passed"] > 0, f"{mutant} did not run at all: {dict(counts)}"
    assert counts["failed"] > 0, f"no contract test caught {mutant}: {dict(counts)}"


@pytest.mark.parametrize("mutant", sorted(CAUGHT_BY))
def test_capability_mutant_caught_by_its_two_way_test(run: Run, mutant: str) -> None:
    """The undeclared branch of each two-way test can fail: a driver that
    declares a capability absent yet accepts it is caught right there."""
    test = CAUGHT_BY[mutant]
    outcome = run.outcomes[mutant].get(test)
    assert outcome == "failed", f"{mutant}: {test} was {outcome}"


def test_unknown_dialect_fails_with_advice(run: Run) -> None:
    """An unknown dialect fails, telling the author what to declare."""
    detail = run.details["TestMutantUnknownDialect"]["test_s1_last_row_id"]
    assert "'mysql'" in detail
    assert "declare dialect 'sqlite' or 'postgresql'" in detail


@pytest.mark.parametrize("reference", ["TestRefKV", "TestRefD1", "TestRefVectorize"])
def test_reference_declares_everything_and_skips_nothing(
    run: Run, reference: str
) -> None:
    """The reference declares every capability, so the whole suite runs on it:
    no skip at all, and (no asyncio_mode setting) the async fixture works."""
    counts = run.counts[reference]
    assert counts["failed"] == 0, dict(counts)
    assert counts["skipped"] == 0, run.details[reference]
    assert counts["passed"] > 30, dict(counts)


#: the two-way tests an honest driver without TTL must run and pass
NO_TTL_HONESTY = [
    "test_l2_ttl_capability_is_honest",
    "test_kv_matches_dict_model",
    *(f"test_k9_ttl_validation[{bad}]" for bad in ("0", "-1", "1.5", "60", "True")),
]


def test_honest_driver_without_ttl_is_checked_for_refusal(run: Run) -> None:
    """A driver without TTL runs the honesty test, which passes because the
    TTL is refused; only tests that exercise TTL skip, naming 'ttl'."""
    outcomes = run.outcomes["TestHonestNoTTL"]
    assert run.counts["TestHonestNoTTL"]["failed"] == 0, run.details["TestHonestNoTTL"]
    for test in NO_TTL_HONESTY:
        assert outcomes.get(test) == "passed", f"{test}: {outcomes.get(test)}"
    skips = run.details["TestHonestNoTTL"]
    assert skips, "the tests exercising TTL should have skipped"
    assert all("capability 'ttl'" in reason for reason in skips.values()), skips


def test_driver_without_injectable_clock_takes_the_real_time_path(run: Run) -> None:
    """A driver on its own clock passes the real-time TTL test and the state
    machine; only the fake-clock tests skip, naming 'injectable_clock'."""
    outcomes = run.outcomes["TestHonestRealClock"]
    details = run.details["TestHonestRealClock"]
    assert run.counts["TestHonestRealClock"]["failed"] == 0, details
    for test in (
        "test_k8_ttl_expires_on_the_drivers_clock",
        "test_l2_ttl_capability_is_honest",
        "test_kv_matches_dict_model",
    ):
        assert outcomes.get(test) == "passed", f"{test}: {outcomes.get(test)}"
    assert details, "the fake-clock TTL tests should have skipped"
    assert all("'injectable_clock'" in reason for reason in details.values()), details
