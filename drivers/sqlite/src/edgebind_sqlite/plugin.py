"""Entry point of the sqlite driver (group ``edgebind``, name ``sqlite``)."""

from __future__ import annotations

from edgebind.hookspecs import RegisterDriver, hookimpl
from edgebind_sqlite.driver import SQLiteDriver


@hookimpl
def register_drivers(register: RegisterDriver) -> None:
    register(SQLiteDriver)
