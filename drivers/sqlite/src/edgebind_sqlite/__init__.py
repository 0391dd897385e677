"""Embedded SQLite driver for Edgebind: KV, D1 and Vectorize."""

from edgebind_sqlite.driver import SQLiteDriver, parse_sqlite_url

__all__ = ["SQLiteDriver", "parse_sqlite_url"]
