"""The Redis driver: one connection pool per binding URL, serving KV.

The pool is created on first use, never in ``open_kv``, so a server starts
while Redis is down. Every failure to reach Redis becomes
:class:`~edgebind.errors.BackendUnavailable`; nothing is cached about the
failure, so the next call simply tries again and succeeds once Redis is back.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.connection import parse_url
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from edgebind.capabilities import KVCapabilities
from edgebind.drivers import Driver
from edgebind.errors import BackendUnavailable
from edgebind.kv import KVNamespace
from edgebind.resource import Clock, ResourceSpec, system_clock

__all__ = ["LuaScript", "RedisDriver"]

logger = logging.getLogger(__name__)

#: Bounded so that a dead or stalled Redis fails a request within seconds
#: instead of hanging it. Query options in the URL (``?socket_timeout=1``)
#: take precedence, as redis-py applies them last.
CONNECT_TIMEOUT_SECONDS = 2.0
SOCKET_TIMEOUT_SECONDS = 5.0
#: An idle pooled connection is PINGed before reuse after this long, so a
#: connection broken by a Redis restart is replaced before it fails a call.
HEALTH_CHECK_INTERVAL_SECONDS = 15
#: Connections per driver. A burst of requests beyond it waits for a free
#: connection (up to the wait below) instead of failing or opening thousands.
POOL_SIZE = 64
POOL_WAIT_SECONDS = 5.0

# One quick retry replaces a pooled connection that died while idle (Redis
# restarted); more retries would only delay the 503 while Redis is down.
_RETRY_COUNT = 1
_RETRY_BACKOFF = ExponentialBackoff(cap=0.2, base=0.05)


@dataclass(frozen=True)
class LuaScript:
    """A Lua script run with EVALSHA, loaded again whenever Redis forgot it."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        # SHA-1 is what Redis names scripts by; it is no security measure here.
        digest = hashlib.sha1(self.source.encode("utf-8"), usedforsecurity=False)
        object.__setattr__(self, "sha", digest.hexdigest())


class RedisDriver(Driver):
    """KV namespaces on one Redis server (``redis://`` or ``rediss://``)."""

    name = "redis"
    schemes = ("redis", "rediss")
    kinds = frozenset({"kv"})
    description = "KV on a Redis server (redis://host:port/db, rediss:// for TLS)"

    kv_capabilities: ClassVar[KVCapabilities | None] = KVCapabilities()

    def __init__(self, url: str, *, clock: Clock = system_clock) -> None:
        super().__init__(url, clock=clock)
        self._redis: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Whether the last call reached Redis; only used to log each outage
        # and each recovery once instead of once per request.
        self._reachable = True

    @classmethod
    def validate_url(cls, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme.lower() not in cls.schemes:
            raise ValueError(
                f"the redis driver serves redis:// and rediss:// URLs, not "
                f"{parts.scheme or '(no scheme)'}://"
            )
        if not parts.hostname:
            raise ValueError(
                "the Redis URL names no host; write it as redis://host:port/db, "
                "for example redis://127.0.0.1:6379/0"
            )
        try:
            parts.port  # noqa: B018 - reading it validates the port
        except ValueError as exc:
            raise ValueError(
                f"the Redis URL has an invalid port ({exc}); write a number "
                "from 1 to 65535 after the host, as in redis://127.0.0.1:6379/0"
            ) from exc
        database = parts.path.strip("/")
        if database and not (database.isdigit() and database.isascii()):
            raise ValueError(
                f"the Redis URL path must be a database number, got "
                f"{parts.path!r}; write redis://host:port/0 for database 0"
            )
        try:
            parse_url(url)
        except ValueError as exc:
            raise ValueError(
                f"the Redis URL has an invalid query option: {exc}"
            ) from exc

    def open_kv(self, spec: ResourceSpec) -> KVNamespace:
        from edgebind_redis.kv import RedisKVNamespace

        return RedisKVNamespace(spec, driver=self, clock=self.clock)

    async def aclose(self) -> None:
        client, self._redis = self._redis, None
        if client is not None:
            await client.aclose()

    # ------------------------------------------------------ for the resources

    def client(self) -> Redis:
        """The driver's client; its pool is created here, on first use."""
        loop = asyncio.get_running_loop()
        if self._redis is not None and self._loop is not loop:
            # Pooled connections belong to the event loop that opened them;
            # a driver used from a new loop (a CLI running asyncio.run twice)
            # gets a new pool rather than errors about a closed loop.
            logger.debug("Event loop changed; opening a new Redis pool.")
            self._redis = None
        if self._redis is None:
            self._loop = loop
            pool = BlockingConnectionPool.from_url(
                self.url,
                max_connections=POOL_SIZE,
                timeout=POOL_WAIT_SECONDS,
                socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
                socket_timeout=SOCKET_TIMEOUT_SECONDS,
                health_check_interval=HEALTH_CHECK_INTERVAL_SECONDS,
                retry=Retry(_RETRY_BACKOFF, _RETRY_COUNT),
                decode_responses=False,
            )
            # from_pool hands the pool to the client, so aclose() closes both.
            self._redis = Redis.from_pool(pool)
        return self._redis

    async def run_script(
        self,
        script: LuaScript,
        keys: Sequence[bytes],
        args: Sequence[bytes | str | int | float],
        *,
        binding: str,
    ) -> Any:
        """Run ``script`` atomically; BackendUnavailable when Redis fails."""
        client = self.client()
        try:
            try:
                result = await client.evalsha(script.sha, len(keys), *keys, *args)
            except NoScriptError:
                # A restarted or flushed Redis has forgotten the script.
                await client.script_load(script.source)
                result = await client.evalsha(script.sha, len(keys), *keys, *args)
        except (RedisError, OSError) as exc:
            raise self.unavailable(exc, binding=binding) from exc
        self._mark_reachable()
        return result

    async def ping(self, *, binding: str) -> None:
        try:
            await self.client().ping()
        except (RedisError, OSError) as exc:
            raise self.unavailable(exc, binding=binding) from exc
        self._mark_reachable()

    def unavailable(self, exc: BaseException, *, binding: str) -> BackendUnavailable:
        """The BackendUnavailable to raise for ``exc``, logged once per outage."""
        where = self.redacted(self.url)
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
            message = (
                f"cannot reach Redis at {where}: {exc}; check that the server is "
                "running and the URL is right"
            )
        else:
            message = f"Redis at {where} refused the command: {exc}"
        if self._reachable:
            logger.warning("Redis at %s is unavailable: %s", where, exc)
        self._reachable = False
        return BackendUnavailable(message, driver=self.name, binding=binding)

    def _mark_reachable(self) -> None:
        if not self._reachable:
            logger.info("Redis at %s is reachable again.", self.redacted(self.url))
        self._reachable = True
