"""Redis driver for Edgebind: KV namespaces on a Redis server."""

from edgebind_redis.driver import RedisDriver
from edgebind_redis.kv import RedisKVNamespace

__all__ = ["RedisDriver", "RedisKVNamespace"]
