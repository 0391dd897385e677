"""The embedded SQLite driver: KV, D1 and Vectorize from files in one folder.

URLs::

    sqlite:///relative/dir     relative to the working directory
    sqlite:////absolute/dir    absolute
    sqlite://:memory:          nothing on disk; lives as long as the driver

Options: ``?busy_timeout_ms=N`` sets how long a statement waits for another
process's write lock (default 5000); ``?statement_timeout=S`` sets how many
seconds one D1 statement may run before it is cancelled (default 30, as on
the postgres driver). Both may be given, joined with ``&``.

Layout inside the folder (created on first use)::

    kv.sqlite3                 every KV namespace, keyed by (namespace, key)
    d1-<name>.sqlite3          one file per declared D1 database, user data only
    vectorize-<name>.sqlite3   one file per Vectorize index

Every file runs in WAL mode with a busy timeout, so several server workers
can share the folder. D1 files use ``synchronous=FULL``: a D1 write that has
been answered must survive a power cut, as it does on Cloudflare. KV and
Vectorize files use ``synchronous=NORMAL``, which in WAL mode never corrupts
the file and loses nothing when the process crashes; only the last
transactions before an OS crash or power cut may be lost, an acceptable trade
for a cache-like store whose Cloudflare original is eventually consistent.
"""

from __future__ import annotations

import logging
import math
import os
import re
from pathlib import Path
from typing import ClassVar, NamedTuple
from urllib.parse import parse_qsl

from edgebind.drivers import Driver
from edgebind.errors import InvalidArgument
from edgebind.resource import Clock, Kind, ResourceSpec, system_clock
from edgebind_sqlite.connection import BUSY_TIMEOUT_MS, SQLiteFile
from edgebind_sqlite.d1 import (
    STATEMENT_TIMEOUT,
    D1Guard,
    SQLiteD1Database,
    prepare_d1_connection,
)
from edgebind_sqlite.kv import KVStore, SQLiteKVNamespace, create_kv_schema
from edgebind_sqlite.vectorize import SQLiteVectorIndex, VectorStore

__all__ = ["SQLiteDriver", "parse_sqlite_url"]

logger = logging.getLogger(__name__)

MEMORY = ":memory:"
_SCHEME = "sqlite://"
#: Resource names become file names; the config allows exactly these.
_FILE_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_URL_HELP = (
    "write sqlite:///relative/dir (relative to the working directory), "
    "sqlite:////absolute/dir, or sqlite://:memory:"
)
_BUSY_OPTION = "busy_timeout_ms"
_TIMEOUT_OPTION = "statement_timeout"
_OPTIONS_HELP = (
    f"the sqlite driver's query string options are {_BUSY_OPTION}=<milliseconds> "
    f"and {_TIMEOUT_OPTION}=<seconds>"
)
#: SQLite keeps the busy timeout in a C int.
_MAX_BUSY_TIMEOUT_MS = 2**31 - 1
#: Plain decimal seconds only: float() would also take "inf", "nan", "1e3",
#: "1_0", padding blanks and non-ASCII digits, none of which a URL should mean.
_SECONDS = re.compile(r"[0-9]+(?:\.[0-9]*)?|\.[0-9]+")


class _Options(NamedTuple):
    busy_timeout_ms: int = BUSY_TIMEOUT_MS
    statement_timeout: float = STATEMENT_TIMEOUT


def parse_sqlite_url(url: str) -> Path | None:
    """The data directory of a ``sqlite://`` URL, or None for ``:memory:``.

    Raises ValueError saying how to write the URL when it is malformed.
    """
    return _parse_url(url)[0]


def sqlite_busy_timeout_ms(url: str) -> int:
    """The ``busy_timeout_ms`` option of a ``sqlite://`` URL, or the default."""
    return _parse_url(url)[1].busy_timeout_ms


def sqlite_statement_timeout(url: str) -> float:
    """The ``statement_timeout`` option (seconds) of a ``sqlite://`` URL, or
    the default."""
    return _parse_url(url)[1].statement_timeout


def _parse_options(url: str, query: str) -> _Options:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        pairs = [(query, "")]
    options = _Options()
    seen: set[str] = set()
    for key, value in pairs:
        if key not in (_BUSY_OPTION, _TIMEOUT_OPTION) or key in seen:
            what = "is given twice" if key in seen else "is not an option"
            raise ValueError(f"{url!r}: {key!r} {what}; {_OPTIONS_HELP}; {_URL_HELP}")
        seen.add(key)
        if key == _BUSY_OPTION:
            options = options._replace(busy_timeout_ms=_busy_timeout(url, value))
        else:
            options = options._replace(statement_timeout=_seconds(url, value))
    return options


def _busy_timeout(url: str, value: str) -> int:
    if not value.isascii() or not value.isdigit():
        raise ValueError(
            f"{url!r}: {_BUSY_OPTION} must be a whole number of "
            f"milliseconds, 0 or more, not {value!r}"
        )
    busy = int(value)
    if busy > _MAX_BUSY_TIMEOUT_MS:
        raise ValueError(
            f"{url!r}: {_BUSY_OPTION} may be at most {_MAX_BUSY_TIMEOUT_MS}"
        )
    return busy


