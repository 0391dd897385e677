"""The text ``edgebind init`` writes: a working, commented starter config."""

from __future__ import annotations

__all__ = ["STARTER_CONFIG_TEXT"]

STARTER_CONFIG_TEXT = '''\
"""Edgebind config: the resources this app uses and where each environment
keeps them. Check it with `uv run edgebind check`; serve it locally with
`uv run edgebind dev`.
"""

from edgebind import define_config

config = define_config(
    # KV namespaces: string values under string keys, with optional TTL.
    # Each binds as NAME_KV unless you give "binding".
    kv={
        "cache": {},
    },
    # D1 databases: one SQL database each. A name alone binds as NAME_DB.
    d1=["main"],
    # Vectorize indexes: fixed dimensions and a metric
    # ("cosine", "euclidean" or "dot-product").
    vectorize=[{"name": "embeddings", "dimensions": 3, "metric": "cosine"}],
    # Where each environment keeps the resources. Choose one with --env or
    # EDGEBIND_ENV (default "dev"). A binding's URL is the first of: an
    # environment variable named after the binding (CACHE_KV=redis://...),
    # the environment's entry for the binding, for the kind, its "default".
    environments={
        "dev": {"default": "sqlite:///.edgebind/dev"},
        # "prod": {
        #     "kv": "redis://127.0.0.1:6379/0",
        #     "d1": "postgresql://app@127.0.0.1/app",
        #     "vectorize": "qdrant://127.0.0.1:6333",
        # },
    },
    # Service keys, sent in the X-EdgeBase-Service-Key header. With none
    # configured, `edgebind dev` creates a root key for local use and keeps it
    # in .edgebind/dev-key. Make keys with `edgebind keys new`, for example:
    # service_keys=[
    #     {"kid": "root", "tier": "root",
    #      "secret_source": "env", "secret_ref": "EDGEBIND_SERVICE_KEY"},
    #     {"kid": "reader", "tier": "scoped",
    #      "scopes": ["kv:namespace:cache:read"],
    #      "secret_sha256": "<the hash edgebind keys new printed>"},
    # ],
)
'''
