"""Registers the Qdrant driver through the ``edgebind`` entry-point group."""

from __future__ import annotations

import logging

from edgebind.hookspecs import RegisterDriver, hookimpl
from edgebind_qdrant.driver import QdrantDriver

logger = logging.getLogger(__name__)


@hookimpl
def register_drivers(register: RegisterDriver) -> None:
    register(QdrantDriver)
