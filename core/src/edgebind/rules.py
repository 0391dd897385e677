"""Access rules for callers without a service key, and who those callers are.

A KV namespace may declare ``rules={"read": f, "write": f}``. Each rule is
called with the caller's :class:`AuthContext` (from a verified bearer token)
or ``None`` for an anonymous caller, and returns a bool or an awaitable bool.
Only a real ``True`` admits: a rule that raises, or returns anything else,
denies, and the denial is logged so the mistake can be found.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from edgebind.errors import Unauthorized

__all__ = [
    "AuthContext",
    "NoTokenVerifier",
    "Rule",
    "TokenVerifier",
    "evaluate_rule",
    "rule_name",
]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AuthContext:
    """The caller behind a verified bearer token.

    ``id`` comes from the ``sub`` claim, ``role`` and ``email`` from claims of
    those names; ``claims`` holds every claim of the token.
    """

    id: str
    role: str | None = None
    email: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)


#: A rule: ``f(auth) -> bool`` or an async function returning bool.
Rule = Callable[[AuthContext | None], bool | Awaitable[bool]]


def rule_name(rule: object) -> str:
    """The name a rule is logged under: module and qualified name."""
    qualname = getattr(rule, "__qualname__", None) or type(rule).__qualname__
    module = getattr(rule, "__module__", None)
    return f"{module}.{qualname}" if module else str(qualname)


async def evaluate_rule(rule: Rule, auth: AuthContext | None) -> bool:
    """Whether ``rule`` admits ``auth``; anything but ``True`` denies.

    The token itself never reaches this function, so nothing logged here can
    reveal it; the log names the rule and what went wrong.
    """
    try:
        result: object = rule(auth)
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        logger.warning(
            "Rule %s raised %s: %s; denying the request.",
            rule_name(rule),
            type(exc).__name__,
            exc,
        )
        return False

    if not isinstance(result, bool):
        logger.warning(
            "Rule %s returned %s instead of a bool; denying the request. "
            "Make the rule return True or False.",
            rule_name(rule),
            type(result).__name__,
        )
        return False
    return result


@runtime_checkable
class TokenVerifier(Protocol):
    """Turns a bearer token into an :class:`AuthContext`.

    ``verify`` raises :class:`~edgebind.errors.Unauthorized` naming the check
    that failed (signature, expiry, issuer, audience, algorithm).
    """

    async def verify(self, token: str) -> AuthContext: ...


class NoTokenVerifier:
    """The verifier of a server without ``auth.jwt``: every token is refused."""

    async def verify(self, token: str) -> AuthContext:
        raise Unauthorized(
            "bearer tokens are not accepted: this server has no auth.jwt "
            "configured; send a service key instead, or configure auth.jwt"
        )
