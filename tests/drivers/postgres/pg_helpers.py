"""Helpers for tests against a real PostgreSQL: unique names and cleanup.

Every test session works in a KV schema of its own and drops every D1
database and role its drivers opened, so parallel runs on one server never
collide and nothing is left behind.
"""

from __future__ import annotations

import logging
import uuid
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import sql

from edgebind.d1 import D1Database
from edgebind.resource import ResourceSpec
from edgebind_postgres import PostgresDriver
from edgebind_postgres.driver import PostgresSettings, d1_identifier

logger = logging.getLogger(__name__)


def with_query(url: str, **params: object) -> str:
    """``url`` with query parameters added (or replaced)."""
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update({key: str(value) for key, value in params.items()})
    return urlunsplit(parts._replace(query=urlencode(query)))


def unique(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:16]}"


class RecordingPostgresDriver(PostgresDriver):
    """The real driver, remembering the D1 databases it opened so tests can
    drop exactly those."""

    opened: ClassVar[set[str]] = set()

    def open_d1(self, spec: ResourceSpec) -> D1Database:
        RecordingPostgresDriver.opened.add(
            d1_identifier(self.settings.main_database, spec.name)
        )
        return super().open_d1(spec)


def admin_connection(url: str) -> psycopg.Connection[tuple[object, ...]]:
    params = PostgresSettings.from_url(url).admin_params
    return psycopg.connect(
        psycopg.conninfo.make_conninfo("", **params), autocommit=True
    )


def drop_d1_storage(url: str, identifiers: set[str]) -> None:
    """DROP the databases and roles named ``identifiers`` if they exist, and
    forget them. Databases go first: a role that owns one cannot be dropped.
    """
    names = sorted(identifiers)
    with admin_connection(url) as conn:
        for identifier in names:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    sql.Identifier(identifier)
                )
            )
        for identifier in names:
            conn.execute(
                sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(identifier))
            )
    identifiers.difference_update(names)


def drop_schema(url: str, schema: str) -> None:
    with admin_connection(url) as conn:
        conn.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
