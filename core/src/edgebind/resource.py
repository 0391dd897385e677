"""What every resource shares: its declared identity, provisioning, closing."""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from edgebind.errors import ResourceClosed

__all__ = [
    "Clock",
    "Kind",
    "ProvisionOutcome",
    "ProvisionStatus",
    "Resource",
    "ResourceSpec",
    "system_clock",
]

Kind = Literal["kv", "d1", "vectorize"]

#: A function returning the current time in seconds since the epoch. Drivers
#: read time only through one, so tests can move TTLs forward without sleeping.
Clock = Callable[[], float]


def system_clock() -> float:
    return time.time()


@dataclass(frozen=True, slots=True)
class ResourceSpec:
    """The declared identity of one resource, as a driver receives it.

    ``name`` is the resource's declared name (``cache``), which the driver
    uses to keep its data apart from every other resource's; ``binding`` is
    the binding name (``CACHE_KV``) used in messages; ``options`` holds the
    kind-specific settings (``dimensions`` and ``metric`` for Vectorize).
    """

    kind: Kind
    name: str
    binding: str
    options: dict[str, object] = field(default_factory=dict)


class ProvisionStatus(enum.Enum):
    CREATED = "created"
    REUSED = "reused"
    MISMATCHED = "mismatched"
    #: only from :meth:`Resource.inspect`: the driver cannot tell without
    #: changing something
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class ProvisionOutcome:
    """What ``provision()`` found or did; ``detail`` explains a mismatch."""

    status: ProvisionStatus
    detail: str = ""


class Resource:
    """Base of the three resource interfaces.

    Subclasses call ``_check_open()`` at the top of every public operation.
    ``aclose()`` is idempotent; use after it raises :class:`ResourceClosed`.
    """

    driver_name: str = "unknown"

    def __init__(self, spec: ResourceSpec) -> None:
        self.spec = spec
        self._closed = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def binding(self) -> str:
        return self.spec.binding

    def _check_open(self) -> None:
        if self._closed:
            raise ResourceClosed(
                f"{self.spec.kind} resource {self.spec.name!r} was used after "
                "aclose(); open a new one from the runtime"
            )

    async def provision(self) -> ProvisionOutcome:
        """Create the backing storage if missing; reuse it unchanged if present.

        Drivers whose storage appears on first use return ``REUSED`` or
        ``CREATED`` as they find it. Must be safe to run any number of times.
        """
        self._check_open()
        return await self._provision()

    async def _provision(self) -> ProvisionOutcome:
        return ProvisionOutcome(ProvisionStatus.REUSED, "created on first use")

    async def inspect(self) -> ProvisionOutcome:
        """What :meth:`provision` would do, changing nothing (``--dry-run``).

        ``CREATED`` here means "would be created". Drivers that override
        ``_provision`` should override ``_inspect`` too; until they do, the
        answer is ``UNKNOWN``.
        """
        self._check_open()
        return await self._inspect()

    async def _inspect(self) -> ProvisionOutcome:
        if type(self)._provision is Resource._provision:
            return await self._provision()
        return ProvisionOutcome(
            ProvisionStatus.UNKNOWN,
            f"driver {self.driver_name} cannot tell without changing anything",
        )

    async def ping(self) -> None:
        """Raise :class:`BackendUnavailable` if the backend cannot be reached."""
        self._check_open()
        await self._ping()

    async def _ping(self) -> None:
        return None

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._aclose()

    async def _aclose(self) -> None:
        return None
