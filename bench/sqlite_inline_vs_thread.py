"""Should a sub-millisecond SQLite read run inline on the event loop or on a thread?

Measures one primary-key read of a small KV row from a WAL database on disk,
three ways, inside one asyncio loop:

* inline: the read runs on the loop thread itself;
* to_thread: ``asyncio.to_thread`` (the default executor);
* dedicated: a single-thread executor that owns the connection, which is how
  the SQLite driver runs every statement.

Run: ``uv run python bench/sqlite_inline_vs_thread.py``. It prints the median
and p99 latency of each way and the ratio of the thread hop to inline.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROWS = 10_000
ROUNDS = 5_000


def make_database(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE kv (key BLOB PRIMARY KEY, value TEXT)")
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO kv VALUES (?, ?)",
        ((f"key-{i:06d}".encode(), "v" * 100) for i in range(ROWS)),
    )
    conn.execute("COMMIT")
    conn.close()


def open_reader(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return conn


def read_one(conn: sqlite3.Connection, i: int) -> object:
    key = f"key-{i % ROWS:06d}".encode()
    return conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()


def summary(label: str, samples: list[float]) -> float:
    ordered = sorted(samples)
    median = statistics.median(ordered) * 1e6
    p99 = ordered[int(len(ordered) * 0.99)] * 1e6
    print(f"{label:<10} median {median:8.1f} us   p99 {p99:8.1f} us")
    return median


async def measure(
    conn: sqlite3.Connection, run: Callable[[int], object], rounds: int
) -> list[float]:
    samples = []
    for i in range(rounds):
        started = time.perf_counter()
        result = run(i)
        if asyncio.iscoroutine(result) or isinstance(result, asyncio.Future):
            await result
        samples.append(time.perf_counter() - started)
    return samples


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.sqlite3"
        make_database(path)
        loop = asyncio.get_running_loop()

        inline_conn = open_reader(path)
        shared_conn = open_reader(path)
        executor = ThreadPoolExecutor(max_workers=1)
        own = threading.local()

        def dedicated_read(i: int) -> object:
            # The dedicated thread keeps its own connection, as the driver does.
            if not hasattr(own, "conn"):
                own.conn = open_reader(path)
            return read_one(own.conn, i)

        # Warm the page cache and the threads before timing anything.
        for i in range(ROWS):
            read_one(inline_conn, i)
        await asyncio.to_thread(read_one, shared_conn, 0)
        await loop.run_in_executor(executor, dedicated_read, 0)

        inline = await measure(inline_conn, lambda i: read_one(inline_conn, i), ROUNDS)
        to_thread = await measure(
            shared_conn, lambda i: asyncio.to_thread(read_one, shared_conn, i), ROUNDS
        )
        dedicated = await measure(
            shared_conn,
            lambda i: loop.run_in_executor(executor, dedicated_read, i),
            ROUNDS,
        )

        print(f"{ROUNDS} primary-key reads of a {ROWS}-row WAL table on disk")
        inline_median = summary("inline", inline)
        to_thread_median = summary("to_thread", to_thread)
        dedicated_median = summary("dedicated", dedicated)
        print(f"to_thread / inline ratio: {to_thread_median / inline_median:.1f}x")
        print(f"dedicated / inline ratio: {dedicated_median / inline_median:.1f}x")
        print(
            "thread hop adds "
            f"{dedicated_median - inline_median:.1f} us per read (dedicated)"
        )

        executor.shutdown(wait=True)
        inline_conn.close()
        shared_conn.close()


if __name__ == "__main__":
    asyncio.run(main())
