"""The Qdrant driver: Vectorize indexes as Qdrant collections.

URLs:

* ``qdrant://host[:port][/prefix]`` — a Qdrant server over plain HTTP
  (port 6333 unless given);
* ``qdrant+https://host[:port][/prefix]`` — the same over HTTPS;
* ``qdrant+local:///dir`` (relative to the working directory),
  ``qdrant+local:////abs/dir`` or ``qdrant+local://:memory:`` — qdrant-client's
  embedded local mode, no server needed. Only one process may use a local
  directory at a time (qdrant-client locks it); within a process every index
  on the directory shares one client.

Query parameters, all optional: ``api_key_env=NAME`` names the environment
variable holding the API key (default ``EDGEBIND_QDRANT_API_KEY``, read for
``qdrant+https`` only; over plain HTTP a key is sent only when ``api_key_env``
is given; when the default variable is unset no key is sent, when a named one
is unset the first call fails and says so), and ``timeout=SECONDS`` bounds
every request (default 10). A key never goes in the URL itself: secrets
come from the environment.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import ClassVar, Literal, TypedDict
from urllib.parse import parse_qs, urlsplit

from qdrant_client import AsyncQdrantClient

from edgebind.capabilities import VectorizeCapabilities
from edgebind.drivers import Driver
from edgebind.errors import BackendUnavailable, ResourceClosed
from edgebind.resource import Clock, Kind, ResourceSpec, system_clock
from edgebind.vectorize import VectorIndex
from edgebind_qdrant.client import MEMORY, QdrantConnection, acquire_local

logger = logging.getLogger(__name__)

__all__ = ["DEFAULT_API_KEY_ENV", "QdrantDriver", "QdrantTarget", "parse_qdrant_url"]

DEFAULT_API_KEY_ENV = "EDGEBIND_QDRANT_API_KEY"
DEFAULT_PORT = 6333
DEFAULT_TIMEOUT_SECONDS = 10
_MAX_TIMEOUT_SECONDS = 300
_KNOWN_PARAMS = ("api_key_env", "timeout")

Mode = Literal["http", "https", "local"]


@dataclass(frozen=True, slots=True)
class QdrantTarget:
    """Where a Qdrant URL points."""

    mode: Mode
    host: str = ""
    port: int = DEFAULT_PORT
    prefix: str = ""
    #: the directory (or ``:memory:``) of local mode
    location: str = ""
    api_key_env: str = DEFAULT_API_KEY_ENV
    api_key_env_explicit: bool = False
    timeout: int = DEFAULT_TIMEOUT_SECONDS

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.mode}://{host}:{self.port}"


def parse_qdrant_url(url: str) -> QdrantTarget:
    """Split a driver URL; ValueError says what is wrong and what to write."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in QdrantDriver.schemes:
        raise ValueError(
            f"{url!r} is not a Qdrant URL; use qdrant://host:port, "
            "qdrant+https://host:port or qdrant+local:///dir"
        )
    params = _parse_params(url, parts.query)
    if parts.fragment:
        raise ValueError(f"{url!r} has a '#' fragment, which means nothing here")

    if scheme == "qdrant+local":
        if parts.netloc == MEMORY:
            return QdrantTarget(mode="local", location=MEMORY, **params)
        if parts.netloc:
            raise ValueError(
                f"{url!r} names a host; a local store is a directory: write "
                "qdrant+local:///relative/dir or qdrant+local:////absolute/dir"
            )
        location = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not location:
            raise ValueError(
                f"{url!r} names no directory; write qdrant+local:///relative/dir, "
                "qdrant+local:////absolute/dir or qdrant+local://:memory:"
            )
        return QdrantTarget(mode="local", location=location, **params)

    if parts.username is not None or parts.password is not None:
        raise ValueError(
            f"{Driver.redacted(url)!r} carries credentials; put the API key in an "
            f"environment variable ({DEFAULT_API_KEY_ENV}, or the one named by "
            "?api_key_env=NAME) instead"
        )
    if not parts.hostname:
        raise ValueError(f"{url!r} names no host; write {scheme}://host:port")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError as exc:
        raise ValueError(f"{url!r} has a port that is not a number 1-65535") from exc
    mode: Mode = "https" if scheme == "qdrant+https" else "http"
    prefix = parts.path.rstrip("/")
    return QdrantTarget(
        mode=mode, host=parts.hostname, port=port, prefix=prefix, **params
    )


class _Params(TypedDict, total=False):
    api_key_env: str
    api_key_env_explicit: bool
    timeout: int


