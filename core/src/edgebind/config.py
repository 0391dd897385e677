"""The config file: its models, how it is loaded, and how bindings get URLs.

A config is a Python file (``edgebind.config.py`` by default) that assigns
``config = define_config(...)``. Every field is snake_case; EdgeBase's
camelCase names are accepted as aliases. Unknown fields are errors, so a typo
fails loudly, and every error is a :class:`~edgebind.errors.ConfigError` that
names the field's dotted path (``vectorize.embeddings.dimensions``,
``service_keys[1].kid``) and, from :func:`load_config`, the file.
"""

from __future__ import annotations

import contextlib
import difflib
import ipaddress
import os
import re
import runpy
import sys
import traceback
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from edgebind.capabilities import MAX_VECTOR_DIMENSIONS
from edgebind.drivers import Driver
from edgebind.errors import ConfigError
from edgebind.keys import KID_PATTERN, validate_scope
from edgebind.resource import Kind, ResourceSpec
from edgebind.rules import Rule

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_FILE",
    "DEFAULT_MAX_BODY_BYTES",
    "KIND_LABELS",
    "AuthConfig",
    "Binding",
    "D1DatabaseConfig",
    "EdgebindConfig",
    "EnvironmentConfig",
    "JWTConfig",
    "KVNamespaceConfig",
    "KVRulesConfig",
    "KeyConstraints",
    "ServiceKeyConfig",
    "VectorizeIndexConfig",
    "config_path",
    "default_binding",
    "define_config",
    "load_config",
    "resolve_bindings",
    "starter_config",
]

DEFAULT_CONFIG_FILE = "edgebind.config.py"
CONFIG_ENV_VAR = "EDGEBIND_CONFIG"
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

RESOURCE_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
#: A binding name doubles as an environment variable name.
BINDING_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"
KINDS: tuple[Kind, ...] = ("kv", "d1", "vectorize")
#: environment entries that are not binding names
ENVIRONMENT_KEYS = frozenset({"default", "kv", "d1", "vectorize"})

#: how each kind is named in messages
KIND_LABELS: dict[Kind, str] = {
    "kv": "KV namespace",
    "d1": "D1 database",
    "vectorize": "Vectorize index",
}
_VAR_RE = re.compile(r"\$\{([^}]*)\}")
_VAR_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

ResourceName = Annotated[str, StringConstraints(pattern=RESOURCE_NAME_PATTERN)]
BindingName = Annotated[str, StringConstraints(pattern=BINDING_PATTERN)]
EnvironmentName = Annotated[str, StringConstraints(pattern=RESOURCE_NAME_PATTERN)]
Kid = Annotated[str, StringConstraints(pattern=KID_PATTERN)]
Scope = Annotated[str, AfterValidator(validate_scope)]
Metric = Literal["cosine", "euclidean", "dot-product"]
JWTAlgorithm = Literal[
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
]


class _Problems(ValueError):
    """Problems found by a validator, each at a path below the validated
    object; the converter appends those paths to pydantic's location."""

    def __init__(self, *problems: tuple[str, str]) -> None:
        super().__init__("; ".join(f"{path}: {text}" for path, text in problems))
        self.problems = list(problems)


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        loc_by_alias=False,
        frozen=True,
    )


# --------------------------------------------------------------- resources


class KVRulesConfig(_Model):
    """Rules for callers without a service key; see :mod:`edgebind.rules`."""

    read: Rule | None = None
    write: Rule | None = None


class KVNamespaceConfig(_Model):
    #: filled in with ``NAME_KV`` when not given
    binding: BindingName | None = None
    rules: KVRulesConfig | None = None


class D1DatabaseConfig(_Model):
    #: filled in with ``NAME_DB`` when not given
    binding: BindingName | None = None


class VectorizeIndexConfig(_Model):
    #: filled in with ``VECTORIZE_NAME`` when not given
    binding: BindingName | None = None
    dimensions: int = Field(ge=1, le=MAX_VECTOR_DIMENSIONS)
    metric: Metric = "cosine"


ResourceConfig = KVNamespaceConfig | D1DatabaseConfig | VectorizeIndexConfig


