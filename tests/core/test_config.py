"""Config models, loading and binding resolution (DESIGN §4)."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from edgebind.capabilities import MAX_VECTOR_DIMENSIONS
from edgebind.config import (
    DEFAULT_MAX_BODY_BYTES,
    EdgebindConfig,
    default_binding,
    define_config,
    load_config,
    resolve_bindings,
    starter_config,
)
from edgebind.errors import ConfigError

SECRET = "jb_analytics_s3cr3t-value-never-shown"


def config_error(**settings: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        define_config(**settings)
    return caught.value


# ------------------------------------------------------------------ models


def test_starter_config_declares_the_dev_resources() -> None:
    config = starter_config("/srv/data")

    assert list(config.kv) == ["cache"]
    assert list(config.d1) == ["main"]
    assert config.vectorize["embeddings"].dimensions == 768
    assert config.vectorize["embeddings"].metric == "cosine"
    assert config.service_keys == []
    assert config.environments["dev"].default == "sqlite:////srv/data"
    assert starter_config().environments["dev"].default == "sqlite:///.edgebind/dev"


def test_defaults() -> None:
    config = define_config()

    assert config.trust_proxy is False
    assert config.max_body_bytes == DEFAULT_MAX_BODY_BYTES == 32 * 1024 * 1024
    assert config.auth is None
    assert config.source_path is None


def test_default_binding_names() -> None:
    config = define_config(
        kv={"user-cache": {}, "sessions": {"binding": "SESSIONS"}},
        d1=["analytics", "audit-log"],
        vectorize=[{"name": "doc-embeddings", "dimensions": 3}],
    )

    assert config.kv["user-cache"].binding == "USER_CACHE_KV"
    assert config.kv["sessions"].binding == "SESSIONS"
    assert config.d1["analytics"].binding == "ANALYTICS_DB"
    assert config.d1["audit-log"].binding == "AUDIT_LOG_DB"
    assert config.vectorize["doc-embeddings"].binding == "VECTORIZE_DOC_EMBEDDINGS"
    assert default_binding("kv", "a-b") == "A_B_KV"


def test_d1_and_vectorize_accept_list_or_dict() -> None:
    as_lists = define_config(
        d1=["analytics", {"name": "audit", "binding": "AUDIT"}],
        vectorize=[{"name": "embeddings", "dimensions": 4, "metric": "dot-product"}],
    )
    as_dicts = define_config(
        d1={"analytics": None, "audit": {"binding": "AUDIT"}},
        vectorize={"embeddings": {"dimensions": 4, "metric": "dot-product"}},
    )

    assert as_lists.d1 == as_dicts.d1
    assert as_lists.vectorize == as_dicts.vectorize
    assert as_lists.d1["audit"].binding == "AUDIT"


def test_camel_case_aliases_are_accepted() -> None:
    config = define_config(
        serviceKeys=[
            {
                "kid": "root",
                "tier": "root",
                "secretSource": "dashboard",
                "secretRef": "ROOT_KEY",
            },
            {
                "kid": "dev",
                "tier": "root",
                "secretSource": "inline",
                "inlineSecret": "dev-secret",
                "constraints": {
                    "expiresAt": "2027-06-30T00:00:00Z",
                    "ipCidr": "10.0.0.0/8",
                },
            },
            {"kid": "hashed", "tier": "root", "secretSha256": "AB" * 32},
        ],
        trustProxy=True,
        maxBodyBytes=1024,
        auth={"jwt": {"algorithms": ["HS256"], "secretRef": "JWT", "leewaySeconds": 5}},
    )

    root, dev, hashed = config.service_keys
    assert root.secret_source == "dashboard" and root.secret_ref == "ROOT_KEY"
    assert dev.secret is not None and dev.secret.get_secret_value() == "dev-secret"
    assert dev.constraints is not None
    assert dev.constraints.expires_at == datetime(2027, 6, 30, tzinfo=UTC)
    assert dev.constraints.ip_cidr == ["10.0.0.0/8"]
    assert hashed.secret_sha256 == "ab" * 32
    assert config.trust_proxy is True
    assert config.max_body_bytes == 1024
    assert config.auth is not None and config.auth.jwt is not None
    assert config.auth.jwt.leeway_seconds == 5


def test_inline_secret_is_hidden_from_repr() -> None:
    config = define_config(
        service_keys=[{"kid": "a", "tier": "root", "secret": "hide-me-please"}]
    )

    assert "hide-me-please" not in repr(config)


def test_kv_rules_must_be_callables() -> None:
    def read(auth: object) -> bool:
        return auth is not None

    config = define_config(kv={"cache": {"rules": {"read": read}}})
    assert config.kv["cache"].rules is not None
    assert config.kv["cache"].rules.read is read

    error = config_error(kv={"cache": {"rules": {"write": "yes"}}})
    assert error.field == "kv.cache.rules.write"
    assert "function taking auth" in error.detail

    error = config_error(kv={"cache": {"rules": {"delete": read}}})
    assert error.field == "kv.cache.rules.delete"


# ------------------------------------------------------------ model errors


def test_vectorize_without_dimensions() -> None:
    error = config_error(vectorize=[{"name": "embeddings"}])

    assert error.field == "vectorize.embeddings.dimensions"
    assert str(error) == (
        "vectorize.embeddings.dimensions: field required — give the vector "
        "size, e.g. dimensions=1536"
    )


@pytest.mark.parametrize("dimensions", [0, -3, MAX_VECTOR_DIMENSIONS + 1, "many"])
def test_vectorize_dimensions_out_of_range(dimensions: object) -> None:
    error = config_error(vectorize={"ix": {"dimensions": dimensions}})

    assert error.field == "vectorize.ix.dimensions"


def test_vectorize_max_dimensions_accepted() -> None:
    config = define_config(vectorize={"ix": {"dimensions": MAX_VECTOR_DIMENSIONS}})
    assert config.vectorize["ix"].dimensions == MAX_VECTOR_DIMENSIONS


def test_vectorize_bad_metric() -> None:
    error = config_error(vectorize={"ix": {"dimensions": 3, "metric": "manhattan"}})

    assert error.field == "vectorize.ix.metric"
    assert "'manhattan'" in error.detail and "dot-product" in error.detail


def test_unknown_field_suggests_the_right_one() -> None:
    error = config_error(vectorize={"ix": {"dimension": 3}})

    assert "vectorize.ix.dimension: unknown field 'dimension'" in str(error)
    assert "did you mean 'dimensions'?" in str(error)
    assert "allowed: binding, dimensions, metric" in str(error)


def test_unknown_top_level_field() -> None:
    error = config_error(kvs={"cache": {}})

    assert error.field == "kvs"
    assert "did you mean 'kv'?" in error.detail


def test_unknown_field_inside_a_list() -> None:
    error = config_error(
        service_keys=[
            {"kid": "a", "tier": "root", "secret_ref": "A", "scope": ["*"]},
        ]
    )

    assert error.field == "service_keys[0].scope"
    assert "did you mean 'scopes'?" in error.detail


def test_unknown_field_in_d1() -> None:
    error = config_error(d1={"db": {"rules": {}}})

    assert error.field == "d1.db.rules"
    assert "allowed: binding" in error.detail


@pytest.mark.parametrize("name", ["bad name", "-leading", "a" * 65, "dot.ted", ""])
def test_invalid_resource_names(name: str) -> None:
    error = config_error(kv={name: {}})

    assert error.field is not None and error.field.startswith("kv")
    assert "is not a valid name" in error.detail


def test_resource_name_of_64_characters_is_fine() -> None:
    assert "a" * 64 in define_config(d1=["a" * 64]).d1


def test_list_entry_without_name() -> None:
    error = config_error(vectorize=[{"dimensions": 3}])

    assert error.field == "vectorize[0]"
    assert "'name'" in error.detail


def test_list_entry_name_not_a_string() -> None:
    error = config_error(d1=[{"name": 7}])

    assert error.field == "d1[0].name"


def test_name_declared_twice_in_a_list() -> None:
    assert config_error(d1=["a", "a"]).field == "d1[1]"
    error = config_error(
        vectorize=[{"name": "v", "dimensions": 1}, {"name": "v", "dimensions": 2}]
    )
    assert error.field == "vectorize[1].name"


def test_section_of_wrong_type() -> None:
    assert config_error(d1="analytics").field == "d1"


def test_duplicate_binding_across_resources() -> None:
    error = config_error(
        kv={"cache": {"binding": "SHARED"}}, d1={"db": {"binding": "SHARED"}}
    )

    assert error.field == "d1.db.binding"
    assert "already used by kv.cache" in error.detail


def test_default_binding_collides_with_explicit_one() -> None:
    error = config_error(kv={"main": {"binding": "MAIN_DB"}}, d1=["main"])

    assert error.field == "d1.main.binding"


@pytest.mark.parametrize("binding", ["default", "kv"])
def test_reserved_binding_names(binding: str) -> None:
    error = config_error(kv={"cache": {"binding": binding}})

    assert error.field == "kv.cache.binding"
    assert "reserved" in error.detail


@pytest.mark.parametrize("binding", ["1ABC", "CACHE-KV", "a b"])
def test_binding_must_be_an_environment_variable_name(binding: str) -> None:
    error = config_error(kv={"cache": {"binding": binding}})

    assert error.field == "kv.cache.binding"
    assert "environment variable name" in error.detail


def test_environment_key_naming_no_binding() -> None:
    error = config_error(
        kv={"cache": {}}, environments={"prod": {"CACHE": "redis://x"}}
    )

    assert error.field == "environments.prod.CACHE"
    assert "names no declared binding" in error.detail
    assert "CACHE_KV" in error.detail


def test_environment_key_naming_a_binding_is_accepted() -> None:
    config = define_config(
        kv={"cache": {}}, environments={"prod": {"CACHE_KV": "redis://x"}}
    )

    assert config.environments["prod"].binding_urls == {"CACHE_KV": "redis://x"}


def test_environment_entries_must_be_strings() -> None:
    error = config_error(kv={"cache": {}}, environments={"prod": {"CACHE_KV": 5}})

    assert error.field == "environments.prod.CACHE_KV"
    # URLs may hold passwords, so no value of environments is echoed.
    assert "5" not in error.detail


def test_invalid_environment_name() -> None:
    assert config_error(environments={"pr od": {}}).field == "environments['pr od']"


def test_max_body_bytes_must_be_positive() -> None:
    assert config_error(max_body_bytes=0).field == "max_body_bytes"


def test_several_problems_are_listed_together() -> None:
    error = config_error(
        vectorize=[{"name": "embeddings"}],
        service_keys=[{"kid": "a_b", "tier": "root", "secret_ref": "X"}],
    )

    assert error.field == "vectorize.embeddings.dimensions"
    assert str(error).startswith("2 problems in the config:\n")
    assert "  vectorize.embeddings.dimensions: field required" in str(error)
    assert "  service_keys[0].kid: 'a_b' is not valid" in str(error)


# ------------------------------------------------------------ service keys


def key(**settings: Any) -> dict[str, Any]:
    return {"kid": "k", "tier": "root", "secret_ref": "K", **settings}


def test_kid_with_underscore() -> None:
    error = config_error(service_keys=[key(), key(kid="my_key")])

    assert error.field == "service_keys[1].kid"
    assert "no '_'" in error.detail and "jb_{kid}_{secret}" in error.detail


@pytest.mark.parametrize("kid", ["", "a" * 65, "a b", "ключ"])
def test_invalid_kids(kid: str) -> None:
    assert config_error(service_keys=[key(kid=kid)]).field == "service_keys[0].kid"


def test_missing_kid_and_tier() -> None:
    error = config_error(service_keys=[{"secret_ref": "K"}])

    assert "service_keys[0].kid: field required — give the key an id" in str(error)
    assert "service_keys[0].tier: field required — set tier=" in str(error)


def test_unknown_tier() -> None:
    assert (
        config_error(service_keys=[key(tier="admin")]).field == "service_keys[0].tier"
    )


def test_invalid_scope_string() -> None:
    error = config_error(
        service_keys=[key(tier="scoped", scopes=["kv:namespace:cache:read", "kv:ns"])]
    )

    assert error.field == "service_keys[0].scopes[1]"
    assert "'kv:ns' has 2 segment(s)" in error.detail


def test_scoped_key_needs_a_scope() -> None:
    error = config_error(service_keys=[key(tier="scoped")])

    assert error.field == "service_keys[0].scopes"
    assert "at least one scope" in error.detail


def test_duplicate_kid() -> None:
    error = config_error(service_keys=[key(), key(secret_ref="OTHER")])

    assert error.field == "service_keys[1].kid"
    assert "service_keys[0]" in error.detail


def test_key_without_secret() -> None:
    error = config_error(service_keys=[{"kid": "k", "tier": "root"}])

    assert error.field == "service_keys[0].secret_source"
    assert "no secret" in error.detail


def test_key_with_two_secrets() -> None:
    error = config_error(service_keys=[key(secret="abc")])

    assert error.field == "service_keys[0].secret"
    assert "only one of" in error.detail
    assert "abc" not in str(error)


def test_env_source_without_secret_ref() -> None:
    error = config_error(
        service_keys=[
            {"kid": "k", "tier": "root", "secret_source": "env", "secret": "abc"}
        ]
    )

    assert error.field == "service_keys[0].secret_ref"


def test_inline_source_without_secret() -> None:
    error = config_error(service_keys=[key(secret_source="inline")])

    assert error.field == "service_keys[0].secret"


def test_secret_sha256_must_be_64_hex_digits_and_is_not_echoed() -> None:
    error = config_error(
        service_keys=[{"kid": "k", "tier": "root", "secret_sha256": SECRET}]
    )

    assert error.field == "service_keys[0].secret_sha256"
    assert "64 hex digits" in error.detail
    assert SECRET not in str(error)


def test_naive_expiry_is_rejected() -> None:
    error = config_error(
        service_keys=[key(constraints={"expires_at": "2027-06-30T00:00:00"})]
    )

    assert error.field == "service_keys[0].constraints.expires_at"
    assert "time zone" in error.detail


def test_env_constraint_must_name_declared_environments() -> None:
    error = config_error(
        service_keys=[key(constraints={"env": ["dev", "prod"]})],
        environments={"dev": {}},
    )

    assert error.field == "service_keys[0].constraints.env[1]"
    assert "declared environments: dev" in error.detail


@pytest.mark.parametrize("constraint", ["env", "ip_cidr"])
def test_empty_constraint_lists_are_rejected(constraint: str) -> None:
    error = config_error(
        service_keys=[key(constraints={constraint: []})], environments={"dev": {}}
    )

    assert error.field == f"service_keys[0].constraints.{constraint}"


@pytest.mark.parametrize("cidr", ["10.0.0.1/8", "not-a-net", "10.0.0.0/33"])
def test_invalid_cidr(cidr: str) -> None:
    error = config_error(service_keys=[key(constraints={"ip_cidr": ["::1", cidr]})])

    assert error.field == "service_keys[0].constraints.ip_cidr[1]"
    assert "CIDR" in error.detail


def test_unknown_constraint() -> None:
    error = config_error(service_keys=[key(constraints={"ip": "10.0.0.0/8"})])

    assert error.field == "service_keys[0].constraints.ip"
    assert "did you mean 'ip_cidr'?" in error.detail


# -------------------------------------------------------------------- auth


def jwt(**settings: Any) -> ConfigError:
    return config_error(auth={"jwt": settings})


def test_jwt_settings_are_parsed() -> None:
    config = define_config(
        auth={
            "jwt": {
                "algorithms": ["RS256", "ES256"],
                "jwks_url": "https://id.example.com/jwks.json",
                "issuer": "https://id.example.com",
                "audience": ["edgebind", "api"],
            }
        }
    )

    assert config.auth is not None and config.auth.jwt is not None
    assert config.auth.jwt.audience == ["edgebind", "api"]
    define_config(
        auth={"jwt": {"algorithms": ["RS256"], "jwks_url": "http://localhost:9/j"}}
    )


def test_jwt_errors() -> None:
    assert jwt(secret_ref="S").field == "auth.jwt.algorithms"
    assert jwt(algorithms=[], secret_ref="S").field == "auth.jwt.algorithms"
    assert jwt(algorithms=["none"], secret_ref="S").field == "auth.jwt.algorithms[0]"
    assert jwt(algorithms=["HS256"]).field == "auth.jwt.secret_ref"
    two = jwt(algorithms=["HS256"], secret_ref="S", jwks_url="https://x")
    assert two.field == "auth.jwt.jwks_url" and "exactly one" in two.detail
    mixed = jwt(algorithms=["HS256", "RS256"], secret_ref="S")
    assert mixed.field == "auth.jwt.algorithms" and "one family" in mixed.detail
    assert jwt(algorithms=["HS256"], public_key_ref="P").field == "auth.jwt.secret_ref"
    assert jwt(algorithms=["RS256"], secret_ref="S").field == "auth.jwt.secret_ref"
    plain = jwt(algorithms=["RS256"], jwks_url="http://id.example.com/jwks")
    assert plain.field == "auth.jwt.jwks_url" and "https" in plain.detail
    assert (
        jwt(algorithms=["HS256"], secret_ref="S", leeway_seconds=-1).field
        == "auth.jwt.leeway_seconds"
    )
    assert jwt(algorithms=["HS256"], secret_ref="S", kid="x").field == "auth.jwt.kid"


# ----------------------------------------------------------------- loading


def write_config(folder: Path, body: str, name: str = "edgebind.config.py") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


GOOD = """\
    from edgebind import define_config

    config = define_config(kv=["cache"], environments={"dev": {"default": "x://"}})
