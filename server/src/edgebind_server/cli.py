"""The ``edgebind`` command line.

Exit status: 0 on success, 2 for a config error (the config file, the
environment, the command's own options), 1 for anything else (a backend that
cannot be reached, a provisioning mismatch, a port in use). Failures print one
line per problem on stderr and no traceback; ``EDGEBIND_DEBUG=1`` shows the
traceback of an unexpected error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shlex
import socket
import stat
from collections.abc import Awaitable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from edgebind.config import (
    Binding,
    EdgebindConfig,
    ServiceKeyConfig,
    load_config,
    resolve_bindings,
    starter_config,
)
from edgebind.errors import ConfigError, EdgebindError
from edgebind.keys import generate_key, sha256_hex
from edgebind.plugins import get_registry
from edgebind.resource import ProvisionOutcome, ProvisionStatus
from edgebind.runtime import Runtime
from edgebind_server.factory import CONFIG_ENV_VAR, ENV_ENV_VAR, FACTORY_IMPORT
from edgebind_server.starter import STARTER_CONFIG_TEXT

__all__ = ["app", "main"]

logger = logging.getLogger(__name__)

DEFAULT_CONFIG_NAME = "edgebind.config.py"
DEV_DIR = Path(".edgebind")
DEV_KEY_FILE = DEV_DIR / "dev-key"
DEV_KID = "dev"
DEFAULT_PORT = 8787
DEFAULT_HOST = "127.0.0.1"

EXIT_FAILURE = 1
EXIT_CONFIG = 2

app = typer.Typer(
    name="edgebind",
    help="Cloudflare-style KV, D1 and Vectorize on your own infrastructure.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
keys_app = typer.Typer(help="Create service keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

stdout = Console(highlight=False)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar=CONFIG_ENV_VAR,
        help=f"Config file (default: ./{DEFAULT_CONFIG_NAME}).",
        dir_okay=False,
    ),
]
EnvOption = Annotated[
    str,
    typer.Option("--env", "-e", envvar=ENV_ENV_VAR, help="Environment to bind."),
]
HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[
    int, typer.Option(min=0, max=65535, help="Port to listen on (0: any free port).")
]
LogLevelOption = Annotated[
    str,
    typer.Option(
        "--log-level",
        help="critical, error, warning, info or debug.",
        case_sensitive=False,
    ),
]


# --------------------------------------------------------------------------
# Failure handling


def _fail(lines: str | Sequence[str], code: int) -> NoReturn:
    for line in [lines] if isinstance(lines, str) else lines:
        typer.echo(f"error: {line}", err=True)
    raise typer.Exit(code)


@contextlib.contextmanager
def _reported_failures() -> Iterator[None]:
    """Turn the errors a command can meet into clean lines and exit codes."""
    try:
        yield
    except ConfigError as exc:
        _fail(_config_problems(exc), EXIT_CONFIG)
    except (EdgebindError, OSError) as exc:
        _fail(str(exc) or type(exc).__name__, EXIT_FAILURE)
    except (typer.Exit, typer.Abort, KeyboardInterrupt):
        raise
    except Exception as exc:
        if os.environ.get("EDGEBIND_DEBUG"):
            raise
        _fail(
            f"unexpected {type(exc).__name__}: {exc} "
            "(set EDGEBIND_DEBUG=1 to see the traceback)",
            EXIT_FAILURE,
        )


def _config_problems(exc: ConfigError) -> list[str]:
    """One line per problem. A ConfigError with several problems reads
    "N problems in the config:" followed by one indented line each."""
    lines = str(exc).splitlines() or [type(exc).__name__]
    if len(lines) == 1:
        return lines
    prefix = f"{exc.source}: " if exc.source else ""
    return [prefix + line.strip() for line in lines[1:] if line.strip()]


def _configure_logging(level: str) -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        _fail(
            f"--log-level {level!r} is not a level; use critical, error, "
            "warning, info or debug",
            EXIT_CONFIG,
        )
    logging.basicConfig(level=numeric, format="%(levelname)-8s %(name)s: %(message)s")


T = TypeVar("T")


def _run_then_close(runtime: Runtime, work: Awaitable[T]) -> T:
    """Await ``work``, then close ``runtime``, in one event loop: pools that
    drivers open while working belong to that loop and must close in it."""

    async def run() -> T:
        try:
            return await work
        finally:
            await runtime.aclose()

    return asyncio.run(run())


# --------------------------------------------------------------------------
# dev and serve


def _bind_socket(host: str, port: int) -> socket.socket:
    """A listening socket, bound here so that a port in use is one clean line
    and ``--port 0`` reports the port it got."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror as exc:
        raise OSError(f"cannot listen on host {host!r}: {exc}") from exc

    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise OSError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "stop whatever holds the port or pass another --port"
        ) from exc
    sock.set_inheritable(True)
    return sock


