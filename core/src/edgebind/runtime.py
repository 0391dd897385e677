"""The runtime: a config brought to life in one environment.

Building a :class:`Runtime` resolves every binding's URL, checks that an
installed driver serves it, and opens every resource — without any I/O, so a
server starts even while a backend is down. Every mistake in that chain is a
:class:`~edgebind.errors.ConfigError` naming the binding, raised at start-up
rather than at the first request.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType

from edgebind.config import KIND_LABELS, Binding, EdgebindConfig, resolve_bindings
from edgebind.d1 import D1Database
from edgebind.drivers import Driver
from edgebind.errors import ConfigError, EdgebindError, NotFound, ProvisionError
from edgebind.keys import KeyRing
from edgebind.kv import KVNamespace
from edgebind.plugins import DriverRegistry, get_registry
from edgebind.resource import (
    Clock,
    Kind,
    ProvisionOutcome,
    ProvisionStatus,
    Resource,
    system_clock,
)
from edgebind.vectorize import VectorIndex

__all__ = ["HEALTH_TIMEOUT_SECONDS", "BindingHealth", "Runtime"]

logger = logging.getLogger(__name__)

HEALTH_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class BindingHealth:
    """Whether one binding's backend answered; ``error`` says why not."""

    binding: str
    kind: Kind
    name: str
    driver: str
    ok: bool
    error: str | None = None


