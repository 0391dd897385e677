"""Admin clients for an Edgebind (or EdgeBase) server's native-resource API.

The calls mirror EdgeBase's Python admin SDK, so code written for it moves over
by changing one import::

    from edgebind.client import AdminClient

    with AdminClient("http://127.0.0.1:8787", service_key) as admin:
        admin.kv("cache").set("greeting", "hello", ttl=300)
        rows = admin.d1("main").exec("SELECT ? AS answer", [42])
        matches = admin.vector("embeddings").search([0.1, 0.2, 0.3], top_k=5)

:class:`AsyncAdminClient` offers the same calls as coroutines. Both build their
requests with the same code (the ``_*Requests`` classes below); only the
sending differs. Every failure — an error status from the server, or no
answer at all — raises :class:`EdgebindAPIError`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx

from edgebind.errors import EdgebindError

__all__ = [
    "AdminClient",
    "AsyncAdminClient",
    "AsyncD1Client",
    "AsyncKVClient",
    "AsyncVectorizeClient",
    "D1Client",
    "EdgebindAPIError",
    "KVClient",
    "VectorizeClient",
]

logger = logging.getLogger(__name__)

SERVICE_KEY_HEADER = "X-EdgeBase-Service-Key"
DEFAULT_TIMEOUT = 30.0

T = TypeVar("T")
JSONObject = dict[str, Any]


class EdgebindAPIError(EdgebindError):
    """The server answered with an error status, or did not answer at all.

    ``status`` is the HTTP status code, or 0 when no response arrived (the
    server could not be reached or the request timed out); ``message`` is the
    server's explanation or the transport's.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        label = f"HTTP {self.status}" if self.status else "no response"
        return f"{label}: {self.message}"

    def __reduce__(self) -> tuple[type[EdgebindAPIError], tuple[int, str]]:
        return (type(self), (self.status, self.message))


@dataclass(frozen=True, slots=True)
class _Call(Generic[T]):
    """One request to send and how to turn its JSON answer into a result."""

    path: str
    body: JSONObject
    unpack: Callable[[JSONObject], T]


def _resource_path(kind: str, name: str) -> str:
    return f"/api/{kind}/{quote(name, safe='')}"


def _optional(body: JSONObject, **fields: Any) -> JSONObject:
    """``body`` plus every field whose value is not None."""
    body.update({key: value for key, value in fields.items() if value is not None})
    return body


def _field(name: str, default: Any) -> Callable[[JSONObject], Any]:
    return lambda answer: answer.get(name, default)


def _whole(answer: JSONObject) -> JSONObject:
    return answer


def _nothing(answer: JSONObject) -> None:
    return None


# --------------------------------------------------------------------------
# Request building, shared by the sync and async clients


class _KVRequests:
    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._path = _resource_path("kv", namespace)

    def _get(self, key: str) -> _Call[str | None]:
        return _Call(self._path, {"action": "get", "key": key}, _field("value", None))

    def _set(self, key: str, value: str, ttl: int | None) -> _Call[None]:
        body = _optional({"action": "set", "key": key, "value": value}, ttl=ttl)
        return _Call(self._path, body, _nothing)

    def _delete(self, key: str) -> _Call[None]:
        return _Call(self._path, {"action": "delete", "key": key}, _nothing)

    def _list(
        self, prefix: str | None, limit: int | None, cursor: str | None
    ) -> _Call[JSONObject]:
        body = _optional({"action": "list"}, prefix=prefix, limit=limit, cursor=cursor)
        return _Call(self._path, body, _list_page)


def _list_page(answer: JSONObject) -> JSONObject:
    return {"keys": answer.get("keys", []), "cursor": answer.get("cursor")}


class _D1Requests:
    def __init__(self, database: str) -> None:
        self.database = database
        self._path = _resource_path("d1", database)

    def _body(self, query: str, params: Sequence[Any] | None) -> JSONObject:
        bound = None if params is None else list(params)
        return _optional({"query": query}, params=bound)

    def _exec(
        self, query: str, params: Sequence[Any] | None
    ) -> _Call[list[JSONObject]]:
        return _Call(self._path, self._body(query, params), _field("results", []))

    def _run(self, query: str, params: Sequence[Any] | None) -> _Call[JSONObject]:
        return _Call(self._path, self._body(query, params), _whole)