def _serve_socket(runtime: Runtime, sock: socket.socket, log_level: str) -> None:
    import uvicorn

    from edgebind_server.app import create_app

    config = uvicorn.Config(
        create_app(runtime),
        loop="uvloop",
        http="httptools",
        log_level=log_level.lower(),
        lifespan="auto",
    )
    with _uvicorn_exit():
        uvicorn.Server(config).run(sockets=[sock])


@contextlib.contextmanager
def _uvicorn_exit() -> Iterator[None]:
    """uvicorn exits with status 3 when the app fails to start (it has logged
    why); the CLI promises 1 for every failure that is not a config error."""
    try:
        yield
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise typer.Exit(EXIT_FAILURE) from None
        raise


def _url(host: str, port: int) -> str:
    # A wildcard address is not one a client can connect to.
    wildcards = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}  # noqa: S104
    shown = wildcards.get(host, host)
    if ":" in shown:
        shown = f"[{shown}]"
    return f"http://{shown}:{port}"


def read_or_create_dev_key(path: Path = DEV_KEY_FILE) -> str:
    """The dev root key kept in ``path``, created (mode 0600) on first use so
    that restarts keep the same key."""
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            logger.warning("Tightening permissions of %s to 0600.", path)
            path.chmod(0o600)
        key = path.read_text(encoding="utf-8").strip()
        if key:
            return key
        logger.warning("%s is empty; writing a new dev key.", path)
        path.unlink()

    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate_key(DEV_KID)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def _with_dev_key(config: EdgebindConfig, key: str) -> EdgebindConfig:
    """``config`` plus a root key accepted by its hash only."""
    entry = ServiceKeyConfig(kid=DEV_KID, tier="root", secret_sha256=sha256_hex(key))
    # model_copy keeps the private source path of the loaded file.
    return config.model_copy(update={"service_keys": [entry]})


def _try_it(config: EdgebindConfig, url: str, key: str) -> str:
    """A curl command that works against ``config`` as served at ``url``."""
    header = f"X-EdgeBase-Service-Key: {key}"
    if config.kv:
        name = next(iter(config.kv))
        path = f"/api/kv/{name}"
        body = {"action": "set", "key": "hello", "value": "world"}
    elif config.d1:
        name = next(iter(config.d1))
        path = f"/api/d1/{name}"
        body = {"query": "SELECT 1 AS one"}
    else:
        return f"curl -s {url}/api/health"
    return (
        f"curl -s -X POST {url}{path} -H {shlex.quote(header)} "
        f"-H 'Content-Type: application/json' "
        f"-d {shlex.quote(json.dumps(body, separators=(',', ':')))}"
    )


def _resources_line(config: EdgebindConfig) -> str:
    parts = [f"kv {name}" for name in config.kv]
    parts += [f"d1 {name}" for name in config.d1]
    parts += [f"vectorize {name}" for name in config.vectorize]
    return ", ".join(parts) or "(none declared)"


