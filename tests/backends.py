"""Where the tests find real backend servers.

For each backend, in order: the URL in ``EDGEBIND_TEST_<NAME>_URL``; a
testcontainer, where a Docker engine answers; otherwise the test skips and
says why. ``EDGEBIND_REQUIRE_BACKENDS=redis,postgres`` (CI sets it) turns that
skip into a failure, so a CI run can never go green by skipping a backend.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

import pytest

logger = logging.getLogger(__name__)

_IMAGES = {
    "redis": "redis:7-alpine",
    "postgres": "postgres:16-alpine",
    "qdrant": "qdrant/qdrant:v1.12.4",
}


def required_backends() -> set[str]:
    raw = os.environ.get("EDGEBIND_REQUIRE_BACKENDS", "")
    return {name.strip().lower() for name in raw.split(",") if name.strip()}


def unavailable(name: str, reason: str) -> None:
    """Skip the test, or fail it when the backend is required."""
    message = f"{name} backend unavailable: {reason}"
    if name in required_backends():
        pytest.fail(f"{message} (EDGEBIND_REQUIRE_BACKENDS requires {name})")
    pytest.skip(message)


def _docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=3).ping()
    except Exception:
        return False
    return True


@contextlib.contextmanager
def backend_url(name: str) -> Iterator[str]:
    """Yield a URL for backend ``name`` (redis, postgres, qdrant)."""
    env_var = f"EDGEBIND_TEST_{name.upper()}_URL"
    configured = os.environ.get(env_var)
    if configured:
        yield configured
        return

    if not _docker_available():
        unavailable(name, f"set {env_var}, or run where a Docker engine answers")

    with _container(name) as url:
        yield url


@contextlib.contextmanager
def _container(name: str) -> Iterator[str]:
    image = _IMAGES[name]
    if name == "redis":
        from testcontainers.redis import RedisContainer

        with RedisContainer(image) as redis_box:
            host = redis_box.get_container_host_ip()
            port = redis_box.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
    elif name == "postgres":
        from testcontainers.postgres import PostgresContainer

        with PostgresContainer(image, driver=None) as pg_box:
            yield pg_box.get_connection_url()
    else:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs

        with DockerContainer(image).with_exposed_ports(6333) as qdrant_box:
            wait_for_logs(qdrant_box, "Qdrant gRPC listening", timeout=60)
            host = qdrant_box.get_container_host_ip()
            port = qdrant_box.get_exposed_port(6333)
            yield f"qdrant://{host}:{port}"
