"""The KV interface: string values under string keys, with TTL and listing.

Drivers subclass :class:`KVNamespace` and implement the underscore methods.
The public methods validate every argument against the driver's declared
:class:`~edgebind.capabilities.KVCapabilities` first, so every driver — in this
repository or a third party's — rejects the same input with the same message.
"""

from __future__ import annotations

import base64
from abc import abstractmethod
from dataclasses import dataclass, field
from typing import ClassVar

from edgebind.capabilities import MAX_KV_TTL_SECONDS, KVCapabilities
from edgebind.errors import InvalidArgument
from edgebind.resource import Clock, Resource, ResourceSpec, system_clock

__all__ = ["KVListPage", "KVNamespace", "decode_cursor", "encode_cursor"]


@dataclass(frozen=True, slots=True)
class KVListPage:
    """One page of keys; ``cursor`` is None on the last page."""

    keys: list[str] = field(default_factory=list)
    cursor: str | None = None


_CURSOR_PREFIX = "k1."


def encode_cursor(last_key: str) -> str:
    """An opaque cursor that continues strictly after ``last_key``.

    The cursor carries the key itself rather than an offset, so pages stay
    exact while other clients write: nothing before the cursor is repeated and
    nothing after it is skipped.
    """
    raw = base64.urlsafe_b64encode(last_key.encode("utf-8")).decode("ascii")
    return _CURSOR_PREFIX + raw.rstrip("=")


def decode_cursor(cursor: str) -> str:
    """The last key of the previous page; InvalidArgument for a foreign cursor."""
    if not cursor.startswith(_CURSOR_PREFIX):
        raise InvalidArgument(
            "cursor is not one this server issued; pass the cursor from the "
            "previous list response unchanged, or omit it to start over"
        )
    body = cursor[len(_CURSOR_PREFIX) :]
    try:
        padded = body + "=" * (-len(body) % 4)
        return base64.urlsafe_b64decode(padded.encode("ascii")).decode("utf-8")
    except (ValueError, UnicodeError) as exc:
        raise InvalidArgument(
            "cursor is damaged; pass the cursor from the previous list "
            "response unchanged, or omit it to start over"
        ) from exc


class KVNamespace(Resource):
    """One KV namespace. Keys list in ascending order of their UTF-8 bytes."""

    capabilities: ClassVar[KVCapabilities] = KVCapabilities()

    def __init__(self, spec: ResourceSpec, *, clock: Clock = system_clock) -> None:
        super().__init__(spec)
        self.clock = clock

    # ----------------------------------------------------------------- public

    async def get(self, key: str) -> str | None:
        """The value stored under ``key``, or None when absent or expired."""
        self._check_open()
        self._check_key(key)
        return await self._get(key)

    async def put(self, key: str, value: str, *, ttl: int | None = None) -> None:
        """Store ``value`` under ``key``; ``ttl`` in whole seconds, None for none.

        Writing without a TTL clears any earlier TTL of the key.
        """
        self._check_open()
        self._check_key(key)
        self._check_value(value)
        self._check_ttl(ttl)
        expires_at = None if ttl is None else self.clock() + ttl
        await self._put(key, value, expires_at)

    async def delete(self, key: str) -> None:
        """Remove ``key``; removing a missing key is not an error."""
        self._check_open()
        self._check_key(key)
        await self._delete(key)

    async def list(
        self,
        *,
        prefix: str = "",
        limit: int = 1000,
        cursor: str | None = None,
    ) -> KVListPage:
        """Up to ``limit`` keys starting with ``prefix``, after ``cursor``."""
        self._check_open()
        if not isinstance(prefix, str):
            raise InvalidArgument("prefix must be a string")
        max_limit = self.capabilities.max_list_limit
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise InvalidArgument(f"limit must be a whole number from 1 to {max_limit}")
        if not 1 <= limit <= max_limit:
            raise InvalidArgument(
                f"limit must be from 1 to {max_limit}, got {limit}; "
                "page through more keys with the returned cursor"
            )
        after = None if cursor is None else decode_cursor(cursor)
        return await self._list(prefix, limit, after)

    # ------------------------------------------------------- driver interface

    @abstractmethod
    async def _get(self, key: str) -> str | None:
        """Return the live value of ``key`` (expired counts as absent)."""

    @abstractmethod
    async def _put(self, key: str, value: str, expires_at: float | None) -> None:
        """Store ``value``; ``expires_at`` is an absolute clock time or None."""

    @abstractmethod
    async def _delete(self, key: str) -> None:
        """Remove ``key`` if present."""

    @abstractmethod
    async def _list(self, prefix: str, limit: int, after: str | None) -> KVListPage:
        """Live keys with ``prefix``, strictly greater than ``after`` in UTF-8
        byte order, at most ``limit`` of them. Build the page's cursor with
        :func:`encode_cursor` from the last key returned, and return no cursor
        when no live key with the prefix follows it.
        """

    # ------------------------------------------------------------- validation

    def _check_key(self, key: str) -> None:
        if not isinstance(key, str):
            raise InvalidArgument("key must be a string")
        size = _utf8_size(key, "key")
        if size == 0:
            raise InvalidArgument("key must not be empty")
        limit = self.capabilities.max_key_bytes
        if size > limit:
            raise InvalidArgument(
                f"key is {size} bytes in UTF-8; the limit is {limit} bytes"
            )

    def _check_value(self, value: str) -> None:
        if not isinstance(value, str):
            raise InvalidArgument("value must be a string")
        size = _utf8_size(value, "value")
        limit = self.capabilities.max_value_bytes
        if size > limit:
            raise InvalidArgument(
                f"value is {size} bytes in UTF-8; the limit is {limit} bytes"
            )

    def _check_ttl(self, ttl: int | None) -> None:
        if ttl is None:
            return
        if isinstance(ttl, bool) or not isinstance(ttl, int):
            raise InvalidArgument("ttl must be a whole number of seconds, or null")
        if not self.capabilities.ttl:
            raise InvalidArgument(
                f"driver {self.driver_name} does not support TTL; omit ttl"
            )
        minimum = self.capabilities.min_ttl_seconds
        if ttl < minimum:
            raise InvalidArgument(
                f"ttl must be at least {minimum} seconds on driver "
                f"{self.driver_name}, got {ttl}"
            )
        if ttl > MAX_KV_TTL_SECONDS:
            raise InvalidArgument(
                f"ttl must be at most {MAX_KV_TTL_SECONDS} seconds (100 years), "
                f"got {ttl}; omit ttl for a key that never expires"
            )


def _utf8_size(text: str, what: str) -> int:
    # Lone surrogates cannot be stored as UTF-8 by any backend.
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidArgument(
            f"{what} contains a lone surrogate and is not valid Unicode text"
        ) from exc