@app.command()
def dev(
    config_path: ConfigOption = None,
    env: EnvOption = "dev",
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    log_level: LogLevelOption = "info",
) -> None:
    """Run a local server with development defaults.

    Serves the folder's edgebind.config.py, or without one the built-in
    starter config (KV "cache", D1 "main", Vectorize "embeddings" on SQLite in
    .edgebind/). With no service keys configured it creates a dev root key,
    kept in .edgebind/dev-key, and prints it once with a request to try.
    """
    _configure_logging(log_level)
    with _reported_failures():
        found = config_path or _default_config_if_present()
        if found is None:
            config = starter_config(data_dir=str(DEV_DIR / "dev"))
            source = "built-in starter config (no edgebind.config.py here)"
        else:
            config = load_config(found)
            source = str(found)

        key = "<your service key>"
        key_note = "from the config's service_keys"
        if not config.service_keys:
            key = read_or_create_dev_key()
            key_note = f"dev root key, kept in {DEV_KEY_FILE}"
            config = _with_dev_key(config, key)

        runtime = Runtime(config, env)
        sock = _bind_socket(host, port)
        url = _url(host, sock.getsockname()[1])

        typer.echo(f"Edgebind dev server: {url}")
        typer.echo(f"  config:    {source}")
        typer.echo(f"  env:       {env}")
        typer.echo(f"  resources: {_resources_line(config)}")
        typer.echo(f"  key:       {key}   ({key_note})")
        typer.echo(f"  API docs:  {url}/docs")
        typer.echo("Try it:")
        typer.echo(f"  {_try_it(config, url, key)}")

        _serve_socket(runtime, sock, log_level)


def _default_config_if_present() -> Path | None:
    candidate = Path(DEFAULT_CONFIG_NAME)
    return candidate if candidate.is_file() else None


@app.command()
def serve(
    config_path: ConfigOption = None,
    env: EnvOption = "dev",
    host: HostOption = DEFAULT_HOST,
    port: PortOption = DEFAULT_PORT,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (uvicorn multi-process).")
    ] = 1,
    provision_first: Annotated[
        bool,
        typer.Option("--provision", help="Provision every resource before serving."),
    ] = False,
    log_level: LogLevelOption = "info",
) -> None:
    """Serve the config's resources for one environment."""
    _configure_logging(log_level)
    with _reported_failures():
        config = load_config(config_path)

        # Checked here, in this process, so a bad binding is one clean line
        # instead of a failure in every worker.
        checked = Runtime(config, env)
        if provision_first:
            outcomes = _run_then_close(checked, checked.provision())
            _print_outcomes(checked, outcomes, dry_run=False)
            if any(o.status is ProvisionStatus.MISMATCHED for _, o in outcomes):
                _fail("provisioning found mismatched resources", EXIT_FAILURE)
        else:
            # Nothing was opened yet: building the runtime does no I/O.
            asyncio.run(checked.aclose())

        if workers == 1:
            sock = _bind_socket(host, port)
            bound = _url(host, sock.getsockname()[1])
            typer.echo(f"Edgebind serving env {env} on {bound}")
            _serve_socket(Runtime(config, env), sock, log_level)
            return

        _serve_workers(config, env, host, port, workers, log_level)


def _serve_workers(
    config: EdgebindConfig,
    env: str,
    host: str,
    port: int,
    workers: int,
    log_level: str,
) -> None:
    import uvicorn

    source = config.source_path
    if source is not None:
        os.environ[CONFIG_ENV_VAR] = str(Path(source).resolve())
    os.environ[ENV_ENV_VAR] = env

    # uvicorn binds the shared socket itself; trying first here turns a port
    # in use into the same clean line the single-worker path prints.
    _bind_socket(host, port).close()

    typer.echo(
        f"Edgebind serving env {env} on {_url(host, port)} with {workers} workers"
    )
    with _uvicorn_exit():
        uvicorn.run(
            FACTORY_IMPORT,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            loop="uvloop",
            http="httptools",
            log_level=log_level.lower(),
        )


# --------------------------------------------------------------------------
# provision, check, drivers


