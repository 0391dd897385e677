"""What the three contract classes share: the fake clock, capability gating,
resource opening with unique names, and asyncio marking.

The capability rule the suite follows: **declared ⇒ must work, undeclared ⇒
must be refused** with a typed error. Each optional capability has a two-way
``*_capability_is_honest`` test that always runs and asserts whichever
direction applies, so a driver that declares everything runs the whole suite
with no skip at all. The ``requires(...)`` gate only skips tests that
exercise a capability the driver leaves out (their refusal is asserted by the
two-way test); ``lacks(...)`` remains for authors' own negative tests. No
test passes by returning early.

Kept private; authors use :class:`~edgebind.testing.kv.KVContract`,
:class:`~edgebind.testing.d1.D1Contract` and
:class:`~edgebind.testing.vectorize.VectorizeContract`.
"""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, ClassVar, TypeVar

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from edgebind.capabilities import D1Capabilities, KVCapabilities, VectorizeCapabilities
from edgebind.drivers import Driver
from edgebind.errors import EdgebindError
from edgebind.resource import Clock, Kind, Resource, ResourceSpec
from edgebind.testing.clock import FakeClock

__all__ = ["ContractBase", "ResourceOpener", "asyncio_contract", "unique_name"]

logger = logging.getLogger(__name__)

AnyCapabilities = KVCapabilities | D1Capabilities | VectorizeCapabilities
C = TypeVar("C", bound=type)


def unique_name(prefix: str = "ct") -> str:
    """A resource name valid per ``^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$``."""
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def asyncio_contract(cls: C) -> C:
    """Mark every ``async def test_*`` of ``cls`` with ``pytest.mark.asyncio``.

    Marking the functions (not the class) lets sync tests such as the
    Hypothesis state machine live in the same class without pytest-asyncio
    warning about them, and makes the suite work in pytest-asyncio's default
    strict mode, so a third party needs no ``asyncio_mode`` setting.
    """
    for name, member in list(vars(cls).items()):
        if name.startswith("test_") and inspect.iscoroutinefunction(member):
            setattr(cls, name, pytest.mark.asyncio(loop_scope="function")(member))
    return cls


def capabilities_of(driver: Driver, kind: Kind) -> AnyCapabilities | None:
    """The capabilities the driver class declares for ``kind``, if any."""
    declared: AnyCapabilities | None = getattr(driver, f"{kind}_capabilities", None)
    return declared


class ResourceOpener:
    """Opens resources with fresh unique names and closes them at teardown."""

    def __init__(self, driver: Driver, kind: Kind) -> None:
        self.driver = driver
        self.kind = kind
        self._opened: list[Resource] = []

    def open(self, name: str | None = None, **options: object) -> Resource:
        """Open a resource without provisioning it (no I/O)."""
        spec = ResourceSpec(
            kind=self.kind,
            name=name or unique_name(),
            binding=f"CONTRACT_{self.kind.upper()}",
            options=dict(options),
        )
        opener: Callable[[ResourceSpec], Resource] = getattr(
            self.driver, f"open_{self.kind}"
        )
        resource = opener(spec)
        self._opened.append(resource)
        return resource

    async def provisioned(self, name: str | None = None, **options: object) -> Any:
        """Open a resource and run ``provision()`` on it, as the suite always
        does before using one."""
        resource = self.open(name, **options)
        await resource.provision()
        return resource

    async def aclose_all(self) -> None:
        for resource in reversed(self._opened):
            try:
                await resource.aclose()
            except EdgebindError:
                logger.exception("closing contract resource %s failed", resource.name)
        self._opened.clear()


class ContractBase:
    """Base of the contract classes. Subclasses provide one ``driver`` fixture.

    ``kind`` says which resource kind the class tests; ``capability_class`` is
    the capabilities dataclass for that kind.
    """

    kind: ClassVar[Kind]
    capability_class: ClassVar[type[AnyCapabilities]]

    #: Hypothesis budget for the class's state machine, if it has one;
    #: kept small so the whole suite runs in seconds. Raise it for a soak run.
    stateful_settings: ClassVar[settings] = settings(
        max_examples=25,
        stateful_step_count=30,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )

    @pytest.fixture
    def clock(self) -> FakeClock:
        """The clock the ``driver`` fixture must pass to the driver."""
        return FakeClock()

    @pytest.fixture
    def driver(self) -> Driver:
        pytest.fail(
            f"{type(self).__name__} must define a `driver` fixture that yields "
            "a fresh edgebind.Driver built with the suite's `clock` fixture; "
            "see the edgebind.testing docs",
            pytrace=False,
        )

    def make_driver(self, template: Driver, clock: Clock) -> Driver:
        """A second driver like ``template`` but on ``clock``.

        Tests that must own a driver (the Hypothesis state machine runs in
        its own event loop; the lifecycle test closes one) build it here from
        the ``driver`` fixture's class and URL, so authors still write one
        fixture. Override this only if your driver's constructor needs more
        than ``(url, *, clock)``.
        """
        return type(template)(template.url, clock=clock)

    @pytest_asyncio.fixture(loop_scope="function")
    async def opener(self, driver: Driver) -> AsyncIterator[ResourceOpener]:
        opener = ResourceOpener(driver, self.kind)
        yield opener
        await opener.aclose_all()

    @pytest_asyncio.fixture(loop_scope="function")
    async def declared(self, driver: Driver) -> AnyCapabilities:
        """The capabilities the driver declares for this class's kind."""
        if self.kind not in type(driver).kinds:
            pytest.fail(
                f"driver {type(driver).name} does not list {self.kind!r} in its "
                f"kinds {sorted(type(driver).kinds)}, yet a {self.kind} contract "
                "runs against it",
                pytrace=False,
            )
        declared = capabilities_of(driver, self.kind)
        if declared is None:
            declared = await self._runtime_capabilities(driver)
        assert isinstance(declared, self.capability_class), (
            f"{self.kind}_capabilities must be a {self.capability_class.__name__}"
        )
        return declared

    async def _runtime_capabilities(self, driver: Driver) -> AnyCapabilities:
        opener = ResourceOpener(driver, self.kind)
        try:
            resource = opener.open(None, **self.probe_options())
            caps: AnyCapabilities = resource.capabilities  # type: ignore[attr-defined]
            return caps
        finally:
            await opener.aclose_all()

    def probe_options(self) -> dict[str, object]:
        """Options for a resource opened only to read its class attributes."""
        return {}

    @pytest_asyncio.fixture(autouse=True, loop_scope="function")
    async def _edgebind_capability_gate(
        self, request: pytest.FixtureRequest, declared: AnyCapabilities
    ) -> None:
        """Skip, naming the capability, a test exercising what the driver
        leaves out; its refusal is asserted by the two-way honesty tests."""
        for marker in request.node.iter_markers("requires"):
            for flag in marker.args:
                if not getattr(declared, flag):
                    pytest.skip(
                        f"driver does not declare {self.kind} capability {flag!r}"
                    )
            for flag, wanted in marker.kwargs.items():
                actual = getattr(declared, flag)
                if actual != wanted:
                    pytest.skip(
                        f"test needs {self.kind} capability {flag}={wanted!r}; "
                        f"driver declares {actual!r}"
                    )
        for marker in request.node.iter_markers("lacks"):
            for flag in marker.args:
                if getattr(declared, flag):
                    pytest.skip(
                        f"negative test for {self.kind} capability {flag!r}, "
                        "which the driver declares"
                    )
