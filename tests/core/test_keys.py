"""Service keys, scopes and the key ring (DESIGN §5)."""

from __future__ import annotations

import hmac
import logging
from datetime import UTC, datetime
from typing import Any

import pytest

from edgebind.config import EdgebindConfig, define_config
from edgebind.errors import ConfigError, InvalidArgument, Unauthorized
from edgebind.keys import (
    KeyRing,
    Principal,
    generate_key,
    generate_secret,
    required_scope,
    scope_matches,
    sha256_hex,
    validate_kid,
    validate_scope,
)

ROOT_SECRET = "root-secret-aaaaaaaaaaaaaaaa"
OTHER_ROOT = "second-root-bbbbbbbbbbbbbbbb"
SCOPED_SECRET = "jb_analytics_cccccccccccccccccccc"
EXPIRY = datetime(2027, 6, 30, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_config(*service_keys: dict[str, Any]) -> EdgebindConfig:
    return define_config(
        service_keys=list(service_keys),
        environments={"dev": {}, "prod": {}},
    )


def root(kid: str = "root", ref: str = "ROOT_KEY") -> dict[str, Any]:
    return {"kid": kid, "tier": "root", "secret_source": "env", "secret_ref": ref}


def scoped(kid: str = "analytics") -> dict[str, Any]:
    return {
        "kid": kid,
        "tier": "scoped",
        "scopes": ["d1:database:analytics:exec"],
        "secret_source": "env",
        "secret_ref": "SCOPED_KEY",
    }


ENVIRON = {
    "ROOT_KEY": ROOT_SECRET,
    "ROOT2": OTHER_ROOT,
    "ROOT3": "third-root-eeeeeeeeeeeeeeee",
    "SCOPED_KEY": SCOPED_SECRET,
}


def ring(
    *service_keys: dict[str, Any],
    env_name: str = "dev",
    clock: FakeClock | None = None,
) -> KeyRing:
    return KeyRing.from_config(
        make_config(*service_keys),
        env_name,
        environ=ENVIRON,
        clock=clock or FakeClock(EXPIRY.timestamp() - 100),
    )


# ------------------------------------------------------------------ scopes


@pytest.mark.parametrize(
    "scope",
    [
        "*",
        "kv:namespace:cache:read",
        "kv:namespace:cache:write",
        "kv:namespace:*:*",
        "kv:*:cache:read",
        "d1:database:analytics:exec",
        "vectorize:index:embeddings:query",
        "vectorize:index:embeddings:write",
        "*:*:*:*",
        "*:namespace:cache:read",
        "*:index:x:exec",
    ],
)
def test_valid_scopes(scope: str) -> None:
    assert validate_scope(scope) == scope


@pytest.mark.parametrize(
    ("scope", "complaint"),
    [
        ("kv", "segment(s)"),
        ("kv:namespace:cache", "segment(s)"),
        ("kv:namespace:cache:read:extra", "segment(s)"),
        ("r2:bucket:files:read", "domain 'r2'"),
        ("kv:database:cache:read", "type 'database'"),
        ("d1:namespace:analytics:exec", "type 'namespace'"),
        ("vectorize:namespace:ix:query", "type 'namespace'"),
        ("*:table:x:read", "type 'table'"),
        ("kv:namespace:cache:exec", "action 'exec'"),
        ("d1:database:analytics:read", "action 'read'"),
        ("vectorize:index:ix:read", "action 'read'"),
        ("*:*:*:delete", "action 'delete'"),
        ("kv:namespace::read", "resource name ''"),
        ("kv:namespace:bad name:read", "resource name"),
        ("", "segment(s)"),
        ("**", "segment(s)"),
    ],
)
def test_invalid_scopes(scope: str, complaint: str) -> None:
    with pytest.raises(ValueError, match="scope") as caught:
        validate_scope(scope)

    assert complaint in str(caught.value)


def test_scope_must_be_a_string() -> None:
    with pytest.raises(ValueError, match="must be a string"):
        validate_scope(7)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("pattern", "scope", "expected"),
    [
        ("*", "kv:namespace:cache:read", True),
        ("kv:namespace:cache:read", "kv:namespace:cache:read", True),
        ("kv:namespace:cache:read", "kv:namespace:cache:write", False),
        ("kv:namespace:cache:read", "kv:namespace:other:read", False),
        ("kv:namespace:*:read", "kv:namespace:other:read", True),
        ("kv:namespace:cache:*", "kv:namespace:cache:write", True),
        ("*:*:*:*", "vectorize:index:ix:query", True),
        ("*:*:*:read", "kv:namespace:cache:write", False),
        ("kv:*", "kv:namespace:cache:read", False),
        ("kv:namespace:cache:read", "kv:namespace:cache", False),
    ],
)
def test_scope_matches(pattern: str, scope: str, expected: bool) -> None:
    assert scope_matches(pattern, scope) is expected