def _print_outcomes(
    runtime: Runtime,
    outcomes: Sequence[tuple[Binding, ProvisionOutcome]],
    *,
    dry_run: bool,
) -> None:
    title = "Provisioning (dry run: nothing changed)" if dry_run else "Provisioning"
    table = Table(title=title)
    for column in ("binding", "kind", "name", "driver", "status", "detail"):
        table.add_column(column)
    colours = {"created": "green", "reused": "cyan", "mismatched": "bold red"}
    for binding, outcome in outcomes:
        status = outcome.status.value
        table.add_row(
            binding.binding,
            binding.kind,
            binding.name,
            runtime.driver_for(binding.binding).name,
            f"[{colours.get(status, 'white')}]{status}[/]",
            escape(outcome.detail),
        )
    stdout.print(table)


@app.command()
def provision(
    config_path: ConfigOption = None,
    env: EnvOption = "dev",
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Report what would change; change nothing."),
    ] = False,
) -> None:
    """Create missing resources; reuse existing ones unchanged.

    Exits 1 when a resource exists with other settings than declared.
    """
    with _reported_failures():
        runtime = Runtime(load_config(config_path), env)
        outcomes = _run_then_close(runtime, runtime.provision(dry_run=dry_run))

        _print_outcomes(runtime, outcomes, dry_run=dry_run)
        mismatched = [b for b, o in outcomes if o.status is ProvisionStatus.MISMATCHED]
        if mismatched:
            _fail(
                [
                    f"{b.binding} ({b.kind} {b.name}) exists with other settings; "
                    "fix the config or the backend, then run provision again"
                    for b in mismatched
                ],
                EXIT_FAILURE,
            )


@app.command()
def check(config_path: ConfigOption = None, env: EnvOption = "dev") -> None:
    """Validate the config for one environment and ping every backend."""
    with _reported_failures():
        config = load_config(config_path)
        runtime = Runtime(config, env)
        health = _run_then_close(runtime, runtime.health())

        table = Table(title=f"{config.source_path or 'config'} (env {env})")
        for column in ("binding", "kind", "name", "driver", "status"):
            table.add_column(column)
        for entry in health:
            status = (
                "[green]ok[/]" if entry.ok else f"[red]{escape(entry.error or '')}[/]"
            )
            table.add_row(entry.binding, entry.kind, entry.name, entry.driver, status)
        stdout.print(table)

        failing = [entry for entry in health if not entry.ok]
        if failing:
            _fail(
                [f"{e.binding} ({e.driver}) unreachable: {e.error}" for e in failing],
                EXIT_FAILURE,
            )
        keys = len(config.service_keys)
        typer.echo(f"Config OK: {len(health)} bindings reachable, {keys} service keys.")


