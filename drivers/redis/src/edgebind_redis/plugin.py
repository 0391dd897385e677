"""Registers the Redis driver with Edgebind's plugin manager."""

from __future__ import annotations

from edgebind.hookspecs import RegisterDriver, hookimpl
from edgebind_redis.driver import RedisDriver


@hookimpl
def register_drivers(register: RegisterDriver) -> None:
    register(RedisDriver)
