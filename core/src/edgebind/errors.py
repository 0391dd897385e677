"""The one exception tree of Edgebind.

::

    EdgebindError
    ├── ConfigError              the config file or environment is wrong (CLI exit 2)
    ├── RequestError             the caller asked for something wrong; has ``status``
    │   ├── InvalidArgument      400 — bad key, value, TTL, vector, filter, ...
    │   │   └── QueryError       400 — a D1 statement failed; carries the DB's text
    │   ├── Unauthorized         401 — bad or insufficient service key / token
    │   ├── Forbidden            403 — no key and no rule admits the caller
    │   ├── NotFound             404 — undeclared resource, unknown vector id
    │   ├── Conflict             409 — insert of an existing vector id
    │   └── PayloadTooLarge      413 — request body over the server's limit
    ├── BackendUnavailable       503 — the driver cannot reach its backend
    ├── NotSupported             a driver does not offer an optional operation
    ├── ResourceClosed           a resource was used after ``aclose()``
    └── ProvisionError           503 — an existing resource differs from the config

Drivers translate their backend library's exceptions into the most specific
class here, chained with ``from``, so the server maps every failure to a status
code without knowing any driver.
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailable",
    "ConfigError",
    "Conflict",
    "EdgebindError",
    "Forbidden",
    "InvalidArgument",
    "NotFound",
    "NotSupported",
    "PayloadTooLarge",
    "ProvisionError",
    "QueryError",
    "RequestError",
    "ResourceClosed",
    "Unauthorized",
]


class EdgebindError(Exception):
    """Base class of every error Edgebind raises on purpose."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigError(EdgebindError):
    """The configuration cannot be used.

    ``source`` names the file (or "environment"), ``field`` the dotted path of
    the offending setting, when one is known.
    """

    def __init__(
        self, message: str, *, source: str | None = None, field: str | None = None
    ) -> None:
        parts = []
        if source:
            parts.append(source)
        if field:
            parts.append(field)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.source = source
        self.field = field
        self.detail = message


class RequestError(EdgebindError):
    """An error that is the caller's to fix; ``status`` is its HTTP status."""

    status = 400


class InvalidArgument(RequestError):
    status = 400


class QueryError(InvalidArgument):
    """A D1 statement failed; the message carries the database's own text."""


class Unauthorized(RequestError):
    status = 401


class Forbidden(RequestError):
    status = 403


class NotFound(RequestError):
    status = 404


class Conflict(RequestError):
    status = 409


class PayloadTooLarge(RequestError):
    status = 413


class BackendUnavailable(EdgebindError):
    """The backend behind a binding cannot be reached right now."""

    status = 503

    def __init__(self, message: str, *, driver: str = "", binding: str = "") -> None:
        where = ", ".join(
            part
            for part in (
                f"binding {binding}" if binding else "",
                f"driver {driver}" if driver else "",
            )
            if part
        )
        text = f"{message} ({where})" if where else message
        super().__init__(text)
        self.driver = driver
        self.binding = binding


class NotSupported(EdgebindError):
    """The driver does not offer this optional operation."""

    status = 501


class ResourceClosed(EdgebindError):
    """The resource was used after ``aclose()``."""

    status = 503


class ProvisionError(EdgebindError):
    """An existing backend resource does not match the declared settings.

    At request time this is a 503: the resource cannot be served until the
    config or the backend is fixed, and the message says which settings
    differ. ``edgebind provision`` reports it as a mismatch instead.
    """

    status = 503
