"""The config the client tests serve (see tests.servers.serve_in_thread)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgebind.config import EdgebindConfig, define_config
from edgebind.keys import sha256_hex

ROOT_KEY = "root-key-for-client-tests"


def make_config(data_dir: Path, **overrides: Any) -> EdgebindConfig:
    """KV "cache", D1 "main", Vectorize "embeddings" (3 dims, cosine) on
    SQLite in ``data_dir``, with one root key."""
    settings: dict[str, Any] = {
        "kv": {"cache": {}},
        "d1": ["main"],
        "vectorize": [{"name": "embeddings", "dimensions": 3, "metric": "cosine"}],
        "service_keys": [
            {"kid": "root", "tier": "root", "secret_sha256": sha256_hex(ROOT_KEY)}
        ],
        "environments": {"dev": {"default": f"sqlite:///{data_dir}"}},
    }
    settings.update(overrides)
    return define_config(**settings)
