"""PostgreSQL driver for Edgebind: KV namespaces and D1 databases."""

from edgebind_postgres.driver import PostgresDriver

__all__ = ["PostgresDriver"]
