"""Registers the PostgreSQL driver through the ``edgebind`` entry-point group."""

from __future__ import annotations

from edgebind.hookspecs import RegisterDriver, hookimpl
from edgebind_postgres.driver import PostgresDriver


@hookimpl
def register_drivers(register: RegisterDriver) -> None:
    register(PostgresDriver)
