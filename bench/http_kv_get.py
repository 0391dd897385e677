"""KV get over HTTP against a bare-ASGI hello endpoint, side by side.

    uv run python bench/http_kv_get.py [--requests N] [--rounds R] [--connections C]

Starts two uvicorn servers (uvloop + httptools, access log off) in
subprocesses on free loopback ports: a bare ASGI app that reads the body and
answers a fixed JSON object, and the Edgebind app answering
``POST /api/kv/cache {"action": "get"}`` from SQLite in a temporary folder.
Both get the same request bytes, in alternating rounds, from ``wrk`` when it
is installed, otherwise from a small keep-alive HTTP/1.1 client written on
asyncio streams (httpx itself would be the bottleneck). Prints each side's
median requests per second and the ratio Edgebind / bare.

The load generator shares the machine with the servers, so absolute numbers
are only comparable within one run; the ratio is what the check is about.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"
ROOT_KEY = "bench-root-key"
PATH = "/api/kv/cache"
BODY = b'{"action":"get","key":"bench"}'
EXPECTED_VALUE = "x" * 64
STARTUP_DEADLINE_SECONDS = 20.0
#: the check the project holds itself to: KV get at least this share of bare
TARGET_RATIO = 0.5

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


# ------------------------------------------------------------------ servers


async def hello_app(scope: Scope, receive: Receive, send: Send) -> None:
    """The baseline: read the body like a real handler, answer fixed JSON."""
    if scope["type"] != "http":
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    body = b'{"value":"' + EXPECTED_VALUE.encode() + b'"}'
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def edgebind_app(data_dir: str) -> Any:
    from edgebind.config import define_config
    from edgebind.keys import sha256_hex
    from edgebind.runtime import Runtime
    from edgebind_server.app import create_app

    config = define_config(
        kv={"cache": {}},
        service_keys=[
            {"kid": "root", "tier": "root", "secret_sha256": sha256_hex(ROOT_KEY)}
        ],
        environments={"bench": {"default": f"sqlite:///{data_dir}"}},
    )
    runtime = Runtime(config, "bench")

    async def seed() -> None:
        await runtime.kv("cache").put("bench", EXPECTED_VALUE)

    asyncio.run(seed())
    return create_app(runtime)


def serve(which: str, port: int, data_dir: str) -> None:
    import uvicorn

    app: Any = hello_app if which == "hello" else edgebind_app(data_dir)
    uvicorn.run(
        app,
        host=HOST,
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
    return port


def start_server(which: str, data_dir: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    # Only the SQLite driver is needed; other plugins stay unloaded.
    env = {**os.environ, "EDGEBIND_LOAD_PLUGINS": "sqlite"}
    server_args = ["--serve", which, "--port", str(port), "--data", data_dir]
    process = subprocess.Popen([sys.executable, __file__, *server_args], env=env)
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while True:
        if process.poll() is not None:
            raise SystemExit(f"the {which} server exited with {process.returncode}")
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                return process, port
        except OSError:
            if time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"the {which} server did not start") from None
            time.sleep(0.05)


# --------------------------------------------------------------------- load


def request_bytes(port: int) -> bytes:
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "Content-Type: application/json\r\n"
        f"X-EdgeBase-Service-Key: {ROOT_KEY}\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


_LENGTH = re.compile(rb"content-length:\s*(\d+)", re.IGNORECASE)


async def _connection(port: int, count: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    raw = request_bytes(port)
    try:
        for _ in range(count):
            writer.write(raw)
            head = await reader.readuntil(b"\r\n\r\n")
            if head[9:12] != b"200":
                raise RuntimeError(f"unexpected response: {head[:80]!r}")
            found = _LENGTH.search(head)
            if found is None:
                raise RuntimeError("response without Content-Length")
            await reader.readexactly(int(found.group(1)))
    finally:
        writer.close()


async def _python_load(port: int, requests: int, connections: int) -> float:
    per_connection = max(1, requests // connections)
    started = time.perf_counter()
    await asyncio.gather(
        *(_connection(port, per_connection) for _ in range(connections))
    )
    elapsed = time.perf_counter() - started
    return per_connection * connections / elapsed


def python_load(port: int, requests: int, connections: int) -> float:
    try:
        import uvloop

        return uvloop.run(_python_load(port, requests, connections))
    except ImportError:
        return asyncio.run(_python_load(port, requests, connections))


def wrk_load(wrk: str, port: int, seconds: float, connections: int) -> float:
    script = Path(tempfile.mkdtemp()) / "post.lua"
    headers = {
        "Content-Type": "application/json",
        "X-EdgeBase-Service-Key": ROOT_KEY,
    }
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = {json.dumps(BODY.decode())}\n"
        + "".join(f'wrk.headers["{k}"] = "{v}"\n' for k, v in headers.items())
    )
    wrk_args = [f"-c{connections}", f"-d{seconds:g}s", "-s", str(script)]
    output = subprocess.run(
        [wrk, "-t2", *wrk_args, f"http://{HOST}:{port}{PATH}"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    found = re.search(r"Requests/sec:\s*([\d.]+)", output)
    if found is None or "Non-2xx" in output:
        raise RuntimeError(f"wrk failed:\n{output}")
    return float(found.group(1))


def check_answer(port: int) -> None:
    """One real request, so a wrong setup fails loudly instead of benchmarking
    errors."""
    import httpx

    response = httpx.post(
        f"http://{HOST}:{port}{PATH}",
        content=BODY,
        headers={"X-EdgeBase-Service-Key": ROOT_KEY},
    )
    if response.status_code != 200 or response.json() != {"value": EXPECTED_VALUE}:
        raise SystemExit(f"unexpected answer: {response.status_code} {response.text}")


# --------------------------------------------------------------------- main


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--wrk-seconds", type=float, default=5.0)
    parser.add_argument("--no-wrk", action="store_true")
    parser.add_argument(
        "--serve", choices=["hello", "edgebind"], help=argparse.SUPPRESS
    )
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        serve(args.serve, args.port, args.data)
        return

    wrk = None if args.no_wrk else shutil.which("wrk")
    data_dir = tempfile.mkdtemp(prefix="edgebind-bench-")
    servers = {which: start_server(which, data_dir) for which in ("hello", "edgebind")}
    try:
        for _, port in servers.values():
            check_answer(port)
        tool = (
            f"wrk ({args.wrk_seconds:g} s per round)"
            if wrk
            else (f"asyncio client ({args.requests} requests per round)")
        )
        print(f"load: {tool}, {args.connections} connections, {args.rounds} rounds")

        results: dict[str, list[float]] = {"hello": [], "edgebind": []}
        for _, port in servers.values():  # warm-up, not counted
            python_load(port, min(2000, args.requests), args.connections)
        for round_number in range(1, args.rounds + 1):
            for which, (_, port) in servers.items():
                if wrk:
                    rate = wrk_load(wrk, port, args.wrk_seconds, args.connections)
                else:
                    rate = python_load(port, args.requests, args.connections)
                results[which].append(rate)
                print(f"  round {round_number}: {which:8} {rate:10.0f} req/s")
    finally:
        for process, _ in servers.values():
            process.terminate()
        for process, _ in servers.values():
            process.wait(timeout=10)
        shutil.rmtree(data_dir, ignore_errors=True)

    hello = statistics.median(results["hello"])
    edgebind = statistics.median(results["edgebind"])
    ratio = edgebind / hello
    print(f"bare ASGI hello : {hello:10.0f} req/s (median)")
    print(f"Edgebind KV get : {edgebind:10.0f} req/s (median)")
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"ratio           : {ratio:10.2f}  ({verdict} the {TARGET_RATIO} target)")


if __name__ == "__main__":
    main()