@pytest.mark.parametrize(
    ("kind", "action", "scope"),
    [
        ("kv", "get", "kv:namespace:n:read"),
        ("kv", "list", "kv:namespace:n:read"),
        ("kv", "set", "kv:namespace:n:write"),
        ("kv", "delete", "kv:namespace:n:write"),
        ("d1", "exec", "d1:database:n:exec"),
        ("d1", "query", "d1:database:n:exec"),
        ("vectorize", "search", "vectorize:index:n:query"),
        ("vectorize", "queryById", "vectorize:index:n:query"),
        ("vectorize", "getByIds", "vectorize:index:n:query"),
        ("vectorize", "describe", "vectorize:index:n:query"),
        ("vectorize", "upsert", "vectorize:index:n:write"),
        ("vectorize", "insert", "vectorize:index:n:write"),
        ("vectorize", "delete", "vectorize:index:n:write"),
    ],
)
def test_required_scope(kind: Any, action: str, scope: str) -> None:
    assert required_scope(kind, "n", action) == scope
    assert validate_scope(scope) == scope


def test_required_scope_of_unknown_action_or_kind() -> None:
    with pytest.raises(InvalidArgument, match="unknown kv action 'upsert'"):
        required_scope("kv", "n", "upsert")
    with pytest.raises(InvalidArgument, match="unknown resource kind"):
        required_scope("r2", "n", "get")  # type: ignore[arg-type]


def test_principal_allows() -> None:
    root_principal = Principal("root", "root")
    reader = Principal("r", "scoped", ("kv:namespace:cache:read",))
    wild = Principal("w", "scoped", ("kv:namespace:*:*", "d1:database:main:exec"))
    everything = Principal("e", "scoped", ("*",))
    nothing = Principal("n", "scoped", ())

    assert root_principal.allows("vectorize:index:ix:write")
    assert reader.allows("kv:namespace:cache:read")
    assert not reader.allows("kv:namespace:cache:write")
    assert wild.allows("kv:namespace:sessions:write")
    assert wild.allows("d1:database:main:exec")
    assert not wild.allows("d1:database:other:exec")
    assert everything.allows("vectorize:index:ix:write")
    assert not nothing.allows("kv:namespace:cache:read")


# ----------------------------------------------------------------- secrets


def test_generate_key() -> None:
    first = generate_key("analytics")
    second = generate_secret("analytics")

    assert first.startswith("jb_analytics_")
    assert len(first) > len("jb_analytics_") + 40
    assert first != second
    with pytest.raises(ValueError, match="no '_'"):
        generate_key("bad_kid")


def test_validate_kid() -> None:
    assert validate_kid("a-1") == "a-1"
    with pytest.raises(ValueError, match="kid"):
        validate_kid("")


def test_sha256_hex() -> None:
    assert sha256_hex("abc") == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )


# --------------------------------------------------------- building a ring


def test_ring_from_env_secrets() -> None:
    keyring = ring(root(), scoped())

    assert keyring.has_keys
    assert keyring.kids == ["root", "analytics"]
    assert keyring.authenticate(ROOT_SECRET, client_ip=None).tier == "root"


def test_env_secret_with_a_trailing_newline_still_matches() -> None:
    # `echo key > file` and many env-file loaders leave a newline behind; a
    # header value can never carry it, so the ring must not keep it either.
    config = make_config(root(ref="FROM_FILE"))
    keyring = KeyRing.from_config(
        config, "dev", environ={"FROM_FILE": f"{ROOT_SECRET}\n"}
    )

    assert keyring.authenticate(ROOT_SECRET, client_ip=None).kid == "root"


def test_empty_ring() -> None:
    keyring = ring()

    assert not keyring.has_keys
    with pytest.raises(Unauthorized):
        keyring.authenticate(ROOT_SECRET, client_ip=None)


def test_missing_env_var_names_key_and_var() -> None:
    with pytest.raises(ConfigError) as caught:
        KeyRing.from_config(make_config(root(ref="NOT_SET")), "dev", environ={})

    assert caught.value.field == "service_keys[0].secret_ref"
    assert "'root'" in caught.value.detail
    assert "NOT_SET" in caught.value.detail


def test_inline_secret_warns_once(caplog: pytest.LogCaptureFixture) -> None:
    config = make_config(
        {"kid": "a", "tier": "root", "secret_source": "inline", "secret": "aaaa"},
        {"kid": "b", "tier": "root", "secret": "bbbb"},
    )

    with caplog.at_level(logging.WARNING, logger="edgebind.keys"):
        keyring = KeyRing.from_config(config, "dev", environ={})

    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "development only" in warnings[0].getMessage()
    assert "a, b" in warnings[0].getMessage()
    assert "aaaa" not in caplog.text and "bbbb" not in caplog.text
    assert keyring.authenticate("bbbb", client_ip=None).kid == "b"