def _seconds(url: str, value: str) -> float:
    # Above 0, as on the postgres driver: 0 would cancel every statement, and
    # "no limit" is what this option exists to rule out.
    seconds = float(value) if _SECONDS.fullmatch(value) else -1.0
    if not (seconds > 0 and math.isfinite(seconds)):
        raise ValueError(
            f"{url!r}: {_TIMEOUT_OPTION} must be a number of seconds above 0, "
            f"such as 30 or 0.5, not {value!r}"
        )
    return seconds


def _parse_url(url: str) -> tuple[Path | None, _Options]:
    if url[: len(_SCHEME)].lower() != _SCHEME:
        raise ValueError(f"{url!r} is not a sqlite:// URL; {_URL_HELP}")
    rest = url[len(_SCHEME) :]
    if "#" in rest:
        raise ValueError(f"{url!r}: the sqlite driver takes no fragment; {_URL_HELP}")
    rest, _, query = rest.partition("?")
    options = _parse_options(url, query) if query else _Options()
    return _parse_location(url, rest), options


def _parse_location(url: str, rest: str) -> Path | None:
    if rest == MEMORY:
        return None
    if rest in ("", "/"):
        raise ValueError(f"{url!r} names no directory; {_URL_HELP}")
    if not rest.startswith("/"):
        host = rest.split("/", 1)[0]
        raise ValueError(
            f"{url!r} names a host ({host!r}), but SQLite files are local; {_URL_HELP}"
        )
    return Path(rest[1:])


def _file_name(kind: str, spec: ResourceSpec) -> str:
    if not _FILE_SAFE_NAME.match(spec.name):
        raise InvalidArgument(
            f"{kind} name {spec.name!r} cannot be used by the sqlite driver; "
            "names are 1-64 letters, digits, '_' or '-', starting with a "
            "letter or digit"
        )
    return f"{kind}-{spec.name}.sqlite3"


class SQLiteDriver(Driver):
    name = "sqlite"
    schemes = ("sqlite",)
    kinds: ClassVar[frozenset[Kind]] = frozenset({"kv", "d1", "vectorize"})
    description = "Embedded SQLite files in one folder (or in memory)."

    kv_capabilities = SQLiteKVNamespace.capabilities
    d1_capabilities = SQLiteD1Database.capabilities
    vectorize_capabilities = SQLiteVectorIndex.capabilities

    def __init__(self, url: str, *, clock: Clock = system_clock) -> None:
        super().__init__(url, clock=clock)
        directory, options = _parse_url(url)
        self.busy_timeout_ms = options.busy_timeout_ms
        #: seconds one D1 statement may run before it is cancelled
        self.statement_timeout = options.statement_timeout
        # Resolved once, so a later chdir does not move the data.
        self.directory: Path | None = (
            None if directory is None else Path(os.path.abspath(directory))
        )
        self._kv: KVStore | None = None
        self._d1: dict[str, tuple[SQLiteFile, D1Guard]] = {}
        self._vectorize: dict[str, VectorStore] = {}

    @classmethod
    def validate_url(cls, url: str) -> None:
        parse_sqlite_url(url)

    def _path(self, file_name: str) -> Path | None:
        return None if self.directory is None else self.directory / file_name

    # ------------------------------------------------------------- opening

    def open_kv(self, spec: ResourceSpec) -> SQLiteKVNamespace:
        if self._kv is None:
            file = SQLiteFile(
                self._path("kv.sqlite3"),
                label="kv",
                synchronous="NORMAL",
                setup=create_kv_schema,
                binding=spec.binding,
                busy_timeout_ms=self.busy_timeout_ms,
            )
            self._kv = KVStore(file, clock=self.clock)
        return SQLiteKVNamespace(spec, store=self._kv, clock=self.clock)

    def open_d1(self, spec: ResourceSpec) -> SQLiteD1Database:
        if spec.name not in self._d1:
            guard = D1Guard()
            file = SQLiteFile(
                self._path(_file_name("d1", spec)),
                label=f"d1-{spec.name}",
                synchronous="FULL",
                setup=lambda conn: prepare_d1_connection(conn, guard),
                statement_cache=False,
                binding=spec.binding,
                busy_timeout_ms=self.busy_timeout_ms,
            )
            self._d1[spec.name] = (file, guard)
        file, guard = self._d1[spec.name]
        return SQLiteD1Database(
            spec, file=file, guard=guard, statement_timeout=self.statement_timeout
        )

    def open_vectorize(self, spec: ResourceSpec) -> SQLiteVectorIndex:
        if spec.name not in self._vectorize:
            file = SQLiteFile(
                self._path(_file_name("vectorize", spec)),
                label=f"vectorize-{spec.name}",
                synchronous="NORMAL",
                binding=spec.binding,
                busy_timeout_ms=self.busy_timeout_ms,
            )
            self._vectorize[spec.name] = VectorStore(file, clock=self.clock)
        return SQLiteVectorIndex(spec, store=self._vectorize[spec.name])

    # ------------------------------------------------------------- closing

    async def aclose(self) -> None:
        """Stop the KV sweeper and close every file; idempotent."""
        kv, self._kv = self._kv, None
        if kv is not None:
            await kv.aclose()
        d1, self._d1 = self._d1, {}
        for file, _guard in d1.values():
            await file.aclose()
        vectorize, self._vectorize = self._vectorize, {}
        for store in vectorize.values():
            await store.file.aclose()