"""


def test_load_config_from_a_path(tmp_path: Path) -> None:
    path = write_config(tmp_path, GOOD, "custom.py")

    config = load_config(path)

    assert isinstance(config, EdgebindConfig)
    assert config.source_path == path
    assert config.kv["cache"].binding == "CACHE_KV"


def test_load_config_from_env_var_and_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    in_cwd = write_config(tmp_path, GOOD)
    by_env = write_config(elsewhere, GOOD, "by-env.py")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EDGEBIND_CONFIG", raising=False)

    assert load_config().source_path == in_cwd
    monkeypatch.setenv("EDGEBIND_CONFIG", str(by_env))
    assert load_config().source_path == by_env


def test_load_config_imports_modules_beside_it(tmp_path: Path) -> None:
    (tmp_path / "my_rules_module.py").write_text(
        "def anyone(auth):\n    return True\n", encoding="utf-8"
    )
    path = write_config(
        tmp_path,
        """\
        from edgebind import define_config
        from my_rules_module import anyone

        config = define_config(kv={"cache": {"rules": {"read": anyone}}})
        """,
    )

    config = load_config(path)

    assert config.kv["cache"].rules is not None
    assert config.kv["cache"].rules.read is not None


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.py")

    assert caught.value.source == str(tmp_path / "absent.py")
    assert "not found" in caught.value.detail
    assert "edgebind init" in caught.value.detail


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "x = 1\nconfig = define_config(\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.source is not None
    assert caught.value.source.startswith(str(path) + ":")
    assert "syntax error on line" in caught.value.detail


def test_exception_in_file_names_file_and_line(tmp_path: Path) -> None:
    path = write_config(tmp_path, "a = 1\nb = 2\nconfig = undefined_name\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.source == f"{path}:3"
    assert "NameError" in caught.value.detail


def test_config_error_in_file_names_field_and_file(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        """\
        from edgebind import define_config

        config = define_config(vectorize=[{"name": "embeddings"}])
        """,
    )

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert caught.value.field == "vectorize.embeddings.dimensions"
    assert caught.value.source == f"{path}:3"
    assert str(caught.value).startswith(f"{path}:3: vectorize.embeddings.dimensions")


def test_missing_config_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, "settings = 1\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert "config = define_config(...)" in caught.value.detail
    assert caught.value.source == str(path)


def test_config_variable_of_wrong_type(tmp_path: Path) -> None:
    path = write_config(tmp_path, "config = {'kv': {}}\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert "config is a dict" in caught.value.detail
    assert caught.value.field == "config"


def test_system_exit_in_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, "import sys\nsys.exit(3)\n")

    with pytest.raises(ConfigError) as caught:
        load_config(path)

    assert "SystemExit" in caught.value.detail


# ---------------------------------------------------------------- bindings


def precedence_config() -> EdgebindConfig:
    return define_config(
        kv={"cache": {}, "sessions": {}},
        d1=["main"],
        vectorize=[{"name": "embeddings", "dimensions": 3, "metric": "euclidean"}],
        environments={
            "prod": {
                "default": "default://",
                "kv": "kind://",
                "SESSIONS_KV": "binding://",
            }
        },
    )


def test_url_precedence() -> None:
    config = precedence_config()

    bindings = {
        b.binding: b
        for b in resolve_bindings(config, "prod", {"CACHE_KV": "process://"})
    }

    assert bindings["CACHE_KV"].url == "process://"
    assert bindings["CACHE_KV"].origin == "environment variable CACHE_KV"
    assert bindings["CACHE_KV"].origin_field is None
    assert bindings["SESSIONS_KV"].url == "binding://"
    assert bindings["SESSIONS_KV"].origin == "environments.prod.SESSIONS_KV"
    assert bindings["MAIN_DB"].url == "default://"
    assert bindings["MAIN_DB"].origin_field == "environments.prod.default"
    assert bindings["VECTORIZE_EMBEDDINGS"].url == "default://"


def test_kind_entry_beats_default() -> None:
    config = precedence_config()

    cache = resolve_bindings(config, "prod", {})[0]

    assert (cache.binding, cache.url) == ("CACHE_KV", "kind://")
    assert cache.origin == "environments.prod.kv"


def test_empty_process_variable_is_ignored() -> None:
    cache = resolve_bindings(precedence_config(), "prod", {"CACHE_KV": ""})[0]

    assert cache.url == "kind://"


def test_bindings_carry_specs_in_declaration_order() -> None:
    bindings = resolve_bindings(precedence_config(), "prod", {})

    assert [(b.kind, b.name) for b in bindings] == [
        ("kv", "cache"),
        ("kv", "sessions"),
        ("d1", "main"),
        ("vectorize", "embeddings"),
    ]
    vector = bindings[-1]
    assert vector.spec.name == "embeddings"
    assert vector.spec.binding == "VECTORIZE_EMBEDDINGS"
    assert vector.spec.options == {"dimensions": 3, "metric": "euclidean"}
    assert bindings[0].spec.options == {}


def test_variables_are_expanded_from_the_process_environment() -> None:
    config = define_config(
        kv=["cache"],
        environments={"edge": {"default": "cloudflare://${ACCOUNT}/${ZONE}"}},
    )

    cache = resolve_bindings(config, "edge", {"ACCOUNT": "abc", "ZONE": "z"})[0]

    assert cache.url == "cloudflare://abc/z"


def test_process_variable_values_are_not_expanded() -> None:
    config = define_config(kv=["cache"], environments={"dev": {}})

    cache = resolve_bindings(config, "dev", {"CACHE_KV": "redis://${HOST}"})[0]

    assert cache.url == "redis://${HOST}"


def test_undefined_variable() -> None:
    config = define_config(
        kv=["cache"], environments={"edge": {"kv": "cloudflare://${ACCOUNT_ID}"}}
    )

    with pytest.raises(ConfigError) as caught:
        resolve_bindings(config, "edge", {})

    assert caught.value.field == "environments.edge.kv"
    assert "ACCOUNT_ID" in caught.value.detail
    assert "CACHE_KV" in caught.value.detail


def test_malformed_variable_reference() -> None:
    config = define_config(kv=["cache"], environments={"e": {"kv": "x://${A-B}"}})

    with pytest.raises(ConfigError) as caught:
        resolve_bindings(config, "e", {"A-B": "1"})

    assert "not a variable reference" in caught.value.detail


def test_binding_without_url() -> None:
    config = define_config(
        kv=["cache"], d1=["main"], environments={"prod": {"kv": "redis://r"}}
    )

    with pytest.raises(ConfigError) as caught:
        resolve_bindings(config, "prod", {})

    assert caught.value.field == "environments.prod.MAIN_DB"
    assert "binding MAIN_DB" in caught.value.detail
    assert "export MAIN_DB=<url>" in caught.value.detail


def test_unknown_environment_lists_declared_ones() -> None:
    config = define_config(environments={"dev": {}, "prod": {}})

    with pytest.raises(ConfigError) as caught:
        resolve_bindings(config, "staging", {})

    assert caught.value.field == "environments.staging"
    assert "declared environments: dev, prod" in caught.value.detail


def test_errors_from_a_loaded_config_name_its_file(tmp_path: Path) -> None:
    path = write_config(tmp_path, GOOD)

    with pytest.raises(ConfigError) as caught:
        resolve_bindings(load_config(path), "prod", {})

    assert caught.value.source == str(path)


def test_display_url_masks_password() -> None:
    config = define_config(
        kv=["cache"], environments={"dev": {"kv": "redis://u:hunter2@h:6379/0"}}
    )

    cache = resolve_bindings(config, "dev", {})[0]

    assert cache.display_url == "redis://u:***@h:6379/0"
    assert "hunter2" not in repr(cache)