def default_binding(kind: Kind, name: str) -> str:
    """The binding name of a resource declared without one."""
    stem = name.upper().replace("-", "_")
    if kind == "kv":
        return f"{stem}_KV"
    if kind == "d1":
        return f"{stem}_DB"
    return f"VECTORIZE_{stem}"


# ------------------------------------------------------------ service keys


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


def _check_network(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(
            f"{value!r} is not a network in CIDR form ({exc}); write e.g. "
            "'10.0.0.0/8', '2001:db8::/32' or a single address"
        ) from None
    return value


class KeyConstraints(_Model):
    """Conditions a key is valid under; a condition that cannot be checked
    (no client address known) denies."""

    expires_at: AwareDatetime | None = None
    env: list[EnvironmentName] | None = None
    ip_cidr: (
        Annotated[
            list[Annotated[str, AfterValidator(_check_network)]],
            BeforeValidator(_as_list),
        ]
        | None
    ) = None

    @field_validator("env", "ip_cidr")
    @classmethod
    def _not_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and not value:
            raise ValueError(
                "an empty list admits nothing; list at least one entry or "
                "remove the constraint"
            )
        return value


class ServiceKeyConfig(_Model):
    """One service key; see DESIGN §5."""

    kid: Kid
    tier: Literal["root", "scoped"]
    scopes: list[Scope] = Field(default_factory=list)
    #: ``dashboard`` is EdgeBase's name for ``env``
    secret_source: Literal["env", "dashboard", "inline"] | None = None
    #: the environment variable holding the secret
    secret_ref: str | None = None
    secret: SecretStr | None = Field(default=None, alias="inlineSecret")
    secret_sha256: (
        Annotated[
            str,
            StringConstraints(pattern=r"^[0-9a-fA-F]{64}$"),
            AfterValidator(str.lower),
        ]
        | None
    ) = None
    enabled: bool = True
    constraints: KeyConstraints | None = None

    @model_validator(mode="after")
    def _check_secret_and_scopes(self) -> ServiceKeyConfig:
        problems: list[tuple[str, str]] = []
        if self.tier == "scoped" and not self.scopes:
            problems.append(
                (
                    "scopes",
                    "a scoped key needs at least one scope, e.g. "
                    "scopes=['kv:namespace:cache:read']",
                )
            )

        given = [
            name
            for name, value in (
                ("secret_ref", self.secret_ref),
                ("secret", self.secret),
                ("secret_sha256", self.secret_sha256),
            )
            if value is not None
        ]
        source = self.secret_source
        if not given:
            hint = {
                "env": "secret_ref='ENV_VAR_NAME'",
                "dashboard": "secret_ref='ENV_VAR_NAME'",
                "inline": "secret='jb_...'",
            }.get(source or "", "secret_source='env' and secret_ref='ENV_VAR_NAME'")
            problems.append(("secret_source", f"the key has no secret; give {hint}"))
        elif len(given) > 1:
            problems.append(
                (
                    given[1],
                    f"give only one of secret_ref, secret and secret_sha256 "
                    f"(found {', '.join(given)})",
                )
            )
        elif source in ("env", "dashboard") and given[0] != "secret_ref":
            problems.append(
                (
                    "secret_ref",
                    f"secret_source={source!r} reads the secret from the "
                    "environment variable named by secret_ref; set secret_ref "
                    "or change secret_source",
                )
            )
        elif source == "inline" and given[0] != "secret":
            problems.append(
                (
                    "secret",
                    "secret_source='inline' needs the secret itself in secret",
                )
            )

        if problems:
            raise _Problems(*problems)
        return self


# -------------------------------------------------------------------- auth


class JWTConfig(_Model):
    """How bearer tokens are verified (parsed and checked here; verified by
    the server's token verifier)."""

    algorithms: list[JWTAlgorithm] = Field(min_length=1)
    secret_ref: str | None = None
    public_key_ref: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | list[str] | None = None
    leeway_seconds: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check_key_source(self) -> JWTConfig:
        sources = [
            name
            for name in ("secret_ref", "public_key_ref", "jwks_url")
            if getattr(self, name) is not None
        ]
        if len(sources) != 1:
            found = f" (found {', '.join(sources)})" if sources else ""
            raise _Problems(
                (
                    sources[1] if len(sources) > 1 else "secret_ref",
                    "give exactly one of secret_ref (HS* algorithms), "
                    f"public_key_ref or jwks_url (asymmetric algorithms){found}",
                )
            )

        symmetric = {a for a in self.algorithms if a.startswith("HS")}
        if symmetric and len(symmetric) != len(self.algorithms):
            raise _Problems(
                (
                    "algorithms",
                    "mixing HS* with asymmetric algorithms lets a public key be "
                    "used as an HMAC secret; list one family only",
                )
            )
        if symmetric and sources[0] != "secret_ref":
            raise _Problems(
                ("secret_ref", f"{sorted(symmetric)[0]} tokens need secret_ref")
            )
        if not symmetric and sources[0] == "secret_ref":
            raise _Problems(
                (
                    "secret_ref",
                    "asymmetric algorithms are verified with public_key_ref or "
                    "jwks_url, not secret_ref",
                )
            )

        url = self.jwks_url
        if url is not None and not _is_safe_jwks_url(url):
            raise _Problems(
                (
                    "jwks_url",
                    "jwks_url must be an https:// URL (http:// only for localhost)",
                )
            )
        return self


def _is_safe_jwks_url(url: str) -> bool:
    if url.startswith("https://"):
        return True
    host = url.removeprefix("http://").split("/", 1)[0].rsplit(":", 1)[0]
    return url.startswith("http://") and host in ("localhost", "127.0.0.1", "[::1]")


class AuthConfig(_Model):
    jwt: JWTConfig | None = None


# ------------------------------------------------------------ environments


class EnvironmentConfig(_Model):
    """URLs of one environment: per kind, a default, and per binding name."""

    model_config = ConfigDict(extra="allow")
    __pydantic_extra__: dict[str, str] = Field(init=False)

    default: str | None = None
    kv: str | None = None
    d1: str | None = None
    vectorize: str | None = None

    @property
    def binding_urls(self) -> dict[str, str]:
        """The entries keyed by a binding name."""
        return dict(self.__pydantic_extra__ or {})


# -------------------------------------------------------------------- root


class EdgebindConfig(_Model):
    """A whole config; build it with :func:`define_config`."""

    kv: dict[ResourceName, KVNamespaceConfig] = Field(default_factory=dict)
    d1: dict[ResourceName, D1DatabaseConfig] = Field(default_factory=dict)
    vectorize: dict[ResourceName, VectorizeIndexConfig] = Field(default_factory=dict)
    service_keys: list[ServiceKeyConfig] = Field(default_factory=list)
    environments: dict[EnvironmentName, EnvironmentConfig] = Field(default_factory=dict)
    trust_proxy: bool = False
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, ge=1)
    auth: AuthConfig | None = None

    _source_path: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        """The file this config was loaded from, if any."""
        return self._source_path

    def resources(self) -> Iterator[tuple[Kind, str, ResourceConfig]]:
        """Every declared resource in declaration order, KV first."""
        for name, kv in self.kv.items():
            yield "kv", name, kv
        for name, d1 in self.d1.items():
            yield "d1", name, d1
        for name, index in self.vectorize.items():
            yield "vectorize", name, index

    def binding_names(self) -> list[str]:
        return [settings.binding or "" for _, _, settings in self.resources()]

    @model_validator(mode="before")
    @classmethod
    def _normalize_sections(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        normalized = dict(data)
        problems: list[tuple[str, str]] = []
        for section in KINDS:
            if section in normalized:
                normalized[section] = _named_dict(
                    section, normalized[section], problems
                )
        if problems:
            raise _Problems(*problems)
        return normalized

    @model_validator(mode="after")
    def _check_across_sections(self) -> EdgebindConfig:
        problems: list[tuple[str, str]] = []
        self._fill_default_bindings()

        owners: dict[str, str] = {}
        for kind, name, settings in self.resources():
            binding = settings.binding or ""
            path = f"{kind}.{name}.binding"
            if binding in ENVIRONMENT_KEYS:
                problems.append(
                    (
                        path,
                        f"{binding!r} is reserved for environment entries; pick "
                        "another binding name",
                    )
                )
            elif binding in owners:
                problems.append(
                    (
                        path,
                        f"binding {binding} is already used by {owners[binding]}; "
                        "give one of them another binding name",
                    )
                )
            else:
                owners[binding] = f"{kind}.{name}"

        for env_name, environment in self.environments.items():
            for entry in environment.binding_urls:
                if entry not in owners:
                    problems.append(
                        (
                            f"environments.{env_name}.{entry}",
                            f"{entry!r} names no declared binding; use default, kv, "
                            "d1, vectorize or one of the bindings: "
                            f"{', '.join(sorted(owners)) or '(none declared)'}",
                        )
                    )

        seen_kids: dict[str, int] = {}
        for index, key in enumerate(self.service_keys):
            if key.kid in seen_kids:
                problems.append(
                    (
                        f"service_keys[{index}].kid",
                        f"kid {key.kid!r} is already used by "
                        f"service_keys[{seen_kids[key.kid]}]; kids must be unique",
                    )
                )
            else:
                seen_kids[key.kid] = index
            envs = key.constraints.env if key.constraints else None
            for position, env_name in enumerate(envs or ()):
                if env_name not in self.environments:
                    declared = ", ".join(self.environments) or "(none declared)"
                    problems.append(
                        (
                            f"service_keys[{index}].constraints.env[{position}]",
                            f"environment {env_name!r} is not declared; declared "
                            f"environments: {declared}",
                        )
                    )

        if problems:
            raise _Problems(*problems)
        return self

    def _fill_default_bindings(self) -> None:
        # The section dicts are this object's own, so replacing their entries
        # is safe even though the models are frozen.
        sections: dict[Kind, dict[str, Any]] = {
            "kv": self.kv,
            "d1": self.d1,
            "vectorize": self.vectorize,
        }
        for kind, section in sections.items():
            for name, settings in section.items():
                if settings.binding is None:
                    section[name] = settings.model_copy(
                        update={"binding": default_binding(kind, name)}
                    )


def _named_dict(section: str, value: object, problems: list[tuple[str, str]]) -> object:
    """``value`` as a dict name -> settings: lists of names or of dicts with
    ``name`` become dicts; a bare ``None`` setting becomes ``{}``."""
    if isinstance(value, Mapping):
        return {name: {} if item is None else item for name, item in value.items()}
    if not isinstance(value, list | tuple):
        return value  # pydantic reports the wrong type

    result: dict[object, object] = {}
    for index, item in enumerate(value):
        if isinstance(item, str):
            name: object = item
            settings: object = {}
        elif isinstance(item, Mapping) and "name" in item:
            name = item["name"]
            settings = {k: v for k, v in item.items() if k != "name"}
        else:
            problems.append(
                (
                    f"{section}[{index}]",
                    "each list entry is a name or a dict with a 'name', e.g. "
                    + (
                        "{'name': 'embeddings', 'dimensions': 1536}"
                        if section == "vectorize"
                        else "'analytics'"
                    ),
                )
            )
            continue
        if not isinstance(name, str):
            problems.append((f"{section}[{index}].name", "name must be a string"))
            continue
        if name in result:
            where = (
                f"{section}[{index}]"
                if isinstance(item, str)
                else (f"{section}[{index}].name")
            )
            problems.append((where, f"{name!r} is declared twice"))
            continue
        result[name] = settings
    return result


# ------------------------------------------------------------- validation


def define_config(**settings: Any) -> EdgebindConfig:
    """Validate ``settings`` into a config; ConfigError on any problem."""
    try:
        return EdgebindConfig.model_validate(settings)
    except ValidationError as exc:
        raise _config_error(list(_problems_of(exc))) from None


def _config_error(
    problems: list[tuple[str, str]], source: str | None = None
) -> ConfigError:
    if len(problems) == 1:
        path, text = problems[0]
        return ConfigError(text, source=source, field=path or None)
    lines = "\n".join(f"  {path or '(config)'}: {text}" for path, text in problems)
    error = ConfigError(
        f"{len(problems)} problems in the config:\n{lines}", source=source
    )
    error.field = problems[0][0] or None
    return error


def _problems_of(exc: ValidationError) -> Iterator[tuple[str, str]]:
    for error in exc.errors():
        loc = tuple(error["loc"])
        nested = error.get("ctx", {}).get("error")
        if isinstance(nested, _Problems):
            for sub_path, text in nested.problems:
                yield _join(_render_path(loc), sub_path), text
            continue
        yield _render_path(loc), _describe(error, loc)


def _join(base: str, sub: str) -> str:
    if not base:
        return sub
    if not sub:
        return base
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


def _render_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "[key]":
            continue
        elif re.fullmatch(r"[A-Za-z0-9_-]+", str(part)):
            path = f"{path}.{part}" if path else str(part)
        else:
            path += f"[{part!r}]"
    return path


_MISSING_HINTS = {
    "dimensions": "give the vector size, e.g. dimensions=1536",
    "kid": "give the key an id, e.g. kid='root'",
    "tier": "set tier='root' or tier='scoped'",
    "algorithms": "list the accepted algorithms, e.g. algorithms=['HS256']",
}

_PATTERN_HINTS = {
    "kid": "use 1-64 letters, digits and '-'; no '_', because keys are written "
    "jb_{kid}_{secret}",
    "binding": "a binding name is an environment variable name: letters, digits "
    "and '_', not starting with a digit, e.g. CACHE_KV",
    "secret_sha256": "give the 64 hex digits of the secret's SHA-256 digest",
}

_RESOURCE_NAME_HINT = (
    "a name is 1-64 letters, digits, '_' and '-', starting with a letter or digit"
)


def _describe(error: Any, loc: tuple[Any, ...]) -> str:
    kind = error["type"]
    last = next((p for p in reversed(loc) if isinstance(p, str)), "")
    if kind == "missing":
        hint = _MISSING_HINTS.get(last)
        return f"field required — {hint}" if hint else "field required"
    if kind == "extra_forbidden":
        return _describe_unknown(loc)
    if kind == "string_pattern_mismatch":
        if loc and loc[-1] == "[key]":
            return f"{loc[-2]!r} is not a valid name: {_RESOURCE_NAME_HINT}"
        hint = _PATTERN_HINTS.get(last, _RESOURCE_NAME_HINT)
        return f"{_value_of(error, loc)}is not valid — {hint}"
    if kind == "callable_type":
        return (
            "a rule must be a function taking auth (an AuthContext or None) and "
            "returning a bool, e.g. lambda auth: auth is not None"
        )
    if kind == "timezone_aware":
        return (
            "give a time zone, e.g. '2027-06-30T00:00:00Z', so the expiry means "
            "the same moment on every server"
        )
    if kind == "value_error":
        text = str(error.get("ctx", {}).get("error", error["msg"]))
        return text
    message = str(error["msg"])
    message = message[:1].lower() + message[1:]
    got = _value_of(error, loc)
    return f"{message}, got {got.strip()}" if got else message


def _value_of(error: Any, loc: tuple[Any, ...]) -> str:
    """``'value' `` for messages, or ``''`` where the value may be secret."""
    value = error.get("input")
    sensitive = any(
        isinstance(p, str) and (p.startswith("secret") or p == "environments")
        for p in loc
    )
    if sensitive or not isinstance(value, str | int | float | bool):
        return ""
    text = repr(value)
    return f"{text} " if len(text) <= 80 else ""


def _describe_unknown(loc: tuple[Any, ...]) -> str:
    name = str(loc[-1])
    model = _model_at(EdgebindConfig, loc[:-1])
    if model is None:
        return f"unknown field {name!r}"
    allowed = sorted(model.model_fields)
    aliases = {
        info.alias: field_name
        for field_name, info in model.model_fields.items()
        if info.alias
    }
    candidates = [*allowed, *aliases]
    close = (
        difflib.get_close_matches(name, candidates, n=1)
        or [candidate for candidate in candidates if candidate.startswith(name)][:1]
    )
    suggestion = ""
    if close:
        suggestion = f" — did you mean {aliases.get(close[0], close[0])!r}?"
    return f"unknown field {name!r}{suggestion} (allowed: {', '.join(allowed)})"


def _model_at(model: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found by following ``loc`` from ``model``."""
    current: Any = model
    for part in loc:
        current = _unwrap(current, part)
        if current is None:
            return None
    current = _unwrap(current, None)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _unwrap(tp: Any, step: Any) -> Any:
    """The type reached from ``tp`` by one location ``step`` (None: no step,
    just strip Annotated/Optional)."""
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            options = [a for a in typing.get_args(tp) if a is not type(None)]
            structured = [
                a
                for a in options
                if typing.get_origin(a) in (list, dict)
                or (isinstance(a, type) and issubclass(a, BaseModel))
            ]
            tp = structured[0] if structured else options[0]
        else:
            break
    if step is None:
        return tp
    origin = typing.get_origin(tp)
    if origin is list and isinstance(step, int):
        return typing.get_args(tp)[0]
    if origin is dict and isinstance(step, str):
        return typing.get_args(tp)[1]
    if isinstance(tp, type) and issubclass(tp, BaseModel) and isinstance(step, str):
        info = tp.model_fields.get(step)
        return info.annotation if info is not None else None
    return None


# ----------------------------------------------------------------- loading


def config_path(path: str | os.PathLike[str] | None = None) -> Path:
    """The config file to load: ``path``, else ``$EDGEBIND_CONFIG``, else
    ``edgebind.config.py`` in the current directory."""
    if path is not None:
        return Path(path)
    from_env = os.environ.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env)
    return Path.cwd() / DEFAULT_CONFIG_FILE


def load_config(path: str | os.PathLike[str] | None = None) -> EdgebindConfig:
    """Execute the config file and return its ``config``.

    Every problem, including a syntax error or an exception raised while the
    file runs, is a ConfigError naming the file (and the line, where one is
    known).
    """
    file = config_path(path)
    source = str(file)
    if not file.is_file():
        raise ConfigError(
            "config file not found; create one with `edgebind init`, or pass "
            f"--config PATH or set {CONFIG_ENV_VAR}",
            source=source,
        )

    namespace = _run_config_file(file)

    if "config" not in namespace:
        raise ConfigError(
            "the file defines no variable named config; assign "
            "config = define_config(...) at the top level",
            source=source,
        )
    config = namespace["config"]
    if not isinstance(config, EdgebindConfig):
        raise ConfigError(
            f"config is a {type(config).__name__}, not the result of "
            "define_config(); assign config = define_config(...)",
            source=source,
            field="config",
        )
    config._source_path = file
    return config


def _run_config_file(file: Path) -> dict[str, Any]:
    source = str(file)
    # Let the file import helper modules that sit beside it.
    folder = str(file.resolve().parent)
    sys.path.insert(0, folder)
    try:
        return runpy.run_path(source, run_name="edgebind_config")
    except ConfigError as exc:
        line = _line_in(exc, file)
        where = f"{source}:{line}" if line else source
        raise ConfigError(exc.detail, source=where, field=exc.field) from None
    except SyntaxError as exc:
        raise ConfigError(
            f"syntax error on line {exc.lineno}: {exc.msg}; fix the Python syntax",
            source=f"{source}:{exc.lineno}",
        ) from None
    except (Exception, SystemExit) as exc:
        line = _line_in(exc, file)
        where = f"{source}:{line}" if line else source
        raise ConfigError(
            f"running the config file raised {type(exc).__name__}: {exc}",
            source=where,
        ) from exc
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(folder)


def _line_in(exc: BaseException, file: Path) -> int | None:
    """The last line of ``file`` in the traceback of ``exc``."""
    target = os.path.realpath(file)
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == target:
            line = frame.lineno
    return line


def starter_config(data_dir: str = ".edgebind/dev") -> EdgebindConfig:
    """The built-in development config: embedded SQLite under ``data_dir``.

    It declares no service keys; ``edgebind dev`` adds a generated root key.
    """
    return define_config(
        kv={"cache": {}},
        d1=["main"],
        vectorize=[{"name": "embeddings", "dimensions": 768, "metric": "cosine"}],
        environments={"dev": {"default": f"sqlite:///{data_dir}"}},
    )


# ---------------------------------------------------------------- bindings


@dataclass(frozen=True, slots=True)
class Binding:
    """A declared resource with the URL it is bound to in one environment.

    ``origin`` says where the URL came from: a config path such as
    ``environments.prod.kv``, or ``environment variable CACHE_KV``.
    """

    kind: Kind
    name: str
    binding: str
    url: str = field(repr=False)
    spec: ResourceSpec
    origin: str = ""

    @property
    def display_url(self) -> str:
        """The URL with any password masked, for logs and messages."""
        return Driver.redacted(self.url)

    @property
    def origin_field(self) -> str | None:
        """The config field that supplied the URL, or None for a variable."""
        return self.origin if self.origin.startswith("environments.") else None


def resolve_bindings(
    config: EdgebindConfig,
    env_name: str,
    environ: Mapping[str, str] | None = None,
) -> list[Binding]:
    """Give every declared resource its URL in environment ``env_name``.

    A binding's URL is the first of: the process environment variable named
    after the binding, the environment's entry for the binding, its entry for
    the kind, its ``default``. ``${VAR}`` in a URL from the file reads the
    process environment.
    """
    environ = os.environ if environ is None else environ
    source = str(config.source_path) if config.source_path else None
    environment = config.environments.get(env_name)
    if environment is None:
        declared = ", ".join(sorted(config.environments))
        raise ConfigError(
            f"environment {env_name!r} is not declared; declared environments: "
            f"{declared or '(none)'}. Pick one with --env or EDGEBIND_ENV, or "
            f"add {env_name!r} under environments",
            source=source,
            field=f"environments.{env_name}",
        )

    bindings = []
    for kind, name, settings in config.resources():
        binding = settings.binding or default_binding(kind, name)
        url, origin = _url_for(environment, env_name, kind, binding, environ)
        if url is None:
            raise ConfigError(
                f"binding {binding} ({KIND_LABELS[kind]} {name!r}) has no URL in "
                f"environment {env_name!r}; set environments.{env_name}.{binding}, "
                f"environments.{env_name}.{kind} or environments.{env_name}.default, "
                f"or export {binding}=<url>",
                source=source,
                field=f"environments.{env_name}.{binding}",
            )
        if not origin.startswith("environment variable"):
            url = _expand(url, binding, origin, environ, source)

        options: dict[str, object] = {}
        if isinstance(settings, VectorizeIndexConfig):
            options = {"dimensions": settings.dimensions, "metric": settings.metric}
        spec = ResourceSpec(kind=kind, name=name, binding=binding, options=options)
        bindings.append(Binding(kind, name, binding, url, spec, origin))
    return bindings


def _url_for(
    environment: EnvironmentConfig,
    env_name: str,
    kind: Kind,
    binding: str,
    environ: Mapping[str, str],
) -> tuple[str | None, str]:
    from_process = environ.get(binding)
    if from_process:
        return from_process, f"environment variable {binding}"
    by_binding = environment.binding_urls.get(binding)
    if by_binding is not None:
        return by_binding, f"environments.{env_name}.{binding}"
    by_kind: str | None = getattr(environment, kind)
    if by_kind is not None:
        return by_kind, f"environments.{env_name}.{kind}"
    if environment.default is not None:
        return environment.default, f"environments.{env_name}.default"
    return None, ""


def _expand(
    url: str,
    binding: str,
    origin: str,
    environ: Mapping[str, str],
    source: str | None,
) -> str:
    def replace(match: re.Match[str]) -> str:
        var = match.group(1)
        if not _VAR_NAME_RE.match(var):
            raise ConfigError(
                f"binding {binding}: ${{{var}}} is not a variable reference; write "
                "${NAME} with letters, digits and '_'",
                source=source,
                field=origin,
            )
        value = environ.get(var)
        if value is None:
            raise ConfigError(
                f"binding {binding}: the URL uses ${{{var}}}, but the environment "
                f"variable {var} is not set; export {var}=...",
                source=source,
                field=origin,
            )
        return value

    return _VAR_RE.sub(replace, url)