def test_hashed_secret() -> None:
    config = make_config(
        {"kid": "h", "tier": "root", "secret_sha256": sha256_hex(ROOT_SECRET).upper()}
    )

    keyring = KeyRing.from_config(config, "dev", environ={})

    assert keyring.authenticate(ROOT_SECRET, client_ip=None).kid == "h"


def test_scoped_secret_must_have_the_kid_prefix() -> None:
    environ = {"SCOPED_KEY": "jb_other_dddddddddddd"}

    with pytest.raises(ConfigError) as caught:
        KeyRing.from_config(make_config(scoped()), "dev", environ=environ)

    assert caught.value.field == "service_keys[0].secret_ref"
    assert "jb_analytics_<secret>" in caught.value.detail
    assert "dddddddddddd" not in str(caught.value)


def test_scoped_secret_needs_something_after_the_prefix() -> None:
    with pytest.raises(ConfigError, match="jb_analytics_<secret>"):
        KeyRing.from_config(
            make_config(scoped()), "dev", environ={"SCOPED_KEY": "jb_analytics_"}
        )


def test_scoped_inline_secret_prefix_is_checked() -> None:
    config = make_config(
        {
            "kid": "analytics",
            "tier": "scoped",
            "scopes": ["*"],
            "secret": "no-prefix-here",
        }
    )

    with pytest.raises(ConfigError) as caught:
        KeyRing.from_config(config, "dev", environ={})

    assert caught.value.field == "service_keys[0].secret"


def test_root_secret_in_a_scoped_keys_form_is_rejected() -> None:
    environ = {"ROOT_KEY": "jb_analytics_rootsecret", "SCOPED_KEY": SCOPED_SECRET}

    with pytest.raises(ConfigError) as caught:
        KeyRing.from_config(make_config(root(), scoped()), "dev", environ=environ)

    assert caught.value.field == "service_keys[0].secret_ref"
    assert "rootsecret" not in str(caught.value)


def test_with_dev_root_key() -> None:
    keyring = ring(root())

    extended = keyring.with_dev_root_key("dev-secret")

    assert extended.authenticate("dev-secret", client_ip=None).kid == "dev"
    assert extended.authenticate(ROOT_SECRET, client_ip=None).kid == "root"
    assert extended.env_name == keyring.env_name
    with pytest.raises(Unauthorized):
        keyring.authenticate("dev-secret", client_ip=None)
    with pytest.raises(ConfigError, match="already exists"):
        extended.with_dev_root_key("again")
    with pytest.raises(ValueError, match="must not be empty"):
        keyring.with_dev_root_key("")
    assert KeyRing().with_dev_root_key("x").has_keys


# ------------------------------------------------------------ authenticate


@pytest.mark.parametrize("presented", ["", "   "])
def test_empty_key(presented: str) -> None:
    with pytest.raises(Unauthorized, match="service key header is empty"):
        ring(root()).authenticate(presented, client_ip=None)


def test_root_and_scoped_principals() -> None:
    keyring = ring(root(), scoped())

    root_principal = keyring.authenticate(ROOT_SECRET, client_ip=None)
    scoped_principal = keyring.authenticate(SCOPED_SECRET, client_ip=None)

    assert root_principal == Principal("root", "root", ())
    assert scoped_principal == Principal(
        "analytics", "scoped", ("d1:database:analytics:exec",)
    )
    assert scoped_principal.allows("d1:database:analytics:exec")
    assert not scoped_principal.allows("kv:namespace:cache:read")


@pytest.mark.parametrize(
    "presented",
    [
        "wrong",
        ROOT_SECRET + "x",
        "jb_analytics_wrong",
        "jb_unknown_cccccccccccccccccccc",
        "jb_analytics",
    ],
)
def test_wrong_keys_are_rejected_without_echoing(presented: str) -> None:
    with pytest.raises(Unauthorized) as caught:
        ring(root(), scoped()).authenticate(presented, client_ip=None)

    assert caught.value.status == 401
    assert "not valid" in caught.value.message
    assert presented not in caught.value.message


def test_root_key_may_start_with_jb_of_an_unknown_kid() -> None:
    environ = {"ROOT_KEY": "jb_nobody_rootsecret"}
    keyring = KeyRing.from_config(make_config(root()), "dev", environ=environ)

    assert keyring.authenticate("jb_nobody_rootsecret", client_ip=None).kid == "root"


class CountingCompare:
    def __init__(self) -> None:
        self.calls = 0
        self.compare = hmac.compare_digest

    def __call__(self, a: bytes, b: bytes) -> bool:
        self.calls += 1
        return self.compare(a, b)