def _vector_body(vector: Mapping[str, Any] | Any) -> JSONObject:
    """A vector as JSON: a mapping passes through, an ``edgebind.Vector`` (or
    anything with ``id`` and ``values`` attributes) is converted."""
    if isinstance(vector, Mapping):
        return dict(vector)
    body: JSONObject = {"id": vector.id, "values": list(vector.values)}
    return _optional(body, metadata=vector.metadata, namespace=vector.namespace)


class _VectorizeRequests:
    def __init__(self, index: str) -> None:
        self.index = index
        self._path = _resource_path("vectorize", index)

    def _mutation(
        self, action: str, vectors: Sequence[Mapping[str, Any] | Any]
    ) -> _Call[JSONObject]:
        body = {"action": action, "vectors": [_vector_body(v) for v in vectors]}
        return _Call(self._path, body, _whole)

    def _search(
        self,
        action: str,
        target: JSONObject,
        top_k: int,
        filter: Mapping[str, Any] | None,
        namespace: str | None,
        return_values: bool | None,
        return_metadata: bool | str | None,
    ) -> _Call[list[JSONObject]]:
        body = _optional(
            {"action": action, **target, "topK": top_k},
            filter=None if filter is None else dict(filter),
            namespace=namespace,
            returnValues=return_values,
            returnMetadata=return_metadata,
        )
        return _Call(self._path, body, _field("matches", []))

    def _get_by_ids(self, ids: Sequence[str]) -> _Call[list[JSONObject]]:
        body = {"action": "getByIds", "ids": list(ids)}
        return _Call(self._path, body, _field("vectors", []))

    def _delete(self, ids: Sequence[str]) -> _Call[JSONObject]:
        return _Call(self._path, {"action": "delete", "ids": list(ids)}, _whole)

    def _describe(self) -> _Call[JSONObject]:
        return _Call(self._path, {"action": "describe"}, _whole)


# --------------------------------------------------------------------------
# Sending and answers, shared by the two transports


def _client_options(
    base_url: str, service_key: str, timeout: float | httpx.Timeout
) -> dict[str, Any]:
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(
            f"base_url {base_url!r} must start with http:// or https://, "
            "for example http://127.0.0.1:8787"
        )
    return {
        "base_url": base_url.rstrip("/"),
        "timeout": timeout,
        "headers": {
            SERVICE_KEY_HEADER: service_key,
            "Accept": "application/json",
        },
    }


def _answer(response: httpx.Response) -> JSONObject:
    """The JSON object of a successful response; EdgebindAPIError otherwise."""
    try:
        data = response.json()
    except ValueError:
        data = None

    if response.is_error:
        message = data.get("message") if isinstance(data, dict) else None
        text = message if isinstance(message, str) else response.text.strip()
        raise EdgebindAPIError(
            response.status_code, text or f"{response.reason_phrase} (no body)"
        )

    if not isinstance(data, dict):
        raise EdgebindAPIError(
            response.status_code,
            f"expected a JSON object from {response.request.url}, got "
            f"{response.text[:200]!r}; is this an Edgebind server?",
        )
    return data


def _unreachable(exc: httpx.HTTPError, call: _Call[Any]) -> EdgebindAPIError:
    return EdgebindAPIError(
        0, f"no answer to POST {call.path}: {exc or type(exc).__name__}"
    )


class _Sender:
    """What a resource client needs from its admin client."""

    def _send(self, call: _Call[T]) -> T:
        raise NotImplementedError


class _AsyncSender:
    async def _send(self, call: _Call[T]) -> T:
        raise NotImplementedError


# --------------------------------------------------------------------------
# Sync clients


