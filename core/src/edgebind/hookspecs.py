"""Hook specifications: what a plugin may implement.

Implement a hook with a module-level function decorated ``@edgebind.hookimpl``
and expose the module through the ``edgebind`` entry-point group.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from edgebind.drivers import Driver

PROJECT = "edgebind"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)

RegisterDriver = Callable[[type[Driver]], None]


@hookspec
def register_drivers(register: RegisterDriver) -> None:
    """Called once when plugins load; call ``register(DriverClass)`` for each
    driver the plugin provides. A scheme claimed by two drivers is an error
    naming both."""
