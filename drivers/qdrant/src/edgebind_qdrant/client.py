"""One connection to Qdrant, remote or embedded, behind the same async calls.

A remote server is spoken to with qdrant-client's ``AsyncQdrantClient``. Local
(embedded) mode is different: qdrant-client runs it in-process, in plain
Python with numpy, writing every change to SQLite files — its async variant
would do all that on the event loop. So local mode uses the synchronous
client on one dedicated worker thread, which also keeps calls into it one at
a time.

Local mode locks its directory: only one client per directory may be open in
a process, and another process opening the same directory fails. Clients are
therefore shared per directory through :func:`acquire_local` /
:func:`release_local`, whatever driver instance asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
from qdrant_client import AsyncQdrantClient, QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from edgebind.errors import BackendUnavailable

logger = logging.getLogger(__name__)

__all__ = [
    "MissingCollection",
    "QdrantConnection",
    "acquire_local",
    "backend_errors",
    "release_local",
]

T = TypeVar("T")

MEMORY = ":memory:"


class MissingCollection(Exception):
    """Qdrant has no such collection (translated by the caller)."""


@dataclass
class _LocalHandle:
    client: QdrantClient
    executor: ThreadPoolExecutor
    users: int = 0


_local_lock = threading.Lock()
_local_clients: dict[str, _LocalHandle] = {}


def _open_local(location: str) -> _LocalHandle:
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edgebind-qdrant")
    try:
        if location == MEMORY:
            client = executor.submit(QdrantClient, location=MEMORY).result()
        else:
            client = executor.submit(QdrantClient, path=location).result()
    except BaseException:
        executor.shutdown(wait=False)
        raise
    return _LocalHandle(client, executor)


def acquire_local(location: str) -> _LocalHandle:
    """The shared embedded client for directory ``location`` (blocking).

    ``:memory:`` gets a new private client every time.
    """
    if location == MEMORY:
        private = _open_local(MEMORY)
        private.users = 1
        return private
    key = str(Path(location).resolve())
    with _local_lock:
        handle = _local_clients.get(key)
        if handle is None:
            Path(key).mkdir(parents=True, exist_ok=True)
            handle = _open_local(key)
            _local_clients[key] = handle
        handle.users += 1
        return handle


def release_local(handle: _LocalHandle) -> None:
    """Give back a handle from :func:`acquire_local`; the last user closes it."""
    with _local_lock:
        handle.users -= 1
        if handle.users > 0:
            return
        for key, known in list(_local_clients.items()):
            if known is handle:
                del _local_clients[key]
    try:
        handle.executor.submit(handle.client.close).result()
    finally:
        handle.executor.shutdown(wait=True)


def _missing(exc: BaseException) -> bool:
    if isinstance(exc, UnexpectedResponse):
        return exc.status_code == 404
    # local mode says so in a ValueError
    return isinstance(exc, ValueError) and str(exc).startswith("Collection ")


@contextlib.contextmanager
def backend_errors(*, url: str, binding: str) -> Iterator[None]:
    """Translate qdrant-client and transport failures into Edgebind errors.

    A missing collection becomes :class:`MissingCollection` so the caller can
    name the index and the fix; everything that means "Qdrant cannot serve
    this now" becomes :class:`BackendUnavailable`. Other exceptions (bugs)
    pass through untouched.
    """
    try:
        yield
    except MissingCollection:
        raise
    except (UnexpectedResponse, ValueError) as exc:
        if _missing(exc):
            raise MissingCollection(str(exc)) from exc
        if not isinstance(exc, UnexpectedResponse):
            raise
        status = exc.status_code
        if status in (401, 403):
            message = (
                f"Qdrant at {url} refused the request ({status}); check the API "
                "key in the environment variable the URL names"
            )
        else:
            body = exc.content.decode("utf-8", "replace")[:300]
            message = f"Qdrant at {url} answered {status}: {body}"
        raise BackendUnavailable(message, driver="qdrant", binding=binding) from exc
    except (ResponseHandlingException, httpx.HTTPError, OSError, TimeoutError) as exc:
        cause = exc.source if isinstance(exc, ResponseHandlingException) else exc
        raise BackendUnavailable(
            f"cannot reach Qdrant at {url}: {cause or type(cause).__name__}",
            driver="qdrant",
            binding=binding,
        ) from exc
    except RuntimeError as exc:
        text = str(exc)
        if "already accessed by another instance" not in text:
            raise
        raise BackendUnavailable(
            f"the embedded Qdrant store at {url} cannot be opened: {text} Only one "
            "process at a time may use a qdrant+local directory; stop the other "
            "one or give each its own directory",
            driver="qdrant",
            binding=binding,
        ) from exc


class QdrantConnection:
    """The few Qdrant calls the driver makes, awaitable in both modes."""

    def __init__(
        self,
        *,
        remote: AsyncQdrantClient | None = None,
        local: _LocalHandle | None = None,
    ) -> None:
        if (remote is None) == (local is None):
            raise ValueError("give exactly one of remote or local")
        self._remote = remote
        self._local = local
        self.exact_search_params = (
            models.SearchParams(exact=True) if remote is not None else None
        )

    @property
    def is_local(self) -> bool:
        return self._local is not None

    async def _in_worker(self, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        assert self._local is not None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._local.executor, functools.partial(call, *args, **kwargs)
        )

    async def collection_exists(self, name: str) -> bool:
        if self._remote is not None:
            return await self._remote.collection_exists(name)
        assert self._local is not None
        return await self._in_worker(self._local.client.collection_exists, name)

    async def get_collection(self, name: str) -> models.CollectionInfo:
        if self._remote is not None:
            return await self._remote.get_collection(name)
        assert self._local is not None
        return await self._in_worker(self._local.client.get_collection, name)

    async def create_collection(self, name: str, params: models.VectorParams) -> None:
        if self._remote is not None:
            await self._remote.create_collection(name, vectors_config=params)
            return
        assert self._local is not None
        await self._in_worker(
            self._local.client.create_collection, name, vectors_config=params
        )

    async def upsert(self, name: str, points: list[models.PointStruct]) -> None:
        if self._remote is not None:
            await self._remote.upsert(name, points=points, wait=True)
            return
        assert self._local is not None
        await self._in_worker(self._local.client.upsert, name, points=points)

    async def retrieve(
        self,
        name: str,
        ids: Sequence[str],
        *,
        with_payload: bool | list[str],
        with_vectors: bool,
    ) -> list[models.Record]:
        if self._remote is not None:
            return await self._remote.retrieve(
                name, ids=ids, with_payload=with_payload, with_vectors=with_vectors
            )
        assert self._local is not None
        return await self._in_worker(
            self._local.client.retrieve,
            name,
            ids=ids,
            with_payload=with_payload,
            with_vectors=with_vectors,
        )

    async def delete(self, name: str, ids: list[str]) -> None:
        selector = models.PointIdsList(points=list(ids))
        if self._remote is not None:
            await self._remote.delete(name, points_selector=selector, wait=True)
            return
        assert self._local is not None
        await self._in_worker(self._local.client.delete, name, points_selector=selector)

    async def query(
        self,
        name: str,
        vector: list[float],
        *,
        limit: int,
        query_filter: models.Filter | None,
        with_payload: list[str],
        with_vectors: bool,
    ) -> list[models.ScoredPoint]:
        if self._remote is not None:
            response = await self._remote.query_points(
                name,
                query=vector,
                limit=limit,
                query_filter=query_filter,
                with_payload=with_payload,
                with_vectors=with_vectors,
                # brute force, so results equal an exact oracle
                search_params=self.exact_search_params,
            )
            return response.points
        # Local mode always searches by brute force (and warns when given
        # search parameters).
        assert self._local is not None
        response = await self._in_worker(
            self._local.client.query_points,
            name,
            query=vector,
            limit=limit,
            query_filter=query_filter,
            with_payload=with_payload,
            with_vectors=with_vectors,
        )
        return response.points

    async def count(self, name: str) -> int:
        if self._remote is not None:
            result = await self._remote.count(name, exact=True)
        else:
            assert self._local is not None
            result = await self._in_worker(self._local.client.count, name, exact=True)
        return result.count

    async def aclose(self) -> None:
        if self._remote is not None:
            await self._remote.close()
            return
        assert self._local is not None
        local, self._local = self._local, None
        self._remote = None
        await asyncio.to_thread(release_local, local)
