"""Plugin loading and the driver registry.

Drivers, built-in ones included, are found through the ``edgebind``
entry-point group. ``EDGEBIND_LOAD_PLUGINS`` (comma-separated distribution or
entry-point names) limits which are loaded; an empty value loads none, which
tests use together with :meth:`DriverRegistry.register` to run a throwaway
driver alone.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib.metadata import entry_points
from types import ModuleType

import pluggy

from edgebind import hookspecs
from edgebind.drivers import Driver
from edgebind.errors import ConfigError

__all__ = ["DriverInfo", "DriverRegistry", "get_registry"]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "edgebind"


@dataclass(frozen=True, slots=True)
class DriverInfo:
    name: str
    schemes: tuple[str, ...]
    kinds: tuple[str, ...]
    plugin: str
    description: str


class DriverRegistry:
    """Maps URL schemes to driver classes."""

    def __init__(self) -> None:
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._by_scheme: dict[str, type[Driver]] = {}
        self._plugin_of: dict[str, str] = {}
        self._loaded = False

    def load_entry_points(self) -> None:
        """Load every allowed plugin of the entry-point group, once."""
        if self._loaded:
            return
        self._loaded = True
        allowed = _allowed_plugins()
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else ""
            if allowed is not None and ep.name not in allowed and dist not in allowed:
                logger.debug(
                    "Skipping plugin %s: not in EDGEBIND_LOAD_PLUGINS.", ep.name
                )
                continue
            if self.plugin_manager.has_plugin(ep.name):
                continue
            try:
                module = ep.load()
            except Exception as exc:
                raise ConfigError(
                    f"plugin {ep.name!r} ({ep.value}) failed to import: {exc}",
                    source="plugins",
                ) from exc
            self.add_plugin(module, name=ep.name)

    def add_plugin(self, plugin: ModuleType | object, *, name: str) -> None:
        """Register a plugin object (a module with hook implementations)."""
        self.plugin_manager.register(plugin, name=name)
        self.plugin_manager.check_pending()

        def register(driver: type[Driver]) -> None:
            self.register(driver, plugin=name)

        hook = self.plugin_manager.subset_hook_caller(
            "register_drivers",
            remove_plugins=[
                p for p in self.plugin_manager.get_plugins() if p is not plugin
            ],
        )
        hook(register=register)

    def register(self, driver: type[Driver], *, plugin: str = "direct") -> None:
        """Register one driver class; a scheme may belong to one driver only."""
        for attribute in ("name", "schemes", "kinds"):
            if not hasattr(driver, attribute):
                raise ConfigError(
                    f"driver class {driver.__qualname__} from plugin {plugin!r} "
                    f"does not set the class attribute {attribute!r}",
                    source="plugins",
                )
        for scheme in driver.schemes:
            owner = self._by_scheme.get(scheme)
            if owner is not None and owner is not driver:
                raise ConfigError(
                    f"URL scheme {scheme!r} is claimed by driver {owner.name!r} "
                    f"(plugin {self._plugin_of[scheme]!r}) and by driver "
                    f"{driver.name!r} (plugin {plugin!r}); uninstall one of them",
                    source="plugins",
                )
            self._by_scheme[scheme] = driver
            self._plugin_of[scheme] = plugin
        logger.debug("Registered driver %s for %s.", driver.name, driver.schemes)

    def unregister(self, driver: type[Driver]) -> None:
        for scheme in [s for s, d in self._by_scheme.items() if d is driver]:
            del self._by_scheme[scheme]
            del self._plugin_of[scheme]

    def schemes(self) -> list[str]:
        self.load_entry_points()
        return sorted(self._by_scheme)

    def for_url(self, url: str) -> type[Driver]:
        """The driver class serving ``url``; ConfigError naming the installed
        schemes when none does."""
        self.load_entry_points()
        scheme, sep, _ = url.partition("://")
        if not sep or not scheme:
            # The value is not echoed: a mistyped URL may still hold a password.
            raise ConfigError(
                "the binding URL has no scheme; write it as scheme://..., "
                f"with one of the installed schemes: {self._scheme_list()}"
            )
        driver = self._by_scheme.get(scheme.lower())
        if driver is None:
            raise ConfigError(
                f"no installed driver serves the URL scheme {scheme!r}; "
                f"installed schemes: {self._scheme_list()}. Install the driver "
                "package that provides it, or fix the URL"
            )
        return driver

    def drivers(self) -> list[DriverInfo]:
        self.load_entry_points()
        seen: dict[type[Driver], DriverInfo] = {}
        for scheme, driver in sorted(self._by_scheme.items()):
            if driver not in seen:
                seen[driver] = DriverInfo(
                    name=driver.name,
                    schemes=tuple(driver.schemes),
                    kinds=tuple(sorted(driver.kinds)),
                    plugin=self._plugin_of[scheme],
                    description=driver.description,
                )
        return sorted(seen.values(), key=lambda info: info.name)

    def _scheme_list(self) -> str:
        return ", ".join(sorted(self._by_scheme)) or "(none)"


def _allowed_plugins() -> set[str] | None:
    raw = os.environ.get("EDGEBIND_LOAD_PLUGINS")
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


_registry: DriverRegistry | None = None


def get_registry() -> DriverRegistry:
    """The process-wide registry, created on first use."""
    global _registry
    if _registry is None:
        _registry = DriverRegistry()
    return _registry
