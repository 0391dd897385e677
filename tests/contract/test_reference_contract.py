"""The contract suite run against its own in-memory reference driver.

Every case must pass here: the reference is the simplest driver that meets
the contract, so a failure is a bug in the suite itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from edgebind import Driver
from edgebind.testing import D1Contract, FakeClock, KVContract, VectorizeContract
from edgebind.testing.reference import ReferenceDriver


class OnReferenceDriver:
    """The one ``driver`` fixture all three contract classes below share."""

    @pytest.fixture
    async def driver(self, clock: FakeClock) -> AsyncIterator[Driver]:
        d = ReferenceDriver("reference://", clock=clock)
        yield d
        await d.aclose()


class TestReferenceKV(OnReferenceDriver, KVContract):
    pass


class TestReferenceD1(OnReferenceDriver, D1Contract):
    pass


class TestReferenceVectorize(OnReferenceDriver, VectorizeContract):
    pass
