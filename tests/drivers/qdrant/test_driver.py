"""URL handling, lazy connection, provisioning and backend failures."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path

import pytest

from edgebind.errors import BackendUnavailable, ProvisionError, ResourceClosed
from edgebind.resource import ProvisionStatus
from edgebind.vectorize import Vector
from edgebind_qdrant import QdrantDriver
from edgebind_qdrant.driver import DEFAULT_PORT, parse_qdrant_url
from edgebind_qdrant.vectorize import QdrantVectorIndex
from tests.drivers.qdrant.conftest import MakeIndex, index_spec, local_url
from tests.servers import free_port

# ------------------------------------------------------------------ URLs


@pytest.mark.parametrize(
    ("url", "mode", "host", "port", "location"),
    [
        ("qdrant://db.internal", "http", "db.internal", DEFAULT_PORT, ""),
        ("qdrant://127.0.0.1:7000", "http", "127.0.0.1", 7000, ""),
        ("qdrant://[::1]:6333", "http", "::1", 6333, ""),
        ("qdrant+https://cloud.example:443", "https", "cloud.example", 443, ""),
        ("qdrant+local:///data/vec", "local", "", DEFAULT_PORT, "data/vec"),
        ("qdrant+local:////srv/vec", "local", "", DEFAULT_PORT, "/srv/vec"),
        ("qdrant+local://:memory:", "local", "", DEFAULT_PORT, ":memory:"),
    ],
)
def test_urls_are_understood(
    url: str, mode: str, host: str, port: int, location: str
) -> None:
    target = parse_qdrant_url(url)

    assert (target.mode, target.host, target.port, target.location) == (
        mode,
        host,
        port,
        location,
    )


def test_query_parameters_are_read() -> None:
    target = parse_qdrant_url("qdrant+https://h/base?api_key_env=MY_KEY&timeout=3")

    assert target.api_key_env == "MY_KEY"
    assert target.api_key_env_explicit
    assert target.timeout == 3
    assert target.prefix == "/base"
    assert target.base_url == "https://h:6333"


@pytest.mark.parametrize(
    ("url", "complaint"),
    [
        ("redis://h", "not a Qdrant URL"),
        ("qdrant://", "names no host"),
        ("qdrant://h:notaport", "port"),
        ("qdrant://user:secret@h", "carries credentials"),
        ("qdrant://h?apikey=x", "unknown parameter"),
        ("qdrant://h?timeout=0", "timeout"),
        ("qdrant://h?timeout=abc", "timeout"),
        ("qdrant://h?api_key_env=1BAD", "not an environment variable name"),
        ("qdrant://h?api_key_env=", "exactly one non-empty value"),
        ("qdrant+local://somehost/dir", "names a host"),
        ("qdrant+local:///", "names no directory"),
        ("qdrant://h#frag", "fragment"),
    ],
)
def test_bad_urls_are_refused_with_the_fix(url: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        QdrantDriver.validate_url(url)


def test_credentials_are_redacted_in_the_message() -> None:
    with pytest.raises(ValueError) as caught:
        QdrantDriver.validate_url("qdrant://user:hunter2@h")

    assert "hunter2" not in str(caught.value)


def test_driver_is_registered_through_its_entry_point() -> None:
    from importlib.metadata import entry_points

    found = {ep.name: ep.value for ep in entry_points(group="edgebind")}

    assert found.get("qdrant") == "edgebind_qdrant.plugin"


# ------------------------------------------------------- lazy connection


async def test_opening_an_index_does_no_io() -> None:
    driver = QdrantDriver(f"qdrant://127.0.0.1:{free_port()}")

    index = driver.open_vectorize(index_spec())

    assert isinstance(index, QdrantVectorIndex)
    await driver.aclose()


async def test_unreachable_server_is_backend_unavailable() -> None:
    driver = QdrantDriver(f"qdrant://127.0.0.1:{free_port()}?timeout=2")
    index = driver.open_vectorize(index_spec())

    try:
        with pytest.raises(BackendUnavailable) as caught:
            await index.upsert([Vector("a", (1.0, 0.0, 0.0))])
        with pytest.raises(BackendUnavailable):
            await index.provision()
        with pytest.raises(BackendUnavailable):
            await index.ping()
    finally:
        await driver.aclose()

    assert caught.value.driver == "qdrant"
    assert caught.value.binding == "VECTORIZE_TEST"
    assert "cannot reach Qdrant" in str(caught.value)


async def test_named_api_key_variable_must_be_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("EDGEBIND_TEST_UNSET_KEY", raising=False)
    driver = QdrantDriver(
        f"qdrant://127.0.0.1:{free_port()}?api_key_env=EDGEBIND_TEST_UNSET_KEY"
    )
    index = driver.open_vectorize(index_spec())

    with pytest.raises(BackendUnavailable, match="EDGEBIND_TEST_UNSET_KEY"):
        await index.describe()
    await driver.aclose()


async def test_use_after_driver_close_is_refused(tmp_path: Path) -> None:
    driver = QdrantDriver(local_url(tmp_path))
    index = driver.open_vectorize(index_spec())
    await driver.aclose()

    with pytest.raises(ResourceClosed):
        await index.provision()


# ---------------------------------------------------------- provisioning


async def test_missing_collection_says_to_provision(
    local_driver: QdrantDriver,
) -> None:
    index = local_driver.open_vectorize(index_spec("unprovisioned"))

    with pytest.raises(BackendUnavailable, match="edgebind provision") as caught:
        await index.get_by_ids(["a"])
    await index.ping()  # the server is reachable; only the collection is missing

    assert "edgebind_unprovisioned" in str(caught.value)


async def test_provision_twice_creates_then_reuses(
    local_driver: QdrantDriver,
) -> None:
    index = local_driver.open_vectorize(index_spec("twice"))

    assert (await index.inspect()).status is ProvisionStatus.CREATED
    first = await index.provision()
    await index.upsert([Vector("a", (1.0, 2.0, 3.0), {"k": 1})])
    second = await index.provision()

    assert first.status is ProvisionStatus.CREATED
    assert first.detail.startswith("created collection ")
    assert "(3 dimensions, cosine)" in first.detail
    assert second.status is ProvisionStatus.REUSED
    assert second.detail.startswith("reused collection ")
    assert (await index.inspect()).status is ProvisionStatus.REUSED
    assert [v.id for v in await index.get_by_ids(["a"])] == ["a"]


@pytest.mark.parametrize(
    ("dimensions", "metric", "words"),
    [(4, "cosine", "has 3 dimensions (cosine)"), (3, "euclidean", "(cosine)")],
)
async def test_other_settings_name_both(
    local_driver: QdrantDriver, dimensions: int, metric: str, words: str
) -> None:
    await local_driver.open_vectorize(index_spec("shape")).provision()
    other = local_driver.open_vectorize(
        index_spec("shape", dimensions=dimensions, metric=metric)
    )

    with pytest.raises(ProvisionError) as caught:
        await other.provision()
    with pytest.raises(ProvisionError):
        await other.describe()
    inspected = await other.inspect()

    message = str(caught.value)
    assert f"declared with {dimensions} dimensions ({metric})" in message
    assert words in message
    assert inspected.status is ProvisionStatus.MISMATCHED
    assert inspected.detail == message


async def test_two_drivers_share_one_local_directory(tmp_path: Path) -> None:
    first = QdrantDriver(local_url(tmp_path / "shared"))
    second = QdrantDriver(local_url(tmp_path / "shared" / ".." / "shared"))
    try:
        writer = first.open_vectorize(index_spec("same"))
        reader = second.open_vectorize(index_spec("same"))
        await writer.provision()
        await writer.upsert([Vector("a", (1.0, 0.0, 0.0))])

        assert [v.id for v in await reader.get_by_ids(["a"])] == ["a"]
        await first.aclose()
        # the shared client stays open while the second driver uses it
        assert (await reader.describe()).vector_count == 1
    finally:
        await first.aclose()
        await second.aclose()


async def test_data_survives_reopening_the_directory(tmp_path: Path) -> None:
    driver = QdrantDriver(local_url(tmp_path))
    index = driver.open_vectorize(index_spec("durable"))
    await index.provision()
    await index.upsert([Vector("a", (1.0, 2.0, 3.0), {"big": 2**63 - 1})])
    await driver.aclose()

    again = QdrantDriver(local_url(tmp_path))
    try:
        found = await again.open_vectorize(index_spec("durable")).get_by_ids(["a"])
    finally:
        await again.aclose()

    assert found[0].metadata == {"big": 2**63 - 1}


async def test_directory_locked_by_another_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from qdrant_client import QdrantClient
        client = QdrantClient(path={str(tmp_path)!r})
        print("ready", flush=True)
        sys.stdin.read()
        """
    )
    holder = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert holder.stdout is not None
        assert (await holder.stdout.readline()).strip() == b"ready"
        driver = QdrantDriver(local_url(tmp_path))
        index = driver.open_vectorize(index_spec())

        with pytest.raises(BackendUnavailable, match=r"one\s+process at a time"):
            await index.provision()
        await driver.aclose()
    finally:
        await holder.communicate(b"")


async def test_index_make_helper_gives_a_provisioned_index(
    make_index: MakeIndex,
) -> None:
    index = await make_index()

    assert (await index.describe()).vector_count == 0
