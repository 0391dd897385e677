"""Wire shapes of the HTTP API, as msgspec Structs.

The same classes decode and validate request bodies and describe them in the
OpenAPI document (``openapi.py`` feeds them to ``msgspec.json.schema_components``),
so the published schema cannot drift from what the server accepts.

Request bodies of KV and Vectorize are tagged unions on ``action``; each
request class carries ``permission`` ("read"/"write" for KV, "query"/"write"
for Vectorize), which selects the KV rule and names the scope a key needs.
Unknown fields are refused with a 400 naming them: a misspelt optional field
(``tll`` for ``ttl``) would otherwise be dropped without a word.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

__all__ = [
    "D1_REQUEST",
    "KV_ACTIONS",
    "KV_REQUEST",
    "VECTORIZE_ACTIONS",
    "VECTORIZE_REQUEST",
    "BindingHealthBody",
    "D1MetaBody",
    "D1Query",
    "D1ResultBody",
    "ErrorBody",
    "HealthBody",
    "IndexInfoBody",
    "KVDelete",
    "KVGet",
    "KVList",
    "KVListBody",
    "KVSet",
    "KVValueBody",
    "MatchBody",
    "MatchesBody",
    "MutationBody",
    "OkBody",
    "StoredVectorBody",
    "VectorBody",
    "VectorizeDelete",
    "VectorizeDescribe",
    "VectorizeGetByIds",
    "VectorizeInsert",
    "VectorizeQueryById",
    "VectorizeSearch",
    "VectorizeUpsert",
    "VectorsBody",
]

# ------------------------------------------------------------------ requests

# "Not empty" is published in the schema but checked by core, whose messages
# say how to fix the request ("key must not be empty"); the byte limits (512
# bytes of UTF-8 for a key) are core's too, since JSON Schema counts
# characters, not bytes.
NOT_EMPTY = {"minLength": 1}
NOT_EMPTY_LIST = {"minItems": 1}

KVKey = Annotated[
    str, Meta(extra_json_schema=NOT_EMPTY, description="1-512 bytes of UTF-8")
]


class KVGet(
    Struct, tag_field="action", tag="get", frozen=True, forbid_unknown_fields=True
):
    """Read one value; absent and expired keys read as null."""

    permission: ClassVar[str] = "read"

    key: KVKey


class KVSet(
    Struct, tag_field="action", tag="set", frozen=True, forbid_unknown_fields=True
):
    """Store a string value, optionally expiring after ``ttl`` whole seconds."""

    permission: ClassVar[str] = "write"

    key: KVKey
    value: Annotated[str, Meta(description="at most 25 MiB of UTF-8")]
    ttl: (
        Annotated[
            int,
            Meta(
                description="whole seconds; at least the driver's minimum "
                "(60 on Cloudflare, 1 elsewhere); null means no TTL"
            ),
        ]
        | None
    ) = None


class KVDelete(
    Struct, tag_field="action", tag="delete", frozen=True, forbid_unknown_fields=True
):
    """Remove a key; removing a missing key succeeds too."""

    permission: ClassVar[str] = "write"

    key: KVKey


class KVList(
    Struct, tag_field="action", tag="list", frozen=True, forbid_unknown_fields=True
):
    """One page of keys in ascending UTF-8 byte order."""

    permission: ClassVar[str] = "read"

    prefix: str | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] | None = None
    cursor: (
        Annotated[str, Meta(description="the cursor of the previous page")] | None
    ) = None


KV_REQUEST = KVGet | KVSet | KVDelete | KVList
KV_ACTIONS: tuple[str, ...] = ("get", "set", "delete", "list")

SQLParam = str | int | float | bool | None


class D1Query(Struct, frozen=True, forbid_unknown_fields=True):
    """One SQL statement with ``?`` placeholders bound to ``params``."""

    permission: ClassVar[str] = "exec"

    query: Annotated[
        str, Meta(extra_json_schema=NOT_EMPTY, description="one SQL statement")
    ]
    params: list[SQLParam] | None = None


D1_REQUEST = D1Query

VectorValues = Annotated[
    list[float], Meta(description="finite numbers, as many as the index has dimensions")
]
VectorId = Annotated[str, Meta(min_length=1, max_length=64)]
Namespace = Annotated[str, Meta(min_length=1, max_length=64)]


class VectorBody(Struct, frozen=True, forbid_unknown_fields=True):
    id: VectorId
    values: VectorValues
    metadata: dict[str, Any] | None = None
    namespace: Namespace | None = None


class VectorizeUpsert(
    Struct,
    tag_field="action",
    tag="upsert",
    rename="camel",
    frozen=True,
    forbid_unknown_fields=True,
):
    """Insert or replace vectors; ``namespace`` applies to vectors without one."""

    permission: ClassVar[str] = "write"

    vectors: Annotated[list[VectorBody], Meta(extra_json_schema=NOT_EMPTY_LIST)]
    namespace: Namespace | None = None


class VectorizeInsert(
    Struct,
    tag_field="action",
    tag="insert",
    rename="camel",
    frozen=True,
    forbid_unknown_fields=True,
):
    """Insert new vectors; an id that already exists is a 409 and nothing is
    written."""

    permission: ClassVar[str] = "write"

    vectors: Annotated[list[VectorBody], Meta(extra_json_schema=NOT_EMPTY_LIST)]
    namespace: Namespace | None = None


ReturnMetadataOption = bool | Literal["all", "indexed", "none"]
TopK = Annotated[int, Meta(ge=1, le=100)]


class VectorizeSearch(
    Struct,
    tag_field="action",
    tag="search",
    rename="camel",
    frozen=True,
    forbid_unknown_fields=True,
):
    """The ``topK`` nearest vectors to ``vector``, best first."""

    permission: ClassVar[str] = "query"

    vector: VectorValues
    top_k: TopK = 10
    filter: (
        Annotated[
            dict[str, Any],
            Meta(
                description='AND of {"field": value} or {"field": {"$op": value}}'
                " with $eq $ne $in $nin $lt $lte $gt $gte; dotted fields reach "
                "nested metadata"
            ),
        ]
        | None
    ) = None
    namespace: Namespace | None = None
    return_values: bool = False
    return_metadata: ReturnMetadataOption | None = None


class VectorizeQueryById(
    Struct,
    tag_field="action",
    tag="queryById",
    rename="camel",
    frozen=True,
    forbid_unknown_fields=True,
):
    """As ``search``, using a stored vector (which matches itself)."""

    permission: ClassVar[str] = "query"

    vector_id: VectorId
    top_k: TopK = 10
    filter: dict[str, Any] | None = None
    namespace: Namespace | None = None
    return_values: bool = False
    return_metadata: ReturnMetadataOption | None = None


class VectorizeGetByIds(
    Struct,
    tag_field="action",
    tag="getByIds",
    rename="camel",
    frozen=True,
    forbid_unknown_fields=True,
):
    """The stored vectors among ``ids``, in the order asked."""

    permission: ClassVar[str] = "query"

    ids: Annotated[list[VectorId], Meta(extra_json_schema=NOT_EMPTY_LIST)]


class VectorizeDelete(
    Struct,
    tag_field="action",
    tag="delete",
    rename="camel",
    frozen=True,
    forbid_unknown_fields=True,
):
    """Delete ``ids`` whatever their namespace; missing ids are not counted."""

    permission: ClassVar[str] = "write"

    ids: Annotated[list[VectorId], Meta(extra_json_schema=NOT_EMPTY_LIST)]


class VectorizeDescribe(
    Struct,
    tag_field="action",
    tag="describe",
    rename="camel",
    frozen=True,
    forbid_unknown_fields=True,
):
    """The index's size, dimensions and metric."""

    permission: ClassVar[str] = "query"