@app.command()
def drivers(
    config_path: ConfigOption = None,
    env: EnvOption = "dev",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the installed drivers, their URL schemes and resource kinds.

    With a config (--config, or edgebind.config.py here) it also shows which
    of its bindings each driver serves in the environment.
    """
    with _reported_failures():
        registry = get_registry()
        infos = registry.drivers()
        bound = _bindings_by_driver(config_path, env)
        rows: list[dict[str, Any]] = [
            {
                "name": info.name,
                "schemes": list(info.schemes),
                "kinds": list(info.kinds),
                "plugin": info.plugin,
                "description": info.description,
                "bindings": bound.get(info.name, []),
            }
            for info in infos
        ]
        if as_json:
            typer.echo(json.dumps(rows, indent=2))
            return

        table = Table(title="Installed drivers")
        columns = ["name", "schemes", "kinds", "plugin", "description"]
        if bound:
            columns.append(f"bindings (env {env})")
        for column in columns:
            table.add_column(column)
        for row in rows:
            cells = [
                row["name"],
                ", ".join(f"{s}://" for s in row["schemes"]),
                ", ".join(row["kinds"]),
                row["plugin"],
                row["description"],
            ]
            if bound:
                cells.append(", ".join(row["bindings"]))
            table.add_row(*(escape(cell) for cell in cells))
        stdout.print(table)
        if not infos:
            typer.echo(
                "No drivers installed. Install edgebind-sqlite or another driver "
                "package (check EDGEBIND_LOAD_PLUGINS if one should be here)."
            )


def _bindings_by_driver(config_path: Path | None, env: str) -> dict[str, list[str]]:
    """Driver name -> binding names of the config, when there is a config."""
    found = config_path or _default_config_if_present()
    if found is None:
        return {}
    config = load_config(found)
    by_driver: dict[str, list[str]] = {}
    for binding in resolve_bindings(config, env, os.environ):
        try:
            name = get_registry().for_url(binding.url).name
        except ConfigError:
            name = "(not installed)"
        by_driver.setdefault(name, []).append(binding.binding)
    return by_driver


# --------------------------------------------------------------------------
# init and keys


@app.command()
def init(
    config_path: ConfigOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing file.")
    ] = False,
) -> None:
    """Write a starter edgebind.config.py (a working, commented example)."""
    with _reported_failures():
        target = config_path or Path(DEFAULT_CONFIG_NAME)
        if target.exists() and not force:
            _fail(
                f"{target} already exists; pass --force to overwrite it",
                EXIT_FAILURE,
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(STARTER_CONFIG_TEXT, encoding="utf-8")
        typer.echo(f"Wrote {target}. Next: edgebind check, then edgebind dev.")


@keys_app.command("new")
def keys_new(
    kid: Annotated[str, typer.Option("--kid", help="Key id (letters, digits, -).")],
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scope",
            "-s",
            help="A scope such as kv:namespace:cache:read (repeatable).",
        ),
    ] = None,
    root: Annotated[
        bool, typer.Option("--root", help="A root key: every scope.")
    ] = False,
    config_path: ConfigOption = None,
) -> None:
    """Make a service key: print it, its SHA-256 and a config entry.

    The entry stores only the hash, so the config never holds the secret.
    """
    with _reported_failures():
        entry = _key_entry(kid, scopes or [], root=root)
        try:
            key = generate_key(kid)
        except ValueError as exc:
            raise ConfigError(str(exc), source="keys new", field="--kid") from exc
        digest = sha256_hex(key)
        entry["secret_sha256"] = digest

        # Validated the way a config file is, so the printed entry is one
        # the server accepts.
        _validate_key_entry(entry, config_path)

        typer.echo(f"key:     {key}")
        typer.echo(f"sha256:  {digest}")
        typer.echo("")
        typer.echo("Give the key to the client. Add this entry to service_keys")
        typer.echo(f"in {config_path or DEFAULT_CONFIG_NAME} (it holds only the hash):")
        typer.echo("")
        typer.echo(f"    {_python_literal(entry)},")


def _key_entry(kid: str, scopes: list[str], *, root: bool) -> dict[str, Any]:
    if root and scopes:
        raise ConfigError(
            "a root key passes every scope; pass either --root or --scope, not both"
        )
    if not root and not scopes:
        raise ConfigError(
            "a scoped key needs at least one --scope (for example "
            "--scope kv:namespace:cache:read), or pass --root"
        )
    if root:
        return {"kid": kid, "tier": "root"}
    return {"kid": kid, "tier": "scoped", "scopes": list(scopes)}


def _validate_key_entry(entry: dict[str, Any], config_path: Path | None) -> None:
    from edgebind.config import define_config

    try:
        define_config(service_keys=[entry])
    except ConfigError as exc:
        raise ConfigError(
            exc.detail, source="keys new", field=_cli_field(exc.field)
        ) from exc


def _cli_field(field: str | None) -> str | None:
    # "service_keys.0.kid" reads better as the option that set it.
    if field is None:
        return None
    for name, option in (("kid", "--kid"), ("scopes", "--scope"), ("tier", "--root")):
        if f".{name}" in f".{field}":
            return option
    return field


def _python_literal(entry: dict[str, Any]) -> str:
    """The entry as Python source; JSON of these values is valid Python."""
    return json.dumps(entry)


def main() -> None:
    """Entry point of the ``edgebind`` console script."""
    app(prog_name="edgebind")


if __name__ == "__main__":
    main()
