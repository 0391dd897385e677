"""Edgebind: Cloudflare-style KV, D1 and Vectorize on any infrastructure."""

from edgebind.capabilities import D1Capabilities, KVCapabilities, VectorizeCapabilities
from edgebind.config import EdgebindConfig, define_config, load_config
from edgebind.d1 import D1Database, D1Meta, D1Result
from edgebind.drivers import Driver
from edgebind.errors import (
    BackendUnavailable,
    ConfigError,
    Conflict,
    EdgebindError,
    Forbidden,
    InvalidArgument,
    NotFound,
    NotSupported,
    PayloadTooLarge,
    ProvisionError,
    QueryError,
    RequestError,
    ResourceClosed,
    Unauthorized,
)
from edgebind.filters import VectorFilter, parse_filter
from edgebind.hookspecs import hookimpl
from edgebind.keys import KeyRing, Principal
from edgebind.kv import KVListPage, KVNamespace
from edgebind.resource import (
    Clock,
    Kind,
    ProvisionOutcome,
    ProvisionStatus,
    Resource,
    ResourceSpec,
)
from edgebind.rules import AuthContext
from edgebind.runtime import Runtime
from edgebind.vectorize import (
    IndexInfo,
    MutationResult,
    QueryOptions,
    Vector,
    VectorIndex,
    VectorMatch,
)

__version__ = "0.1.0"

__all__ = [
    "AuthContext",
    "BackendUnavailable",
    "Clock",
    "ConfigError",
    "Conflict",
    "D1Capabilities",
    "D1Database",
    "D1Meta",
    "D1Result",
    "Driver",
    "EdgebindConfig",
    "EdgebindError",
    "Forbidden",
    "IndexInfo",
    "InvalidArgument",
    "KVCapabilities",
    "KVListPage",
    "KVNamespace",
    "KeyRing",
    "Kind",
    "MutationResult",
    "NotFound",
    "NotSupported",
    "PayloadTooLarge",
    "Principal",
    "ProvisionError",
    "ProvisionOutcome",
    "ProvisionStatus",
    "QueryError",
    "QueryOptions",
    "RequestError",
    "Resource",
    "ResourceClosed",
    "ResourceSpec",
    "Runtime",
    "Unauthorized",
    "Vector",
    "VectorFilter",
    "VectorIndex",
    "VectorMatch",
    "VectorizeCapabilities",
    "define_config",
    "hookimpl",
    "load_config",
    "parse_filter",
]
