"""pytest plugin for the Edgebind contract suite (entry point ``edgebind``).

Installed with ``edgebind[testing]``; pytest loads it automatically. It

* registers the ``requires(...)`` and ``lacks(...)`` markers that gate
  tests on a driver's declared capabilities (the contract classes' autouse
  fixture does the skipping, always with a reason that names the
  capability). The suite's own two-way honesty tests need no marker: they
  always run, so a driver declaring every capability skips nothing;
* lets a driver author write the ``driver`` fixture as a plain
  ``@pytest.fixture async def`` even under pytest-asyncio's default strict
  mode, so no ``asyncio_mode`` setting is needed.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Generator

import pytest

logger = logging.getLogger(__name__)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "requires(*flags, **values): run an Edgebind contract test only when "
        "the driver declares these capabilities; skipped with a reason otherwise",
    )
    config.addinivalue_line(
        "markers",
        "lacks(*flags): an Edgebind contract test of what a driver must refuse "
        "when it does not declare these capabilities",
    )


@pytest.hookimpl(tryfirst=True, wrapper=True)
def pytest_fixture_setup(
    fixturedef: pytest.FixtureDef[object], request: pytest.FixtureRequest
) -> Generator[None, object, object]:
    # In strict mode pytest-asyncio only drives coroutine fixtures that carry
    # its mark. Marking a contract class's async `driver` fixture here, before
    # pytest-asyncio's own hook looks at it, spares the author from knowing.
    if fixturedef.argname == "driver" and _in_contract_class(request):
        func = fixturedef.func
        if inspect.iscoroutinefunction(func) or inspect.isasyncgenfunction(func):
            import pytest_asyncio

            # Applying the decorator marks the function itself; the fixture
            # definition it returns is not needed.
            pytest_asyncio.fixture(func, loop_scope="function")
    return (yield)


def _in_contract_class(request: pytest.FixtureRequest) -> bool:
    cls = getattr(request, "cls", None)
    if cls is None:
        return False
    from edgebind.testing._base import ContractBase

    return issubclass(cls, ContractBase)