VECTORIZE_REQUEST = (
    VectorizeUpsert
    | VectorizeInsert
    | VectorizeSearch
    | VectorizeQueryById
    | VectorizeGetByIds
    | VectorizeDelete
    | VectorizeDescribe
)
VECTORIZE_ACTIONS: tuple[str, ...] = (
    "upsert",
    "insert",
    "search",
    "queryById",
    "getByIds",
    "delete",
    "describe",
)

# ----------------------------------------------------------------- responses


class ErrorBody(Struct, frozen=True):
    """Every error: the HTTP status again, and what went wrong and how to fix it."""

    code: int
    message: str


class KVValueBody(Struct, frozen=True):
    value: str | None


class OkBody(Struct, frozen=True):
    ok: bool = True


class KVListBody(Struct, frozen=True):
    keys: list[str]
    cursor: Annotated[str, Meta(description="null on the last page")] | None


class D1MetaBody(Struct, frozen=True):
    changes: int
    duration: Annotated[float, Meta(description="milliseconds")]
    rows_read: int
    rows_written: int
    last_row_id: int | None


class D1ResultBody(Struct, frozen=True):
    results: list[dict[str, Any]]
    meta: D1MetaBody


class MutationBody(Struct, rename="camel", frozen=True):
    count: int
    mutation_id: str
    ok: bool = True


class MatchBody(Struct, omit_defaults=True, frozen=True):
    """``values`` and ``metadata`` appear only when asked for, ``namespace``
    only when the vector has one."""

    id: str
    score: float
    values: list[float] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType | None = UNSET
    namespace: str | UnsetType = UNSET


class MatchesBody(Struct, frozen=True):
    matches: list[MatchBody]
    count: int


class StoredVectorBody(Struct, omit_defaults=True, frozen=True):
    id: str
    values: list[float]
    metadata: dict[str, Any] | UnsetType = UNSET
    namespace: str | UnsetType = UNSET


class VectorsBody(Struct, frozen=True):
    vectors: list[StoredVectorBody]


class IndexInfoBody(Struct, rename="camel", frozen=True):
    vector_count: int
    dimensions: int
    metric: Literal["cosine", "euclidean", "dot-product"]
    processed_up_to_mutation: str | None = None
    processed_up_to_datetime: datetime | None = None


class BindingHealthBody(Struct, frozen=True):
    binding: str
    kind: Literal["kv", "d1", "vectorize"]
    name: str
    driver: str
    ok: bool
    error: str | None = None


class HealthBody(Struct, frozen=True):
    """``ok`` is false, and the status 503, when any binding is unreachable."""

    ok: bool
    bindings: list[BindingHealthBody]


#: Every struct named in the OpenAPI document, in a stable order.
RESPONSE_TYPES: tuple[type[Struct], ...] = (
    ErrorBody,
    KVValueBody,
    OkBody,
    KVListBody,
    D1ResultBody,
    MutationBody,
    MatchesBody,
    VectorsBody,
    IndexInfoBody,
    HealthBody,
)
