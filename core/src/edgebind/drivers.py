"""The driver contract: one object per binding URL that opens resources.

A driver package defines a :class:`Driver` subclass and registers it from a
pluggy hook (see :mod:`edgebind.hookspecs`)::

    from edgebind import Driver, hookimpl

    class MemcacheDriver(Driver):
        name = "memcache"
        schemes = ("memcache",)
        kinds = frozenset({"kv"})

        def open_kv(self, spec): ...

    @hookimpl
    def register_drivers(register):
        register(MemcacheDriver)

and points the ``edgebind`` entry-point group at that module. The runtime makes
one driver instance per distinct URL, so every resource bound to the same
server shares one connection pool.
"""

from __future__ import annotations

import re
from typing import ClassVar
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit

from edgebind.capabilities import D1Capabilities, KVCapabilities, VectorizeCapabilities
from edgebind.d1 import D1Database
from edgebind.errors import NotSupported
from edgebind.kv import KVNamespace
from edgebind.resource import Clock, Kind, ResourceSpec, system_clock
from edgebind.vectorize import VectorIndex

__all__ = ["Driver"]

#: Query parameter names whose values are never shown (``?password=``,
#: ``?api_key=``, ``?sslpassword=``, ``?token=``; not ``?api_key_env=``,
#: which names a variable rather than holding a secret).
_SECRET_PARAM = re.compile(r"(password|secret|token|api_?key)$", re.IGNORECASE)


class Driver:
    """Base class of every driver.

    Class attributes declare what the driver is; instances hold the
    connection state for one URL. ``open_*`` must not perform I/O: connect
    lazily on first use, so that a server starts even while a backend is
    down and recovers when it comes back.
    """

    #: stable id shown by ``edgebind drivers`` and in error messages
    name: ClassVar[str]
    #: URL schemes this driver serves, without ``://``
    schemes: ClassVar[tuple[str, ...]]
    #: resource kinds it can open
    kinds: ClassVar[frozenset[Kind]]
    #: one-line description for ``edgebind drivers``
    description: ClassVar[str] = ""

    kv_capabilities: ClassVar[KVCapabilities | None] = None
    d1_capabilities: ClassVar[D1Capabilities | None] = None
    vectorize_capabilities: ClassVar[VectorizeCapabilities | None] = None

    def __init__(self, url: str, *, clock: Clock = system_clock) -> None:
        self.url = url
        self.clock = clock

    @property
    def parsed_url(self) -> SplitResult:
        return urlsplit(self.url)

    @classmethod
    def validate_url(cls, url: str) -> None:
        """Raise ValueError with a helpful message when ``url`` is malformed.

        Called while the config is checked, before anything is opened.
        """

    def open_kv(self, spec: ResourceSpec) -> KVNamespace:
        raise NotSupported(f"driver {self.name} does not serve KV namespaces")

    def open_d1(self, spec: ResourceSpec) -> D1Database:
        raise NotSupported(f"driver {self.name} does not serve D1 databases")

    def open_vectorize(self, spec: ResourceSpec) -> VectorIndex:
        raise NotSupported(f"driver {self.name} does not serve Vectorize indexes")

    async def aclose(self) -> None:
        """Release pools and files shared by this driver's resources."""

    @staticmethod
    def redacted(url: str) -> str:
        """``url`` with any password replaced, for logs and messages: the
        one in the authority and any secret-looking query parameter."""
        parts = urlsplit(url)
        if parts.password is not None:
            netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
            parts = parts._replace(netloc=netloc)
        if parts.query:
            query = [
                (name, "***" if _SECRET_PARAM.search(name) else value)
                for name, value in parse_qsl(parts.query, keep_blank_values=True)
            ]
            parts = parts._replace(query=urlencode(query, safe="*"))
        return parts.geturl()