class KVClient(_KVRequests):
    """One KV namespace, e.g. ``admin.kv("cache")``."""

    def __init__(self, sender: _Sender, namespace: str) -> None:
        super().__init__(namespace)
        self._sender = sender

    def get(self, key: str) -> str | None:
        """The value under ``key``, or None when absent or expired."""
        return self._sender._send(self._get(key))

    def set(self, key: str, value: str, *, ttl: int | None = None) -> None:
        """Store ``value``; ``ttl`` in whole seconds."""
        self._sender._send(self._set(key, value, ttl))

    def delete(self, key: str) -> None:
        self._sender._send(self._delete(key))

    def list(
        self,
        *,
        prefix: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSONObject:
        """``{"keys": [...], "cursor": str | None}``; None cursor = last page."""
        return self._sender._send(self._list(prefix, limit, cursor))


class D1Client(_D1Requests):
    """One D1 database, e.g. ``admin.d1("analytics")``."""

    def __init__(self, sender: _Sender, database: str) -> None:
        super().__init__(database)
        self._sender = sender

    def exec(self, query: str, params: Sequence[Any] | None = None) -> list[JSONObject]:
        """Run one statement with ``?`` placeholders; the result rows."""
        return self._sender._send(self._exec(query, params))

    query = exec

    def run(self, query: str, params: Sequence[Any] | None = None) -> JSONObject:
        """As :meth:`exec`, returning ``{"results": [...], "meta": {...}}``."""
        return self._sender._send(self._run(query, params))

    execute = run


class VectorizeClient(_VectorizeRequests):
    """One Vectorize index, e.g. ``admin.vector("embeddings")``."""

    def __init__(self, sender: _Sender, index: str) -> None:
        super().__init__(index)
        self._sender = sender

    def upsert(self, vectors: Sequence[Mapping[str, Any] | Any]) -> JSONObject:
        """Insert or replace; ``{"ok", "count", "mutationId"}``."""
        return self._sender._send(self._mutation("upsert", vectors))

    def insert(self, vectors: Sequence[Mapping[str, Any] | Any]) -> JSONObject:
        """Insert new ids only; an existing id raises EdgebindAPIError 409."""
        return self._sender._send(self._mutation("insert", vectors))

    def search(
        self,
        vector: Sequence[float],
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        return_values: bool | None = None,
        return_metadata: bool | str | None = None,
    ) -> list[JSONObject]:
        """The nearest matches, best first."""
        target = {"vector": list(vector)}
        call = self._search(
            "search", target, top_k, filter, namespace, return_values, return_metadata
        )
        return self._sender._send(call)

    def query_by_id(
        self,
        vector_id: str,
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        return_values: bool | None = None,
        return_metadata: bool | str | None = None,
    ) -> list[JSONObject]:
        """As :meth:`search`, from a stored vector."""
        target = {"vectorId": vector_id}
        call = self._search(
            "queryById",
            target,
            top_k,
            filter,
            namespace,
            return_values,
            return_metadata,
        )
        return self._sender._send(call)

    def get_by_ids(self, ids: Sequence[str]) -> list[JSONObject]:
        return self._sender._send(self._get_by_ids(ids))

    def delete(self, ids: Sequence[str]) -> JSONObject:
        return self._sender._send(self._delete(ids))

    def describe(self) -> JSONObject:
        """``{"vectorCount", "dimensions", "metric", ...}``."""
        return self._sender._send(self._describe())


class AdminClient(_Sender):
    """Synchronous admin client; use it as a context manager or ``close()`` it.

    ``transport`` replaces httpx's network transport (tests pass an
    ``httpx.MockTransport`` or ``httpx.WSGITransport``).
    """

    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        options = _client_options(base_url, service_key, timeout)
        self._http = httpx.Client(transport=transport, **options)

    def kv(self, namespace: str) -> KVClient:
        return KVClient(self, namespace)

    def d1(self, database: str) -> D1Client:
        return D1Client(self, database)

    def vector(self, index: str) -> VectorizeClient:
        return VectorizeClient(self, index)

    vectorize = vector

    def _send(self, call: _Call[T]) -> T:
        try:
            response = self._http.post(call.path, json=call.body)
        except httpx.HTTPError as exc:
            raise _unreachable(exc, call) from exc
        return call.unpack(_answer(response))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# --------------------------------------------------------------------------
# Async clients


class AsyncKVClient(_KVRequests):
    """One KV namespace, e.g. ``admin.kv("cache")``."""

    def __init__(self, sender: _AsyncSender, namespace: str) -> None:
        super().__init__(namespace)
        self._sender = sender

    async def get(self, key: str) -> str | None:
        return await self._sender._send(self._get(key))

    async def set(self, key: str, value: str, *, ttl: int | None = None) -> None:
        await self._sender._send(self._set(key, value, ttl))

    async def delete(self, key: str) -> None:
        await self._sender._send(self._delete(key))

    async def list(
        self,
        *,
        prefix: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> JSONObject:
        return await self._sender._send(self._list(prefix, limit, cursor))


class AsyncD1Client(_D1Requests):
    """One D1 database, e.g. ``admin.d1("analytics")``."""

    def __init__(self, sender: _AsyncSender, database: str) -> None:
        super().__init__(database)
        self._sender = sender

    async def exec(
        self, query: str, params: Sequence[Any] | None = None
    ) -> list[JSONObject]:
        return await self._sender._send(self._exec(query, params))

    query = exec

    async def run(self, query: str, params: Sequence[Any] | None = None) -> JSONObject:
        return await self._sender._send(self._run(query, params))

    execute = run


class AsyncVectorizeClient(_VectorizeRequests):
    """One Vectorize index, e.g. ``admin.vector("embeddings")``."""

    def __init__(self, sender: _AsyncSender, index: str) -> None:
        super().__init__(index)
        self._sender = sender

    async def upsert(self, vectors: Sequence[Mapping[str, Any] | Any]) -> JSONObject:
        return await self._sender._send(self._mutation("upsert", vectors))

    async def insert(self, vectors: Sequence[Mapping[str, Any] | Any]) -> JSONObject:
        return await self._sender._send(self._mutation("insert", vectors))

    async def search(
        self,
        vector: Sequence[float],
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        return_values: bool | None = None,
        return_metadata: bool | str | None = None,
    ) -> list[JSONObject]:
        target = {"vector": list(vector)}
        call = self._search(
            "search", target, top_k, filter, namespace, return_values, return_metadata
        )
        return await self._sender._send(call)

    async def query_by_id(
        self,
        vector_id: str,
        *,
        top_k: int = 10,
        filter: Mapping[str, Any] | None = None,
        namespace: str | None = None,
        return_values: bool | None = None,
        return_metadata: bool | str | None = None,
    ) -> list[JSONObject]:
        target = {"vectorId": vector_id}
        call = self._search(
            "queryById",
            target,
            top_k,
            filter,
            namespace,
            return_values,
            return_metadata,
        )
        return await self._sender._send(call)

    async def get_by_ids(self, ids: Sequence[str]) -> list[JSONObject]:
        return await self._sender._send(self._get_by_ids(ids))

    async def delete(self, ids: Sequence[str]) -> JSONObject:
        return await self._sender._send(self._delete(ids))

    async def describe(self) -> JSONObject:
        return await self._sender._send(self._describe())


class AsyncAdminClient(_AsyncSender):
    """The async twin of :class:`AdminClient`; ``aclose()`` it or use
    ``async with``. ``transport`` may be an ``httpx.ASGITransport`` to talk
    to an app in the same process."""

    def __init__(
        self,
        base_url: str,
        service_key: str,
        *,
        timeout: float | httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        options = _client_options(base_url, service_key, timeout)
        self._http = httpx.AsyncClient(transport=transport, **options)

    def kv(self, namespace: str) -> AsyncKVClient:
        return AsyncKVClient(self, namespace)

    def d1(self, database: str) -> AsyncD1Client:
        return AsyncD1Client(self, database)

    def vector(self, index: str) -> AsyncVectorizeClient:
        return AsyncVectorizeClient(self, index)

    vectorize = vector

    async def _send(self, call: _Call[T]) -> T:
        try:
            response = await self._http.post(call.path, json=call.body)
        except httpx.HTTPError as exc:
            raise _unreachable(exc, call) from exc
        return call.unpack(_answer(response))

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