class Runtime:
    """Every declared resource of ``config``, opened in ``env_name``."""

    def __init__(
        self,
        config: EdgebindConfig,
        env_name: str = "dev",
        *,
        registry: DriverRegistry | None = None,
        environ: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
        keyring: KeyRing | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.config = config
        self.env_name = env_name
        self.clock = clock
        self._source = str(config.source_path) if config.source_path else None
        self._closed = False

        self.bindings: list[Binding] = resolve_bindings(config, env_name, environ)
        if keyring is None:
            keyring = KeyRing.from_config(
                config, env_name, environ=environ, clock=clock
            )
        self.keyring: KeyRing = keyring

        registry = registry or get_registry()
        driver_classes = [self._driver_class(registry, b) for b in self.bindings]

        # One driver per distinct URL, so resources on one server share a pool.
        self._drivers: dict[str, Driver] = {}
        self._driver_of: dict[str, Driver] = {}
        self._resources: dict[tuple[Kind, str], Resource] = {}
        for binding, driver_class in zip(self.bindings, driver_classes, strict=True):
            driver = self._drivers.get(binding.url)
            if driver is None:
                driver = driver_class(binding.url, clock=clock)
                self._drivers[binding.url] = driver
            self._driver_of[binding.binding] = driver
            self._resources[(binding.kind, binding.name)] = self._open(driver, binding)

    # ------------------------------------------------------------- building

    def _driver_class(self, registry: DriverRegistry, binding: Binding) -> type[Driver]:
        where = binding.origin_field or binding.binding
        try:
            driver_class = registry.for_url(binding.url)
        except ConfigError as exc:
            raise ConfigError(
                f"binding {binding.binding} (from {binding.origin}): {exc.detail}",
                source=self._source,
                field=where,
            ) from None

        if binding.kind not in driver_class.kinds:
            raise ConfigError(
                f"binding {binding.binding} is a {KIND_LABELS[binding.kind]}, but "
                f"its URL {binding.display_url} (from {binding.origin}) goes to "
                f"driver {driver_class.name}, which serves only "
                f"{', '.join(sorted(driver_class.kinds)) or 'nothing'}; bind it to "
                "a driver that serves that kind",
                source=self._source,
                field=where,
            )

        try:
            driver_class.validate_url(binding.url)
        except ValueError as exc:
            raise ConfigError(
                f"binding {binding.binding}: the URL {binding.display_url} (from "
                f"{binding.origin}) is not valid for driver {driver_class.name}: "
                f"{exc}",
                source=self._source,
                field=where,
            ) from None
        return driver_class

    def _open(self, driver: Driver, binding: Binding) -> Resource:
        expected: type[Resource]
        try:
            if binding.kind == "kv":
                resource: Resource = driver.open_kv(binding.spec)
                expected = KVNamespace
            elif binding.kind == "d1":
                resource = driver.open_d1(binding.spec)
                expected = D1Database
            else:
                resource = driver.open_vectorize(binding.spec)
                expected = VectorIndex
        except (EdgebindError, ValueError) as exc:
            message = exc.message if isinstance(exc, EdgebindError) else str(exc)
            raise ConfigError(
                f"binding {binding.binding}: driver {driver.name} could not open "
                f"{KIND_LABELS[binding.kind]} {binding.name!r}: {message}",
                source=self._source,
                field=f"{binding.kind}.{binding.name}",
            ) from exc

        if not isinstance(resource, expected):
            raise ConfigError(
                f"binding {binding.binding}: driver {driver.name} returned a "
                f"{type(resource).__name__}, not a {expected.__name__}; this is a "
                "bug in the driver",
                source=self._source,
                field=f"{binding.kind}.{binding.name}",
            )
        return resource

    # --------------------------------------------------------------- access

    def resource(self, kind: Kind, name: str) -> Resource | None:
        """The declared resource, or None when ``name`` is not declared."""
        return self._resources.get((kind, name))

    def kv(self, name: str) -> KVNamespace:
        resource = self._declared("kv", name)
        assert isinstance(resource, KVNamespace)  # checked when opened
        return resource

    def d1(self, name: str) -> D1Database:
        resource = self._declared("d1", name)
        assert isinstance(resource, D1Database)
        return resource

    def vectorize(self, name: str) -> VectorIndex:
        resource = self._declared("vectorize", name)
        assert isinstance(resource, VectorIndex)
        return resource

    def _declared(self, kind: Kind, name: str) -> Resource:
        resource = self._resources.get((kind, name))
        if resource is None:
            raise NotFound(f"no {KIND_LABELS[kind]} named {name!r} is declared")
        return resource

    def driver_for(self, binding: str) -> Driver:
        """The driver instance serving the binding named ``binding``."""
        try:
            return self._driver_of[binding]
        except KeyError:
            raise NotFound(f"no binding named {binding!r} is declared") from None

    # ----------------------------------------------------------- operations

    async def provision(
        self, dry_run: bool = False
    ) -> list[tuple[Binding, ProvisionOutcome]]:
        """Create each resource that is missing and reuse those that exist.

        With ``dry_run`` nothing changes: each resource reports what
        provisioning would do (see :meth:`Resource.inspect`). Resources are
        handled one at a time in declaration order. A resource that exists
        with other settings is reported as ``MISMATCHED`` with the driver's
        explanation, so one run shows the state of every binding; any other
        error (BackendUnavailable, ...) propagates.
        """
        outcomes = []
        for binding in self.bindings:
            resource = self._resources[(binding.kind, binding.name)]
            try:
                if dry_run:
                    outcome = await resource.inspect()
                else:
                    outcome = await resource.provision()
            except ProvisionError as exc:
                outcome = ProvisionOutcome(ProvisionStatus.MISMATCHED, exc.message)
            logger.info(
                "%s %s %s: %s %s",
                "Would provision" if dry_run else "Provisioned",
                KIND_LABELS[binding.kind],
                binding.name,
                outcome.status.value,
                outcome.detail,
            )
            outcomes.append((binding, outcome))
        return outcomes

    async def health(
        self, seconds_each: float = HEALTH_TIMEOUT_SECONDS
    ) -> list[BindingHealth]:
        """Ping every resource at once, each with ``seconds_each`` to answer."""
        checks = (self._check(binding, seconds_each) for binding in self.bindings)
        return list(await asyncio.gather(*checks))

    async def _check(self, binding: Binding, seconds: float) -> BindingHealth:
        resource = self._resources[(binding.kind, binding.name)]
        driver = self._driver_of[binding.binding].name
        error: str | None = None
        try:
            await asyncio.wait_for(resource.ping(), seconds)
        except TimeoutError:
            error = f"no answer within {seconds:g} s"
        except EdgebindError as exc:
            error = exc.message
        except Exception as exc:
            # A driver that lets a backend exception escape is buggy, but the
            # health report must still come back.
            logger.warning(
                "Driver %s raised %s while pinging binding %s.",
                driver,
                type(exc).__name__,
                binding.binding,
            )
            error = f"{type(exc).__name__}: {exc}"
        return BindingHealth(
            binding=binding.binding,
            kind=binding.kind,
            name=binding.name,
            driver=driver,
            ok=error is None,
            error=error,
        )

    async def aclose(self) -> None:
        """Close every resource, then every driver; safe to call twice."""
        if self._closed:
            return
        self._closed = True

        resource_results = await asyncio.gather(
            *(resource.aclose() for resource in self._resources.values()),
            return_exceptions=True,
        )
        driver_results = await asyncio.gather(
            *(driver.aclose() for driver in self._drivers.values()),
            return_exceptions=True,
        )
        failures = [("resource", r) for r in resource_results]
        failures += [("driver", r) for r in driver_results]
        for what, result in failures:
            if isinstance(result, BaseException):
                logger.warning(
                    "Closing a %s failed with %s: %s",
                    what,
                    type(result).__name__,
                    result,
                )

    async def __aenter__(self) -> Runtime:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()