def _parse_params(url: str, query: str) -> _Params:
    raw = parse_qs(query, keep_blank_values=True, strict_parsing=False)
    unknown = sorted(set(raw) - set(_KNOWN_PARAMS))
    if unknown:
        raise ValueError(
            f"{Driver.redacted(url)!r} has unknown parameter(s) {', '.join(unknown)}; "
            f"the qdrant driver knows {', '.join(_KNOWN_PARAMS)}"
        )
    params: _Params = {}
    for name, values in raw.items():
        if len(values) != 1 or not values[0]:
            raise ValueError(f"{url!r}: give {name} exactly one non-empty value")
    if "api_key_env" in raw:
        name = raw["api_key_env"][0]
        if not name.replace("_", "").isalnum() or name[0].isdigit():
            raise ValueError(
                f"{url!r}: api_key_env={name!r} is not an environment variable name"
            )
        params["api_key_env"] = name
        params["api_key_env_explicit"] = True
    if "timeout" in raw:
        text = raw["timeout"][0]
        if not text.isdigit() or not 1 <= int(text) <= _MAX_TIMEOUT_SECONDS:
            raise ValueError(
                f"{url!r}: timeout={text!r} must be a whole number of seconds "
                f"from 1 to {_MAX_TIMEOUT_SECONDS}"
            )
        params["timeout"] = int(text)
    return params


class QdrantDriver(Driver):
    name: ClassVar[str] = "qdrant"
    schemes: ClassVar[tuple[str, ...]] = ("qdrant", "qdrant+https", "qdrant+local")
    kinds: ClassVar[frozenset[Kind]] = frozenset({"vectorize"})
    description: ClassVar[str] = (
        "Vectorize on a Qdrant server, or embedded with qdrant-client's local mode"
    )
    vectorize_capabilities: ClassVar[VectorizeCapabilities | None] = (
        VectorizeCapabilities()
    )

    def __init__(self, url: str, *, clock: Clock = system_clock) -> None:
        super().__init__(url, clock=clock)
        self.target = parse_qdrant_url(url)
        self._connection: QdrantConnection | None = None
        self._connect_lock = asyncio.Lock()
        self._closed = False
        #: whether this driver has made sure the state collection exists
        self.state_ready = False

    @classmethod
    def validate_url(cls, url: str) -> None:
        parse_qdrant_url(url)

    @property
    def display_url(self) -> str:
        """The URL for messages (never holds a secret: the key is not in it)."""
        return self.url

    def open_vectorize(self, spec: ResourceSpec) -> VectorIndex:
        from edgebind_qdrant.vectorize import QdrantVectorIndex

        return QdrantVectorIndex(spec, self)

    async def connection(self, binding: str) -> QdrantConnection:
        """The shared connection, made on first use."""
        if self._closed:
            raise ResourceClosed(
                f"the qdrant driver for {self.url} was closed; open a new runtime"
            )
        if self._connection is not None:
            return self._connection
        async with self._connect_lock:
            if self._connection is None:
                self._connection = await self._connect(binding)
            return self._connection

    async def _connect(self, binding: str) -> QdrantConnection:
        target = self.target
        if target.mode == "local":
            from edgebind_qdrant.client import backend_errors

            with backend_errors(url=self.url, binding=binding):
                handle = await asyncio.to_thread(acquire_local, target.location)
            logger.debug("opened embedded Qdrant store %s", target.location)
            return QdrantConnection(local=handle)

        # Over plain HTTP a key is sent only when the URL asks for one, so a
        # key meant for a TLS server never leaks to a local one.
        wants_key = target.mode == "https" or target.api_key_env_explicit
        api_key = os.environ.get(target.api_key_env) if wants_key else None
        api_key = api_key or None
        if api_key is None and target.api_key_env_explicit:
            raise BackendUnavailable(
                f"the environment variable {target.api_key_env}, named by "
                f"api_key_env in {self.url}, is not set; set it to the Qdrant "
                "API key",
                driver=self.name,
                binding=binding,
            )
        client = AsyncQdrantClient(
            url=target.base_url,
            prefix=target.prefix or None,
            api_key=api_key,
            timeout=target.timeout,
            # the version check runs a blocking request in a thread at start
            check_compatibility=False,
        )
        return QdrantConnection(remote=client)

    async def aclose(self) -> None:
        self._closed = True
        async with self._connect_lock:
            connection, self._connection = self._connection, None
        if connection is not None:
            await connection.aclose()
