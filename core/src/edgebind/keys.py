"""Service keys: who may call the HTTP API, and with which scopes.

A key is sent in the ``X-EdgeBase-Service-Key`` header. A root key passes
every scope and may be any string. A scoped key is written
``jb_{kid}_{secret}``; its kid picks the one config entry it is checked
against. The ring keeps only SHA-256 digests of the secrets and compares them
with :func:`hmac.compare_digest`, so neither a secret nor the time a
comparison takes leaks from it.

Scopes read ``{domain}:{type}:{name}:{action}``, e.g.
``kv:namespace:cache:read``; ``*`` matches any one segment and ``"*"`` alone
matches everything.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from edgebind.errors import ConfigError, InvalidArgument, Unauthorized
from edgebind.resource import Clock, Kind

if TYPE_CHECKING:
    from edgebind.config import EdgebindConfig, ServiceKeyConfig

__all__ = [
    "KID_PATTERN",
    "SCOPE_ACTIONS",
    "KeyRing",
    "Principal",
    "Tier",
    "generate_key",
    "generate_secret",
    "required_scope",
    "scope_matches",
    "sha256_hex",
    "validate_kid",
    "validate_scope",
]

logger = logging.getLogger(__name__)

Tier = Literal["root", "scoped"]

#: A kid has no underscore: the key ``jb_{kid}_{secret}`` splits on the first.
KID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"
_KID_RE = re.compile(KID_PATTERN)

#: domain -> (type word, actions)
SCOPE_ACTIONS: dict[str, tuple[str, frozenset[str]]] = {
    "kv": ("namespace", frozenset({"read", "write"})),
    "d1": ("database", frozenset({"exec"})),
    "vectorize": ("index", frozenset({"query", "write"})),
}

_SCOPE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")

#: HTTP action -> scope action, per resource kind
_ACTION_SCOPES: dict[str, dict[str, str]] = {
    "kv": {"get": "read", "list": "read", "set": "write", "delete": "write"},
    "d1": {"exec": "exec", "query": "exec"},
    "vectorize": {
        "search": "query",
        "queryById": "query",
        "getByIds": "query",
        "describe": "query",
        "upsert": "write",
        "insert": "write",
        "delete": "write",
    },
}


# ------------------------------------------------------------------ scopes


def validate_kid(kid: str) -> str:
    """``kid`` unchanged, or ValueError saying what a kid may contain."""
    if not isinstance(kid, str) or not _KID_RE.match(kid):
        raise ValueError(
            f"kid {kid!r} is not valid: use 1-64 letters, digits and '-'; no '_', "
            "because keys are written jb_{kid}_{secret}"
        )
    return kid


def validate_scope(scope: str) -> str:
    """``scope`` unchanged, or ValueError explaining what is wrong with it."""
    if not isinstance(scope, str):
        raise ValueError("a scope must be a string such as 'kv:namespace:cache:read'")
    if scope == "*":
        return scope

    segments = scope.split(":")
    if len(segments) != 4:
        raise ValueError(
            f"scope {scope!r} has {len(segments)} segment(s); write "
            "{domain}:{type}:{name}:{action}, e.g. 'kv:namespace:cache:read', "
            "or '*' for everything"
        )
    domain, type_word, name, action = segments

    if domain != "*" and domain not in SCOPE_ACTIONS:
        raise ValueError(
            f"scope {scope!r} has domain {domain!r}; use kv, d1, vectorize or *"
        )
    if domain == "*":
        type_words = {word for word, _ in SCOPE_ACTIONS.values()}
        actions = frozenset().union(*(acts for _, acts in SCOPE_ACTIONS.values()))
    else:
        word, actions = SCOPE_ACTIONS[domain]
        type_words = {word}

    if type_word != "*" and type_word not in type_words:
        expected = " or ".join(sorted(type_words))
        raise ValueError(
            f"scope {scope!r} has type {type_word!r}; for domain {domain!r} "
            f"write {expected} (or *)"
        )
    if name != "*" and not _SCOPE_NAME_RE.match(name):
        raise ValueError(
            f"scope {scope!r} has resource name {name!r}; use a declared "
            "resource name (letters, digits, '_' and '-') or *"
        )
    if action != "*" and action not in actions:
        raise ValueError(
            f"scope {scope!r} has action {action!r}; for domain {domain!r} use "
            f"{', '.join(sorted(actions))} or *"
        )
    return scope


def scope_matches(pattern: str, scope: str) -> bool:
    """Whether ``pattern`` grants ``scope``, segment by segment."""
    if pattern == "*":
        return True
    wanted = pattern.split(":")
    given = scope.split(":")
    if len(wanted) != len(given):
        return False
    return all(w == "*" or w == g for w, g in zip(wanted, given, strict=True))


def required_scope(kind: Kind, name: str, action: str) -> str:
    """The scope an HTTP ``action`` on resource ``name`` of ``kind`` needs."""
    actions = _ACTION_SCOPES.get(kind)
    if actions is None:
        raise InvalidArgument(f"unknown resource kind {kind!r}")
    scope_action = actions.get(action)
    if scope_action is None:
        raise InvalidArgument(
            f"unknown {kind} action {action!r}; use one of {', '.join(actions)}"
        )
    type_word = SCOPE_ACTIONS[kind][0]
    return f"{kind}:{type_word}:{name}:{scope_action}"


# ----------------------------------------------------------------- secrets


def sha256_hex(text: str) -> str:
    """The hex SHA-256 digest of ``text`` in UTF-8, as ``secret_sha256`` holds."""
    return _digest(text).hex()


def generate_key(kid: str) -> str:
    """A new key ``jb_{kid}_{random}`` with 256 bits of randomness."""
    validate_kid(kid)
    return f"jb_{kid}_{secrets.token_urlsafe(32)}"


#: The plan's name for :func:`generate_key`.
generate_secret = generate_key


def _digest(text: str) -> bytes:
    # surrogatepass keeps the mapping one-to-one even for odd header bytes
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


# --------------------------------------------------------------- principal


@dataclass(frozen=True, slots=True)
class Principal:
    """The holder of a service key that authenticated."""

    kid: str
    tier: Tier
    scopes: tuple[str, ...] = ()

    def allows(self, scope: str) -> bool:
        if self.tier == "root":
            return True
        return any(scope_matches(pattern, scope) for pattern in self.scopes)


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class _KeyEntry:
    kid: str
    tier: Tier
    scopes: tuple[str, ...]
    digest: bytes
    enabled: bool = True
    expires_at: datetime | None = None
    envs: frozenset[str] | None = None
    networks: tuple[Network, ...] | None = None


# ----------------------------------------------------------------- keyring


class KeyRing:
    """The service keys of one environment, holding digests only."""

    def __init__(
        self,
        entries: Iterable[_KeyEntry] = (),
        *,
        env_name: str = "dev",
        clock: Clock = time.time,
    ) -> None:
        self.env_name = env_name
        self.clock = clock
        self._entries = tuple(entries)
        self._roots = tuple(e for e in self._entries if e.tier == "root")
        self._scoped = {e.kid: e for e in self._entries if e.tier == "scoped"}

    @classmethod
    def from_config(
        cls,
        config: EdgebindConfig,
        env_name: str,
        environ: Mapping[str, str] = os.environ,
        clock: Clock = time.time,
    ) -> KeyRing:
        """Resolve every configured key's secret to a digest.

        Raises ConfigError naming the key when a secret cannot be read or does
        not have the form its tier needs. Secrets never appear in messages.
        """
        source = str(config.source_path) if config.source_path else None
        entries: list[_KeyEntry] = []
        inline_kids: list[str] = []

        scoped_prefixes = {
            f"jb_{key.kid}_": key.kid
            for key in config.service_keys
            if key.tier == "scoped"
        }
        for index, key in enumerate(config.service_keys):
            if key.secret is not None:
                inline_kids.append(key.kid)
            digest = _secret_digest(key, index, environ, source, scoped_prefixes)
            constraints = key.constraints
            entries.append(
                _KeyEntry(
                    kid=key.kid,
                    tier=key.tier,
                    scopes=tuple(key.scopes),
                    digest=digest,
                    enabled=key.enabled,
                    expires_at=constraints.expires_at if constraints else None,
                    envs=(
                        frozenset(constraints.env)
                        if constraints and constraints.env is not None
                        else None
                    ),
                    networks=(
                        tuple(ipaddress.ip_network(c) for c in constraints.ip_cidr)
                        if constraints and constraints.ip_cidr is not None
                        else None
                    ),
                )
            )

        if inline_kids:
            logger.warning(
                "Service key(s) %s have their secret inline in the config file; "
                "inline secrets are for development only. Use secret_source='env' "
                "or secret_sha256 elsewhere.",
                ", ".join(inline_kids),
            )
        return cls(entries, env_name=env_name, clock=clock)

    @property
    def has_keys(self) -> bool:
        return bool(self._entries)

    @property
    def kids(self) -> list[str]:
        return [entry.kid for entry in self._entries]

    def with_dev_root_key(self, secret: str, *, kid: str = "dev") -> KeyRing:
        """A copy of this ring with one more root key (``edgebind dev``)."""
        validate_kid(kid)
        if any(entry.kid == kid for entry in self._entries):
            raise ConfigError(
                f"a service key with kid {kid!r} already exists; pick another "
                "kid for the development key",
                field="service_keys",
            )
        if not secret:
            raise ValueError("the development root key must not be empty")
        extra = _KeyEntry(kid=kid, tier="root", scopes=(), digest=_digest(secret))
        return KeyRing(
            (*self._entries, extra), env_name=self.env_name, clock=self.clock
        )

    def authenticate(self, presented: str, *, client_ip: str | None) -> Principal:
        """The principal holding ``presented``, or Unauthorized with a reason.

        A ``jb_{kid}_`` key whose kid names a scoped entry is compared with
        that entry only. Any other key is compared with every root key, all of
        them, so the time taken does not reveal which one matched.
        """
        if not presented or not presented.strip():
            raise Unauthorized("service key header is empty")
        digest = _digest(presented)

        entry = self._scoped_entry_for(presented)
        if entry is not None:
            if not hmac.compare_digest(digest, entry.digest):
                entry = None
        else:
            entry = self._matching_root(digest)
        if entry is None:
            logger.debug("Rejected a service key that matches no configured key.")
            raise Unauthorized(
                "service key is not valid; check the X-EdgeBase-Service-Key header"
            )

        self._check_constraints(entry, client_ip)
        return Principal(kid=entry.kid, tier=entry.tier, scopes=entry.scopes)

    def _scoped_entry_for(self, presented: str) -> _KeyEntry | None:
        if not presented.startswith("jb_"):
            return None
        kid, sep, _ = presented[3:].partition("_")
        if not sep:
            return None
        return self._scoped.get(kid)

    def _matching_root(self, digest: bytes) -> _KeyEntry | None:
        matched: _KeyEntry | None = None
        for entry in self._roots:
            # No early exit: every root digest is compared.
            equal = hmac.compare_digest(digest, entry.digest)
            if equal and matched is None:
                matched = entry
        return matched

    def _check_constraints(self, entry: _KeyEntry, client_ip: str | None) -> None:
        if not entry.enabled:
            raise Unauthorized(f"service key {entry.kid!r} is disabled")

        if entry.expires_at is not None:
            now = self.clock()
            if now >= entry.expires_at.timestamp():
                expired = entry.expires_at.astimezone(UTC).isoformat()
                raise Unauthorized(
                    f"service key {entry.kid!r} expired at {expired}; "
                    "issue a new key or extend its constraints.expires_at"
                )

        if entry.envs is not None and self.env_name not in entry.envs:
            raise Unauthorized(
                f"service key {entry.kid!r} is not valid in environment "
                f"{self.env_name!r}"
            )

        if entry.networks is not None:
            self._check_client_ip(entry, entry.networks, client_ip)

    def _check_client_ip(
        self, entry: _KeyEntry, networks: tuple[Network, ...], client_ip: str | None
    ) -> None:
        if client_ip is None:
            raise Unauthorized(
                f"service key {entry.kid!r} is restricted by client address, and "
                "the client address of this request is unknown"
            )
        try:
            address = ipaddress.ip_address(client_ip.strip())
        except ValueError:
            raise Unauthorized(
                f"service key {entry.kid!r} is restricted by client address, and "
                f"{client_ip!r} is not an IP address"
            ) from None
        if not any(address in network for network in networks):
            raise Unauthorized(
                f"service key {entry.kid!r} is not allowed from client address "
                f"{address}"
            )


def _secret_digest(
    key: ServiceKeyConfig,
    index: int,
    environ: Mapping[str, str],
    source: str | None,
    scoped_prefixes: Mapping[str, str],
) -> bytes:
    path = f"service_keys[{index}]"

    if key.secret_sha256 is not None:
        return bytes.fromhex(key.secret_sha256)

    if key.secret is not None:
        secret = key.secret.get_secret_value().strip()
        field = f"{path}.secret"
    else:
        ref = key.secret_ref
        if ref is None:  # the config model forbids this; keep mypy honest
            raise ConfigError(
                f"service key {key.kid!r} has no secret", source=source, field=path
            )
        # An HTTP header cannot carry surrounding whitespace, so a trailing
        # newline from an env file would make the key impossible to present.
        secret = environ.get(ref, "").strip()
        field = f"{path}.secret_ref"
        if not secret:
            raise ConfigError(
                f"service key {key.kid!r} reads its secret from the environment "
                f"variable {ref}, which is not set; export {ref}=<key> (make one "
                f"with `edgebind keys new --kid {key.kid}`)",
                source=source,
                field=field,
            )

    if key.tier == "root":
        for prefix, scoped_kid in scoped_prefixes.items():
            if secret.startswith(prefix):
                # Such a key would be routed to the scoped entry and never
                # reach the root comparison.
                raise ConfigError(
                    f"root service key {key.kid!r} has a secret starting with "
                    f"{prefix}, the form of scoped key {scoped_kid!r}; give the "
                    "root key a secret that does not start with jb_",
                    source=source,
                    field=field,
                )
    else:
        prefix = f"jb_{key.kid}_"
        if not secret.startswith(prefix) or len(secret) == len(prefix):
            raise ConfigError(
                f"scoped service key {key.kid!r} must be written {prefix}<secret> "
                f"(the kid selects the key); make one with "
                f"`edgebind keys new --kid {key.kid}`",
                source=source,
                field=field,
            )
    return _digest(secret)
