"""The Edgebind contract suite: one body of tests every driver runs.

A driver author — in this repository or a third party — subclasses the
contract classes for the kinds their driver serves and provides **one**
fixture, ``driver``, that yields a fresh :class:`edgebind.Driver` built with
the suite's ``clock`` fixture::

    import pytest
    from edgebind.testing import D1Contract, KVContract, VectorizeContract
    from my_driver import MyDriver

    class TestMyKV(KVContract):
        @pytest.fixture
        async def driver(self, tmp_path, clock):
            d = MyDriver(f"my://{tmp_path}", clock=clock)
            yield d
            await d.aclose()

That is all: install ``edgebind[testing]`` (pytest, pytest-asyncio and
Hypothesis) and run pytest. The plugin (``edgebind.testing.plugin``, loaded
through the ``pytest11`` entry point) makes the async fixture work in
pytest-asyncio's default strict mode as well as in auto mode.

How the suite behaves:

* It opens every resource itself with a unique name (``ct`` + 24 hex digits),
  runs ``provision()`` on it first and closes it afterwards, so tests never
  see each other's data and a shared backend (one Redis, one PostgreSQL)
  needs no cleanup between runs.
* It reads the driver's declared capabilities — the class attributes
  ``kv_capabilities`` / ``d1_capabilities`` / ``vectorize_capabilities``, or
  the resource class's ``capabilities`` when those are None — and checks
  both directions: what is declared must work, what is left out must be
  refused with a typed error. Each optional capability has an always-running
  ``*_capability_is_honest`` test asserting whichever direction applies, so
  a driver that declares everything runs every case with no skip. Only tests
  exercising a capability the driver leaves out skip, with a reason naming
  it; none passes by returning early. D1 cases that differ by dialect run
  on both ``sqlite`` and ``postgresql``.
* Time moves only through the :class:`~edgebind.testing.clock.FakeClock`, so
  TTL tests take no time. A driver that does not read the injected clock
  declares ``injectable_clock=False``; its TTL expiry is then polled in real
  time (marker ``slow``, slack ``KVContract.real_time_ttl_slack_seconds``).
* A few tests need a driver of their own (the Hypothesis state machine runs
  in a dedicated event loop, and the lifecycle test closes a driver). They
  build it with :meth:`ContractBase.make_driver`, which by default calls
  ``type(driver)(driver.url, clock=clock)`` — the constructor every driver
  has. Override ``make_driver`` only if your constructor needs more.

:mod:`edgebind.testing.reference` holds in-memory reference drivers used to
test the suite itself; :mod:`edgebind.testing.oracle` the brute-force
nearest-neighbour oracle.
"""

from edgebind.testing.clock import FakeClock
from edgebind.testing.d1 import D1Contract
from edgebind.testing.kv import KVContract
from edgebind.testing.vectorize import VectorizeContract

__all__ = ["D1Contract", "FakeClock", "KVContract", "VectorizeContract"]
