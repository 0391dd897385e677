"""The contract suite must catch deliberately broken drivers.

Each mutant is a small subclass of the reference driver with one realistic
bug. All of them run in one ``pytester`` session (in pytest-asyncio's default
strict mode, with no ini file, exactly as a third party's project would),
and every mutant must fail at least one contract test. The unbroken
reference must pass in that same session, and a driver that leaves a
capability out must see the matching tests skipped with a reason naming it.
"""

from __future__ import annotations

import collections
from typing import Any

import pytest

pytest_plugins = ["pytester"]

MUTANTS_MODULE = '''
from __future__ import annotations

import copy
import re
from dataclasses import replace

import pytest
from hypothesis import Phase, settings

from edgebind.capabilities import KVCapabilities
from edgebind.filters import Condition, VectorFilter
from edgebind.kv import KVListPage, encode_cursor
from edgebind.testing import D1Contract, KVContract, VectorizeContract
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

# A driver that honestly leaves capabilities out: gated tests must skip,
# naming the capability, and the negative tests must run and pass.
class NoTTLKV(ReferenceKV):
    capabilities = KVCapabilities(ttl=False)


class NoTTLDriver(ReferenceDriver):
    kv_capabilities = NoTTLKV.capabilities

    def open_kv(self, spec):
        return NoTTLKV(spec, super().open_kv(spec)._store, clock=self.clock)


TestHonestNoTTL = contract_for(KVContract, NoTTLDriver)
'''


#: one pytester run serves every test in this file; it takes a few seconds
_RUNS: dict[str, dict[str, collections.Counter[str]]] = {}


@pytest.fixture
def outcomes(pytester: pytest.Pytester) -> dict[str, collections.Counter[str]]:
    """Outcome counts per test class of one run over every mutant."""
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

    per_class: dict[str, collections.Counter[str]] = collections.defaultdict(
        collections.Counter
    )
    skip_reasons: list[str] = []
    for report in reprec.getreports("pytest_runtest_logreport"):
        if report.when != "call" and report.passed:
            continue
        parts = report.nodeid.split("::")
        cls = parts[1] if len(parts) > 2 else "<module>"
        per_class[cls][report.outcome] += 1
        if report.skipped and cls == "TestHonestNoTTL":
            skip_reasons.append(str(report.longrepr))
    per_class["__skip_reasons__"] = collections.Counter(skip_reasons)
    _RUNS["run"] = per_class
    return per_class


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
]


@pytest.mark.parametrize("mutant", MUTANTS)
def test_mutant_is_caught(
    outcomes: dict[str, collections.Counter[str]], mutant: str
) -> None:
    counts = outcomes[mutant]
    assert counts["passed"] > 0, f"{mutant} did not run at all: {dict(counts)}"
    assert counts["failed"] > 0, f"no contract test caught {mutant}: {dict(counts)}"


@pytest.mark.parametrize("reference", ["TestRefKV", "TestRefD1", "TestRefVectorize"])
def test_reference_passes_in_strict_mode(
    outcomes: dict[str, collections.Counter[str]], reference: str
) -> None:
    """No asyncio_mode setting: the plugin makes the async fixture work."""
    counts = outcomes[reference]
    assert counts["failed"] == 0, dict(counts)
    assert counts["passed"] > 30, dict(counts)


def test_undeclared_capability_skips_with_reason_and_negative_runs(
    outcomes: dict[str, collections.Counter[str]],
) -> None:
    counts = outcomes["TestHonestNoTTL"]
    reasons: Any = outcomes["__skip_reasons__"]

    assert counts["failed"] == 0, dict(counts)
    assert any("capability 'ttl'" in reason for reason in reasons), reasons
    assert all("capability" in reason or "declares" in reason for reason in reasons)