def test_every_root_digest_is_compared(monkeypatch: pytest.MonkeyPatch) -> None:
    keyring = ring(
        root("first"), root("second", ref="ROOT2"), root("third", ref="ROOT3"), scoped()
    )
    counter = CountingCompare()
    monkeypatch.setattr("edgebind.keys.hmac.compare_digest", counter)

    # The first root matches; the other two are still compared.
    assert keyring.authenticate(ROOT_SECRET, client_ip=None).kid == "first"
    assert counter.calls == 3

    counter.calls = 0
    with pytest.raises(Unauthorized):
        keyring.authenticate("nothing-matches", client_ip=None)
    assert counter.calls == 3


def test_scoped_key_is_compared_with_its_entry_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    keyring = ring(root(), root("second", ref="ROOT2"), scoped())
    counter = CountingCompare()
    monkeypatch.setattr("edgebind.keys.hmac.compare_digest", counter)

    assert keyring.authenticate(SCOPED_SECRET, client_ip=None).kid == "analytics"
    assert counter.calls == 1

    counter.calls = 0
    with pytest.raises(Unauthorized):
        keyring.authenticate("jb_analytics_guess", client_ip=None)
    assert counter.calls == 1


def test_disabled_key() -> None:
    keyring = ring({**root(), "enabled": False})

    with pytest.raises(Unauthorized, match="service key 'root' is disabled"):
        keyring.authenticate(ROOT_SECRET, client_ip=None)


def test_expiry_follows_the_clock() -> None:
    clock = FakeClock(EXPIRY.timestamp() - 1)
    keyring = ring(
        {**root(), "constraints": {"expires_at": "2027-06-30T00:00:00Z"}}, clock=clock
    )

    assert keyring.authenticate(ROOT_SECRET, client_ip=None).kid == "root"

    clock.now = EXPIRY.timestamp()
    with pytest.raises(Unauthorized) as caught:
        keyring.authenticate(ROOT_SECRET, client_ip=None)
    assert "expired at 2027-06-30T00:00:00+00:00" in caught.value.message


def test_expiry_in_another_time_zone() -> None:
    clock = FakeClock(EXPIRY.timestamp() - 1)
    keyring = ring(
        {**root(), "constraints": {"expires_at": "2027-06-30T02:00:00+02:00"}},
        clock=clock,
    )

    keyring.authenticate(ROOT_SECRET, client_ip=None)
    clock.now += 1
    with pytest.raises(Unauthorized, match="2027-06-30T00:00:00"):
        keyring.authenticate(ROOT_SECRET, client_ip=None)


def test_env_constraint() -> None:
    only_prod = {**scoped(), "constraints": {"env": ["prod"]}}

    assert ring(only_prod, env_name="prod").authenticate(SCOPED_SECRET, client_ip=None)
    with pytest.raises(Unauthorized, match="not valid in environment 'dev'"):
        ring(only_prod, env_name="dev").authenticate(SCOPED_SECRET, client_ip=None)


@pytest.mark.parametrize(
    ("client_ip", "allowed"),
    [
        ("10.1.2.3", True),
        ("192.168.0.7", True),
        ("2001:db8::1", True),
        ("11.0.0.1", False),
        ("192.168.1.7", False),
        ("2001:db9::1", False),
    ],
)
def test_ip_constraint(client_ip: str, allowed: bool) -> None:
    keyring = ring(
        {
            **root(),
            "constraints": {"ip_cidr": ["10.0.0.0/8", "192.168.0.7", "2001:db8::/32"]},
        }
    )

    if allowed:
        assert keyring.authenticate(ROOT_SECRET, client_ip=client_ip).kid == "root"
    else:
        with pytest.raises(Unauthorized, match=f"client address {client_ip}"):
            keyring.authenticate(ROOT_SECRET, client_ip=client_ip)


def test_ip_constraint_without_client_address_denies() -> None:
    keyring = ring({**root(), "constraints": {"ip_cidr": "10.0.0.0/8"}})

    with pytest.raises(Unauthorized, match="client address of this request is unknown"):
        keyring.authenticate(ROOT_SECRET, client_ip=None)


def test_ip_constraint_with_garbage_address_denies() -> None:
    keyring = ring({**root(), "constraints": {"ip_cidr": "10.0.0.0/8"}})

    with pytest.raises(Unauthorized, match="is not an IP address"):
        keyring.authenticate(ROOT_SECRET, client_ip="10.0.0.1, 10.0.0.2")


def test_constraints_of_one_key_do_not_affect_another() -> None:
    keyring = ring(
        {**root(), "enabled": False},
        {**scoped(), "constraints": {"ip_cidr": ["10.0.0.0/8"]}},
        root("second", ref="ROOT2"),
    )

    assert keyring.authenticate(OTHER_ROOT, client_ip=None).kid == "second"
    assert keyring.authenticate(SCOPED_SECRET, client_ip="10.0.0.1").kid == "analytics"
