"""Access rules and token verifiers (DESIGN §6)."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from edgebind.errors import Unauthorized
from edgebind.rules import (
    AuthContext,
    NoTokenVerifier,
    TokenVerifier,
    evaluate_rule,
    rule_name,
)

ALICE = AuthContext(id="u1", role="admin", email="a@example.com", claims={"sub": "u1"})


def signed_in(auth: AuthContext | None) -> bool:
    return auth is not None


async def admins_only(auth: AuthContext | None) -> bool:
    return auth is not None and auth.role == "admin"


def broken(auth: AuthContext | None) -> bool:
    raise KeyError("role")


async def broken_async(auth: AuthContext | None) -> bool:
    raise RuntimeError("database down")


async def test_sync_rule() -> None:
    assert await evaluate_rule(signed_in, ALICE) is True
    assert await evaluate_rule(signed_in, None) is False


async def test_async_rule() -> None:
    assert await evaluate_rule(admins_only, ALICE) is True
    user = dataclasses.replace(ALICE, role="user")
    assert await evaluate_rule(admins_only, user) is False


async def test_lambda_rule() -> None:
    assert await evaluate_rule(lambda auth: True, None) is True


@pytest.mark.parametrize("rule", [broken, broken_async])
async def test_raising_rule_denies_and_is_logged(
    rule: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="edgebind.rules"):
        assert await evaluate_rule(rule, ALICE) is False  # type: ignore[arg-type]

    record = caplog.records[-1]
    assert record.levelno == logging.WARNING
    assert rule_name(rule) in record.getMessage()
    assert "broken" in record.getMessage()
    assert "denying" in record.getMessage()


@pytest.mark.parametrize("result", [1, "yes", None, [True]])
async def test_non_bool_result_denies(
    result: object, caplog: pytest.LogCaptureFixture
) -> None:
    def sloppy(auth: AuthContext | None) -> object:
        return result

    with caplog.at_level(logging.WARNING, logger="edgebind.rules"):
        assert await evaluate_rule(sloppy, None) is False  # type: ignore[arg-type]

    assert "instead of a bool" in caplog.text
    assert "sloppy" in caplog.text


async def test_awaitable_non_bool_denies() -> None:
    async def sloppy(auth: AuthContext | None) -> object:
        return 1

    assert await evaluate_rule(sloppy, None) is False  # type: ignore[arg-type]


def test_rule_name() -> None:
    assert rule_name(signed_in) == f"{__name__}.signed_in"

    class Callable:
        def __call__(self, auth: AuthContext | None) -> bool:
            return True

    assert "Callable" in rule_name(Callable())


def test_auth_context_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        ALICE.role = "user"  # type: ignore[misc]
    assert AuthContext(id="x").claims == {}


async def test_no_token_verifier_refuses_every_token() -> None:
    verifier = NoTokenVerifier()

    assert isinstance(verifier, TokenVerifier)
    with pytest.raises(Unauthorized) as caught:
        await verifier.verify("eyJhbGciOiJIUzI1NiJ9.e30.sig")

    assert caught.value.status == 401
    assert "no auth.jwt configured" in caught.value.message
    assert "eyJ" not in caught.value.message
