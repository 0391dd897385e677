"""The Edgebind HTTP server: a bare ASGI callable with a tiny hand-written router.

No web framework sits in front of the handlers: every request costs one pass
over the headers, one dict lookup for the resource, one msgspec decode and one
msgspec encode. Everything that depends only on the config (the resource
table, the scopes each action needs, the KV rules, the OpenAPI document) is
computed once in :func:`create_app`.

Checks run in the order DESIGN §3 fixes, so that the status a caller sees
never tells an anonymous caller which names exist:

1. no service key and no rule that could admit the caller → 403
2. a service key (or bearer token) that does not authenticate → 401
3. an undeclared resource name → 404
4. a body that is too large (413) or not a valid request (400)
5. a key without the scope (401), or a rule that says no (403)
6. the backend's own errors (400/404/409, 503 when unreachable)
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote_to_bytes

import msgspec
from msgspec import UNSET

from edgebind.d1 import D1Database
from edgebind.errors import (
    BackendUnavailable,
    EdgebindError,
    Forbidden,
    InvalidArgument,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
)
from edgebind.filters import parse_filter
from edgebind.keys import Principal, required_scope
from edgebind.kv import KVNamespace
from edgebind.resource import Kind, Resource
from edgebind.rules import (
    AuthContext,
    NoTokenVerifier,
    Rule,
    TokenVerifier,
    evaluate_rule,
)
from edgebind.runtime import Runtime
from edgebind.vectorize import (
    IndexInfo,
    MutationResult,
    QueryOptions,
    ReturnMetadata,
    Vector,
    VectorIndex,
    VectorMatch,
)
from edgebind_server import openapi, schemas

__all__ = ["EdgebindApp", "create_app"]

logger = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

SERVICE_KEY_HEADER: Final = b"x-edgebase-service-key"

_encode = msgspec.json.encode
_OK_BODY: Final = b'{"ok":true}'

_ROUTE_PREFIXES: Final[tuple[tuple[bytes, Kind], ...]] = (
    (b"/api/kv/", "kv"),
    (b"/api/d1/", "d1"),
    (b"/api/vectorize/", "vectorize"),
)

_KIND_NOUN: Final[dict[Kind, str]] = {
    "kv": "KV namespace",
    "d1": "D1 database",
    "vectorize": "Vectorize index",
}

_ACTIONS: Final[dict[Kind, tuple[str, ...]]] = {
    "kv": schemas.KV_ACTIONS,
    "d1": ("exec",),
    "vectorize": schemas.VECTORIZE_ACTIONS,
}

_DECODERS: Final[dict[Kind, msgspec.json.Decoder[Any]]] = {
    "kv": msgspec.json.Decoder(schemas.KV_REQUEST),
    "d1": msgspec.json.Decoder(schemas.D1_REQUEST),
    "vectorize": msgspec.json.Decoder(schemas.VECTORIZE_REQUEST),
}

#: request class -> the action it is, for scopes and messages
_ACTION_OF: Final[dict[type, str]] = {
    struct: str(struct.__struct_config__.tag)
    for union in (schemas.KV_REQUEST, schemas.VECTORIZE_REQUEST)
    for struct in union.__args__
}
_ACTION_OF[schemas.D1Query] = "exec"

_INTERNAL_ERROR: Final = "internal server error; the server log has the details"

# The message for step 1 is the same for undeclared names and for declared
# resources without rules, so it reveals nothing about which names exist.
_NEEDS_KEY: Final = (
    "this request needs a service key; send it in the X-EdgeBase-Service-Key header"
)


@dataclass(slots=True)
class _Entry:
    """One declared resource with everything its requests need, precomputed."""

    kind: Kind
    name: str
    resource: Resource
    #: KV rules by permission ("read"/"write"); empty for D1 and Vectorize
    rules: dict[str, Rule]
    #: scope string a scoped key needs, by request action
    scopes: dict[str, str]


@dataclass(slots=True)
class _Headers:
    service_key: str | None = None
    authorization: str | None = None
    content_length: bytes | None = None
    forwarded_for: str | None = None
    repeated_service_key: bool = False


class _ClientGone(Exception):
    """The client disconnected before its body arrived; nothing to answer."""


def create_app(
    runtime: Runtime, *, token_verifier: TokenVerifier | None = None
) -> EdgebindApp:
    """The ASGI application serving ``runtime``'s resources.

    The app's lifespan shutdown closes the runtime. ``token_verifier`` checks
    ``Authorization: Bearer`` tokens for KV rules; without one every token is
    refused with a 401 that says no JWT verification is configured.
    """
    return EdgebindApp(runtime, token_verifier=token_verifier)


class EdgebindApp:
    """The ASGI callable; build it with :func:`create_app`."""

    def __init__(
        self, runtime: Runtime, *, token_verifier: TokenVerifier | None = None
    ) -> None:
        self.runtime = runtime
        self._keyring = runtime.keyring
        self._verifier: TokenVerifier = token_verifier or NoTokenVerifier()
        self._trust_proxy = bool(runtime.config.trust_proxy)
        self._max_body = int(runtime.config.max_body_bytes)
        self._entries: dict[Kind, dict[str, _Entry]] = {
            "kv": {},
            "d1": {},
            "vectorize": {},
        }
        for binding in runtime.bindings:
            self._entries[binding.kind][binding.name] = self._entry(
                binding.kind, binding.name
            )
        self._raw_entries: dict[Kind, dict[bytes, _Entry]] = {
            kind: {name.encode("ascii"): entry for name, entry in table.items()}
            for kind, table in self._entries.items()
        }

        document = openapi.build_document()
        self._openapi_body = _encode(document)
        self._docs_body = openapi.docs_page(document).encode("utf-8")

    def _entry(self, kind: Kind, name: str) -> _Entry:
        resource = self.runtime.resource(kind, name)
        # The runtime opens every binding it lists.
        assert resource is not None

        rules: dict[str, Rule] = {}
        if kind == "kv":
            declared = self.runtime.config.kv[name].rules
            if declared is not None:
                for permission in ("read", "write"):
                    rule = getattr(declared, permission, None)
                    if rule is not None:
                        rules[permission] = rule

        scopes = {
            action: required_scope(kind, name, action) for action in _ACTIONS[kind]
        }
        return _Entry(kind, name, resource, rules, scopes)

    # ------------------------------------------------------------------ ASGI

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope_type = scope["type"]
        if scope_type == "http":
            await self._http(scope, receive, send)
        elif scope_type == "lifespan":
            await self._lifespan(receive, send)
        # websocket scopes are not served; returning closes them

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                logger.info(
                    "Edgebind serving %d resources in environment %r.",
                    sum(len(table) for table in self._entries.values()),
                    self.runtime.env_name,
                )
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.runtime.aclose()
                except Exception as exc:
                    logger.exception("Closing the runtime failed.")
                    await send(
                        {"type": "lifespan.shutdown.failed", "message": str(exc)}
                    )
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: bytes = scope.get("raw_path") or scope["path"].encode("utf-8")
        root_path: str = scope.get("root_path", "")
        if root_path and path.startswith(root_path.encode("utf-8")):
            path = path[len(root_path) :]
        method: str = scope["method"]

        try:
            for prefix, kind in _ROUTE_PREFIXES:
                if path.startswith(prefix):
                    if method != "POST":
                        await _send_method_not_allowed(send, "POST")
                        return
                    raw_name = path[len(prefix) :]
                    await self._resource_call(kind, raw_name, scope, receive, send)
                    return

            if path in (b"/api/health", b"/openapi.json", b"/docs"):
                if method not in ("GET", "HEAD"):
                    await _send_method_not_allowed(send, "GET, HEAD")
                    return
                head = method == "HEAD"
                if path == b"/api/health":
                    await self._health(send, head)
                elif path == b"/openapi.json":
                    await _send(send, 200, self._openapi_body, head=head)
                else:
                    await _send(
                        send,
                        200,
                        self._docs_body,
                        content_type=b"text/html; charset=utf-8",
                        head=head,
                    )
                return

            raise NotFound(
                f"no route {method} {path.decode('latin-1')}; the API serves "
                "POST /api/kv/{namespace}, /api/d1/{database}, "
                "/api/vectorize/{index}, GET /api/health, /openapi.json and /docs"
            )
        except _ClientGone:
            return
        except EdgebindError as exc:
            await self._send_error(send, exc)
        except Exception:
            logger.exception("Unexpected error serving %s %r.", method, path)
            await _send_error_body(send, 500, _INTERNAL_ERROR)

    # -------------------------------------------------------- resource calls

    async def _resource_call(
        self, kind: Kind, raw_name: bytes, scope: Scope, receive: Receive, send: Send
    ) -> None:
        headers = _read_headers(scope["headers"])
        # Names are mostly sent unencoded: try the raw bytes first.
        entry = self._raw_entries[kind].get(raw_name)
        if entry is not None:
            name: str | None = entry.name
        else:
            name = _decode_segment(raw_name)
            entry = self._entries[kind].get(name) if name is not None else None

        # Steps 1 and 2: who is calling.
        principal: Principal | None = None
        auth: AuthContext | None = None
        if headers.service_key is None:
            if entry is None or not entry.rules:
                raise Forbidden(_NEEDS_KEY)
            token = _bearer_token(headers.authorization)
            if token is not None:
                auth = await self._verifier.verify(token)
        else:
            if headers.repeated_service_key:
                raise Unauthorized(
                    "the X-EdgeBase-Service-Key header is sent more than once; "
                    "send exactly one service key"
                )
            if not headers.service_key:
                raise Unauthorized(
                    "the X-EdgeBase-Service-Key header is empty; send a service "
                    "key from the server's config"
                )
            principal = self._keyring.authenticate(
                headers.service_key, client_ip=self._client_ip(scope, headers)
            )

        # Step 3: only now may the caller learn whether the name exists.
        if entry is None:
            shown = name if name is not None else raw_name.decode("latin-1")
            raise NotFound(
                f"no {_KIND_NOUN[kind]} named {shown!r} is declared in the "
                f"config; declare it under {kind}= in edgebind.config.py"
            )

        # Step 4: the body.
        body = await _read_body(receive, headers.content_length, self._max_body)
        request = _decode_request(kind, body)

        # Step 5: may this caller do this action?
        action = _ACTION_OF[type(request)]
        if principal is not None:
            needed = entry.scopes[action]
            if not principal.allows(needed):
                raise Unauthorized(
                    f"service key {principal.kid!r} lacks the scope {needed!r} "
                    f"for {action} on {_KIND_NOUN[kind]} {entry.name!r}; add it "
                    "to the key's scopes or use another key"
                )
        else:
            permission: str = request.permission
            rule = entry.rules.get(permission)
            if rule is None:
                raise Forbidden(
                    f"{_KIND_NOUN[kind]} {entry.name!r} has no {permission} rule, "
                    f"so {action} needs a service key; send it in the "
                    "X-EdgeBase-Service-Key header"
                )
            if not await evaluate_rule(rule, auth):
                who = "anonymous callers" if auth is None else "this caller"
                raise Forbidden(
                    f"the {permission} rule of {_KIND_NOUN[kind]} {entry.name!r} "
                    f"does not admit {who}; sign in with a token the rule "
                    "accepts, or send a service key"
                )

        # Step 6: the backend.
        try:
            if kind == "kv":
                assert isinstance(entry.resource, KVNamespace)
                payload = await _kv_call(entry.resource, request)
            elif kind == "d1":
                assert isinstance(entry.resource, D1Database)
                result = await entry.resource.execute(request.query, request.params)
                payload = _encode(result)
            else:
                assert isinstance(entry.resource, VectorIndex)
                payload = await _vectorize_call(entry.resource, request)
        except BackendUnavailable as exc:
            logger.warning(
                "%s %r unreachable (driver %s, binding %s): %s",
                _KIND_NOUN[kind],
                entry.name,
                exc.driver or entry.resource.driver_name,
                exc.binding or entry.resource.binding,
                exc.message,
            )
            if not exc.driver and not exc.binding:
                # The driver forgot to say where; the caller still learns it.
                exc = BackendUnavailable(
                    exc.message,
                    driver=entry.resource.driver_name,
                    binding=entry.resource.binding,
                )
            await _send_error_body(send, exc.status, exc.message)
            return

        await _send(send, 200, payload)

    def _client_ip(self, scope: Scope, headers: _Headers) -> str | None:
        if self._trust_proxy and headers.forwarded_for:
            # The proxy in front of us appends the address it saw, so only the
            # last hop is trustworthy; earlier ones are whatever the client
            # chose to send.
            return headers.forwarded_for.rsplit(",", 1)[-1].strip() or None
        client = scope.get("client")
        return str(client[0]) if client else None

    # ------------------------------------------------------------- health

    async def _health(self, send: Send, head: bool) -> None:
        report = await self.runtime.health()
        bindings = [
            schemas.BindingHealthBody(
                binding=item.binding,
                kind=item.kind,
                name=item.name,
                driver=item.driver,
                ok=item.ok,
                error=item.error,
            )
            for item in report
        ]
        healthy = all(item.ok for item in bindings)
        for item in bindings:
            if not item.ok:
                logger.warning(
                    "Health: binding %s (driver %s) is down: %s",
                    item.binding,
                    item.driver,
                    item.error,
                )
        body = _encode(schemas.HealthBody(ok=healthy, bindings=bindings))
        await _send(send, 200 if healthy else 503, body, head=head)

    async def _send_error(self, send: Send, exc: EdgebindError) -> None:
        status = exc.status
        if status == 500:
            # A ConfigError or a bare EdgebindError at request time is a bug
            # on this side; its text may name files or settings.
            logger.error(
                "Unexpected %s while serving a request.",
                type(exc).__name__,
                exc_info=exc,
            )
            await _send_error_body(send, 500, _INTERNAL_ERROR)
            return
        if status > 500:
            logger.warning("Answering %d: %s", status, exc.message)
        else:
            logger.debug("Answering %d: %s", status, exc.message)
        await _send_error_body(send, status, exc.message)


# ---------------------------------------------------------------- KV calls


async def _kv_call(kv: KVNamespace, request: Any) -> bytes:
    request_type = type(request)
    if request_type is schemas.KVGet:
        return _encode(schemas.KVValueBody(await kv.get(request.key)))
    if request_type is schemas.KVSet:
        await kv.put(request.key, request.value, ttl=request.ttl)
        return _OK_BODY
    if request_type is schemas.KVDelete:
        await kv.delete(request.key)
        return _OK_BODY
    assert request_type is schemas.KVList
    limit = request.limit
    page = await kv.list(
        prefix=request.prefix or "",
        limit=kv.capabilities.max_list_limit if limit is None else limit,
        cursor=request.cursor,
    )
    return _encode(schemas.KVListBody(keys=page.keys, cursor=page.cursor))


# --------------------------------------------------------- Vectorize calls


async def _vectorize_call(index: VectorIndex, request: Any) -> bytes:
    request_type = type(request)
    if request_type in (schemas.VectorizeUpsert, schemas.VectorizeInsert):
        vectors = [
            Vector(
                id=item.id,
                values=tuple(item.values),
                metadata=item.metadata,
                namespace=item.namespace or request.namespace,
            )
            for item in request.vectors
        ]
        if request_type is schemas.VectorizeUpsert:
            mutation = await index.upsert(vectors)
        else:
            mutation = await index.insert(vectors)
        return _mutation(mutation)

    if request_type in (schemas.VectorizeSearch, schemas.VectorizeQueryById):
        metadata_mode = _metadata_mode(request.return_metadata)
        options = QueryOptions(
            top_k=request.top_k,
            filter=parse_filter(request.filter),
            namespace=request.namespace,
            return_values=request.return_values,
            return_metadata=metadata_mode,
        )
        if request_type is schemas.VectorizeSearch:
            matches = await index.query(request.vector, options)
        else:
            matches = await index.query_by_id(request.vector_id, options)
        bodies = [
            _match(match, request.return_values, metadata_mode != "none")
            for match in matches
        ]
        return _encode(schemas.MatchesBody(matches=bodies, count=len(bodies)))

    if request_type is schemas.VectorizeGetByIds:
        stored = await index.get_by_ids(request.ids)
        return _encode(
            schemas.VectorsBody(
                vectors=[
                    schemas.StoredVectorBody(
                        id=vector.id,
                        values=list(vector.values),
                        metadata=UNSET if vector.metadata is None else vector.metadata,
                        namespace=UNSET
                        if vector.namespace is None
                        else vector.namespace,
                    )
                    for vector in stored
                ]
            )
        )

    if request_type is schemas.VectorizeDelete:
        return _mutation(await index.delete_by_ids(request.ids))

    assert request_type is schemas.VectorizeDescribe
    return _describe(await index.describe())


def _metadata_mode(option: bool | str | None) -> ReturnMetadata:
    if option is True:
        return "all"
    if option is None or option is False:
        return "none"
    assert option in ("all", "indexed", "none")
    return option  # type: ignore[return-value]


def _match(match: VectorMatch, with_values: bool, with_metadata: bool) -> Any:
    return schemas.MatchBody(
        id=match.id,
        score=match.score,
        values=(
            list(match.values) if with_values and match.values is not None else UNSET
        ),
        metadata=match.metadata if with_metadata else UNSET,
        namespace=UNSET if match.namespace is None else match.namespace,
    )


def _mutation(result: MutationResult) -> bytes:
    return _encode(
        schemas.MutationBody(count=result.count, mutation_id=result.mutation_id)
    )


def _describe(info: IndexInfo) -> bytes:
    return _encode(
        schemas.IndexInfoBody(
            vector_count=info.vector_count,
            dimensions=info.dimensions,
            metric=info.metric,
            processed_up_to_mutation=info.processed_up_to_mutation,
            processed_up_to_datetime=info.processed_up_to_datetime,
        )
    )


# ---------------------------------------------------------- request parsing


def _read_headers(raw: list[tuple[bytes, bytes]]) -> _Headers:
    headers = _Headers()
    for name, value in raw:
        # ASGI servers lower-case header names.
        if name == SERVICE_KEY_HEADER:
            if headers.service_key is not None:
                headers.repeated_service_key = True
            headers.service_key = value.decode("latin-1").strip()
        elif name == b"authorization":
            headers.authorization = value.decode("latin-1")
        elif name == b"content-length":
            headers.content_length = value
        elif name == b"x-forwarded-for":
            # Repeated headers mean one comma-joined list (RFC 9110); some
            # proxies add a line of their own instead of appending.
            hops = value.decode("latin-1")
            if headers.forwarded_for is not None:
                hops = f"{headers.forwarded_for},{hops}"
            headers.forwarded_for = hops
    return headers


def _bearer_token(authorization: str | None) -> str | None:
    if authorization is None:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        raise Unauthorized(
            "the Authorization header must be 'Bearer <token>'; send a service "
            "key in X-EdgeBase-Service-Key instead if you have one"
        )
    token = token.strip()
    if not token:
        raise Unauthorized("the Authorization header has an empty bearer token")
    return token


def _decode_segment(raw: bytes) -> str | None:
    """The percent-decoded resource name, or None when it cannot be one."""
    if not raw or b"/" in raw:
        return None
    if b"%" not in raw:
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            return None
    try:
        name = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return None
    return None if "/" in name else name


async def _read_body(
    receive: Receive, content_length: bytes | None, limit: int
) -> bytes:
    """The request body, refusing it with 413 as soon as it passes ``limit``.

    A declared Content-Length is checked before reading anything; a chunked
    body is counted while it streams, so an oversized one is never held whole.
    """
    too_large = (
        f"request body is larger than this server's limit of {limit} bytes; "
        "send less per request or raise max_body_bytes in the config"
    )
    if content_length is not None:
        if not content_length.isdigit():
            raise InvalidArgument(
                "the Content-Length header is not a whole number of bytes"
            )
        if int(content_length) > limit:
            raise PayloadTooLarge(too_large)

    message = await receive()
    if message["type"] == "http.disconnect":
        raise _ClientGone
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise PayloadTooLarge(too_large)
        return body

    chunks = [body]
    size = len(body)
    while True:
        if size > limit:
            raise PayloadTooLarge(too_large)
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _ClientGone
        chunk: bytes = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    if size > limit:
        raise PayloadTooLarge(too_large)
    return b"".join(chunks)


def _decode_request(kind: Kind, body: bytes) -> Any:
    try:
        return _DECODERS[kind].decode(body)
    except RecursionError:
        raise InvalidArgument(
            "request body nests arrays or objects too deeply; metadata and "
            "filters must be shallow JSON"
        ) from None
    except msgspec.ValidationError as exc:
        raise InvalidArgument(_explain_invalid(kind, body, str(exc))) from None
    except msgspec.DecodeError as exc:
        raise InvalidArgument(
            f"request body is not valid JSON ({exc}); send one JSON object. "
            "NaN, Infinity and comments are not JSON"
        ) from None


def _explain_invalid(kind: Kind, body: bytes, detail: str) -> str:
    """A 400 message for a body that is JSON but not a valid request."""
    if kind != "d1" and ("`$.action`" in detail or "field `action`" in detail):
        valid = ", ".join(_ACTIONS[kind])
        try:
            sent: Any = msgspec.json.decode(body).get("action")
        except (msgspec.DecodeError, AttributeError):
            sent = None
        if sent is None:
            return f'request body has no action; set "action" to one of {valid}'
        return f"unknown action {sent!r}; use one of {valid}"
    return (
        f"invalid request body: {detail}; see GET /openapi.json for the "
        "fields each action takes"
    )


# --------------------------------------------------------------- responses


async def _send(
    send: Send,
    status: int,
    body: bytes,
    *,
    content_type: bytes = b"application/json",
    head: bool = False,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    if extra_headers:
        headers.extend(extra_headers)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})


async def _send_error_body(send: Send, status: int, message: str) -> None:
    extra = None
    if status == 413:
        # The rest of the body was never read; the connection cannot be reused.
        extra = [(b"connection", b"close")]
    body = _encode(schemas.ErrorBody(code=status, message=message))
    await _send(send, status, body, extra_headers=extra)


async def _send_method_not_allowed(send: Send, allowed: str) -> None:
    body = _encode(
        schemas.ErrorBody(code=405, message=f"method not allowed here; use {allowed}")
    )
    await _send(send, 405, body, extra_headers=[(b"allow", allowed.encode("ascii"))])
