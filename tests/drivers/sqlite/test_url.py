"""URL parsing and where the files go."""

from __future__ import annotations

from pathlib import Path

import pytest

from edgebind.errors import InvalidArgument
from edgebind.resource import ResourceSpec
from edgebind_sqlite import SQLiteDriver, parse_sqlite_url
from tests.drivers.sqlite.conftest import d1_spec, kv_spec, vector_spec


def test_relative_url_is_relative_to_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert parse_sqlite_url("sqlite:///.edgebind/dev") == Path(".edgebind/dev")
    assert SQLiteDriver("sqlite:///.edgebind/dev").directory == (
        tmp_path / ".edgebind" / "dev"
    )


def test_four_slashes_make_an_absolute_path() -> None:
    assert parse_sqlite_url("sqlite:////var/lib/edgebind") == Path("/var/lib/edgebind")


def test_memory_url_has_no_directory() -> None:
    assert parse_sqlite_url("sqlite://:memory:") is None
    assert SQLiteDriver("sqlite://:memory:").directory is None


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("sqlite://host/x", "names a host ('host')"),
        ("sqlite://", "names no directory"),
        ("sqlite:///", "names no directory"),
        ("sqlite:///data?mode=ro", "'mode' is not an option"),
        ("sqlite:///data#frag", "no fragment"),
        (
            "sqlite:///data?busy_timeout_ms=1&busy_timeout_ms=2",
            "'busy_timeout_ms' is given twice",
        ),
        ("redis://localhost", "not a sqlite:// URL"),
    ],
)
def test_malformed_urls_say_how_to_write_them(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match="sqlite:////absolute/dir") as caught:
        SQLiteDriver.validate_url(url)
    assert fragment in str(caught.value)


@pytest.mark.parametrize("value", ["", "-1", "1.5", "ten", "٣", str(2**31)])
def test_busy_timeout_must_be_a_whole_number_of_milliseconds(value: str) -> None:
    with pytest.raises(ValueError, match="busy_timeout_ms"):
        SQLiteDriver.validate_url(f"sqlite:///data?busy_timeout_ms={value}")


def test_busy_timeout_option_reaches_every_file(tmp_path: Path) -> None:
    driver = SQLiteDriver(f"sqlite:///{tmp_path}?busy_timeout_ms=25")
    assert driver.directory == tmp_path
    assert driver.busy_timeout_ms == 25
    assert driver.open_d1(d1_spec())._file.busy_timeout_ms == 25
    assert driver.open_vectorize(vector_spec())._store.file.busy_timeout_ms == 25
    assert SQLiteDriver("sqlite://:memory:?busy_timeout_ms=0").busy_timeout_ms == 0
    assert SQLiteDriver(f"sqlite:///{tmp_path}").busy_timeout_ms == 5000


def test_constructor_rejects_a_malformed_url() -> None:
    with pytest.raises(ValueError, match="names a host"):
        SQLiteDriver("sqlite://example.com/data")


async def test_directory_is_created_on_first_use(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "dir"
    driver = SQLiteDriver(f"sqlite:///{target}")
    kv = driver.open_kv(kv_spec())
    assert not target.exists()  # opening does no I/O

    await kv.put("k", "v")

    assert (target / "kv.sqlite3").is_file()
    await driver.aclose()


def test_names_that_are_not_file_safe_are_refused(tmp_path: Path) -> None:
    driver = SQLiteDriver(f"sqlite:///{tmp_path}")
    with pytest.raises(InvalidArgument, match="cannot be used by the sqlite driver"):
        driver.open_d1(ResourceSpec("d1", "../escape", "ESCAPE_DB"))


def test_plugin_registers_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    from edgebind.plugins import DriverRegistry

    monkeypatch.setenv("EDGEBIND_LOAD_PLUGINS", "sqlite")
    registry = DriverRegistry()
    assert registry.for_url("sqlite:///x") is SQLiteDriver
