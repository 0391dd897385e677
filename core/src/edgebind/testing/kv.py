"""KVContract: the KV cases every driver must pass (CONTRACT_CASES K1-K15).

Subclass it and provide the ``driver`` fixture (see :mod:`edgebind.testing`).
Values are strings (DESIGN §3), so K2's byte cases become text with NUL and
every plane of Unicode. Each test's docstring starts with the case id.

Capabilities are checked both ways (declared ⇒ must work, undeclared ⇒ must
be refused): ``test_l2_ttl_capability_is_honest`` always runs, and
``test_k8_ttl_expires_on_the_drivers_clock`` advances the fake clock for a
driver declaring ``injectable_clock`` and polls in real time (``slow``) for
one that does not. A driver declaring every capability skips nothing.

A Hypothesis state machine (:meth:`KVContract.test_kv_matches_dict_model`)
drives put / get / delete / paged list / clock jumps against a plain dict.
Hypothesis rules are synchronous, so the machine runs the driver in a
dedicated :class:`asyncio.Runner`; a driver's connections belong to the loop
that made them, which is why the machine builds its own driver with
:meth:`~edgebind.testing._base.ContractBase.make_driver` (same class and URL
as the ``driver`` fixture's) instead of borrowing the fixture's.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import AsyncIterator
from typing import ClassVar

import pytest
import pytest_asyncio
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from edgebind.capabilities import MAX_KV_TTL_SECONDS, KVCapabilities
from edgebind.drivers import Driver
from edgebind.errors import InvalidArgument, ResourceClosed
from edgebind.kv import KVNamespace, encode_cursor
from edgebind.resource import ProvisionStatus, ResourceSpec
from edgebind.testing._base import (
    ContractBase,
    ResourceOpener,
    asyncio_contract,
    unique_name,
)
from edgebind.testing.clock import FakeClock

__all__ = ["KVContract", "list_all"]

logger = logging.getLogger(__name__)

#: more pages than any test needs; a cursor chain longer than this loops
_MAX_PAGES = 10_000


def utf8_sorted(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


async def list_all(kv: KVNamespace, prefix: str = "", limit: int = 1000) -> list[str]:
    """Every key under ``prefix``, following the cursor chain to its end.

    Checks on the way that no page exceeds ``limit`` and the chain ends.
    """
    keys: list[str] = []
    cursor: str | None = None
    for _ in range(_MAX_PAGES):
        page = await kv.list(prefix=prefix, limit=limit, cursor=cursor)
        assert len(page.keys) <= limit, (
            f"a page holds {len(page.keys)} keys; limit was {limit}"
        )
        keys.extend(page.keys)
        if page.cursor is None:
            return keys
        cursor = page.cursor
    raise AssertionError(f"the cursor chain did not end after {_MAX_PAGES} pages")


@asyncio_contract
class KVContract(ContractBase):
    """The KV contract. Provide a ``driver`` fixture; see the module docs."""

    kind: ClassVar = "kv"
    capability_class: ClassVar = KVCapabilities

    #: how long past its TTL a key may stay readable on a driver without
    #: ``injectable_clock``; backends that expire lazily may need more
    real_time_ttl_slack_seconds: ClassVar[float] = 10.0

    @pytest_asyncio.fixture(loop_scope="function")
    async def kv(self, opener: ResourceOpener) -> AsyncIterator[KVNamespace]:
        """A fresh, provisioned namespace; emptied again at teardown so a
        shared backend keeps nothing from the run."""
        namespace: KVNamespace = await opener.provisioned()
        yield namespace
        if not namespace._closed:
            for key in await list_all(namespace):
                await namespace.delete(key)

    @pytest.fixture
    def caps(self, declared: KVCapabilities) -> KVCapabilities:
        return declared

    def sorted_or_set(self, caps: KVCapabilities, keys: list[str]) -> object:
        """Keys as the driver promises them: in UTF-8 order, or as a set."""
        return keys if caps.list_ordered else set(keys)

    # ------------------------------------------------------------- K1 - K4

    async def test_k1_missing_key_is_none(self, kv: KVNamespace) -> None:
        """K1: get of a missing key is None; so is get after delete."""
        assert await kv.get("never-written") is None

        await kv.put("gone", "v")
        await kv.delete("gone")
        assert await kv.get("gone") is None

    @pytest.mark.parametrize(
        "value",
        [
            "plain",
            "emoji 😀 and CJK 漢字 and ℵ",
            "NUL\x00inside",
            '{"json": "looking", "n": 1}',
            "line\r\nbreaks\tand tabs",
            "\U0010ffff astral end",
            "",
        ],
        ids=["plain", "emoji", "nul", "json", "whitespace", "astral", "empty"],
    )
    async def test_k2_values_round_trip(self, kv: KVNamespace, value: str) -> None:
        """K2: text round-trips exactly; the empty value is not missing."""
        await kv.put("k", value)

        got = await kv.get("k")
        assert got is not None
        assert got == value
        assert "k" in await list_all(kv)

    async def test_k2_lone_surrogate_rejected(self, kv: KVNamespace) -> None:
        """K2: text that cannot be UTF-8 is refused, not mangled."""
        with pytest.raises(InvalidArgument):
            await kv.put("k", "bad \ud800 text")
        with pytest.raises(InvalidArgument):
            await kv.put("bad\udfffkey", "v")

    async def test_k3_overwrite_replaces(self, kv: KVNamespace) -> None:
        """K3: a second put replaces the value."""
        await kv.put("k", "first")
        await kv.put("k", "second")

        assert await kv.get("k") == "second"
        assert await list_all(kv) == ["k"]

    async def test_k4_keys_opaque_and_case_sensitive(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K4: case and Unicode normalisation keep keys apart; odd characters
        round-trip and list literally."""
        odd = [
            "Key",
            "key",
            "caf\u00e9",  # NFC
            "cafe\u0301",  # NFD
            "with space",
            "a/b",
            "a//b",
            "../up",
            "back\\slash",
            "100%",
            "under_score",
            "star*",
            "what?",
            "new\nline",
        ]
        for position, key in enumerate(odd):
            await kv.put(key, f"v{position}")

        for position, key in enumerate(odd):
            assert await kv.get(key) == f"v{position}", key
        listed = await list_all(kv)
        assert self.sorted_or_set(caps, listed) == self.sorted_or_set(
            caps, utf8_sorted(odd)
        )

    # ------------------------------------------------------------- K5 - K7

    async def test_k5_key_size_boundary(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K5: empty key refused; max_key_bytes accepted, one byte more not."""
        with pytest.raises(InvalidArgument):
            await kv.put("", "v")
        with pytest.raises(InvalidArgument):
            await kv.get("")

        limit = caps.max_key_bytes
        ascii_key = "k" * limit
        # Two-byte characters: the limit counts UTF-8 bytes, not characters.
        wide_key = "é" * (limit // 2) + "x" * (limit % 2)
        await kv.put(ascii_key, "ascii")
        await kv.put(wide_key, "wide")
        assert await kv.get(ascii_key) == "ascii"
        assert await kv.get(wide_key) == "wide"

        with pytest.raises(InvalidArgument):
            await kv.put("k" * (limit + 1), "v")
        with pytest.raises(InvalidArgument):
            await kv.put("é" * (limit // 2 + 1), "v")

    async def test_k6_value_size_boundary(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K6: a value of max_value_bytes is accepted, one byte more is not."""
        limit = caps.max_value_bytes
        await kv.put("at-limit", "v" * limit)
        stored = await kv.get("at-limit")
        assert stored is not None
        assert len(stored) == limit

        with pytest.raises(InvalidArgument):
            await kv.put("over", "v" * (limit + 1))
        assert await kv.get("over") is None

    async def test_k6_large_value_verified_by_hash(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K6: a large varied value (min(limit, 4 MiB)) comes back intact."""
        size = min(caps.max_value_bytes, 4 * 1024 * 1024)
        pattern = "".join(chr(33 + (i * 7919) % 90) for i in range(4096))
        value = (pattern * (size // len(pattern) + 1))[:size]
        await kv.put("big", value)

        stored = await kv.get("big")
        assert stored is not None
        assert (
            hashlib.sha256(stored.encode()).hexdigest()
            == hashlib.sha256(value.encode()).hexdigest()
        )

    async def test_k7_delete_idempotent_and_precise(self, kv: KVNamespace) -> None:
        """K7: deleting a missing key is fine; neighbours sharing the prefix
        stay."""
        await kv.delete("never-there")
        for key in ("user", "user:1", "user:10", "users"):
            await kv.put(key, key)

        await kv.delete("user:1")
        await kv.delete("user:1")

        assert await kv.get("user:1") is None
        assert await list_all(kv, prefix="user") == ["user", "user:10", "users"]

    # ------------------------------------------------------------ K8 - K10

    @pytest.mark.requires("ttl", "injectable_clock")
    async def test_k8_ttl_expires(
        self, kv: KVNamespace, clock: FakeClock, caps: KVCapabilities
    ) -> None:
        """K8: readable before expiry; afterwards get is None and list omits
        the key."""
        ttl = max(60, caps.min_ttl_seconds)
        await kv.put("short", "v", ttl=ttl)
        await kv.put("forever", "v")

        clock.advance(ttl - 1)
        assert await kv.get("short") == "v"
        assert await list_all(kv) == ["forever", "short"]

        clock.advance(2)
        assert await kv.get("short") is None
        assert await list_all(kv) == ["forever"]
        page = await kv.list(prefix="sh")
        assert page.keys == []
        assert page.cursor is None

    @pytest.mark.slow
    @pytest.mark.requires("ttl")
    async def test_k8_ttl_expires_on_the_drivers_clock(
        self, kv: KVNamespace, clock: FakeClock, caps: KVCapabilities
    ) -> None:
        """K8: a TTL expires on whichever clock the driver declares it reads.

        With ``injectable_clock`` the fake clock is advanced past the expiry;
        without it the key is polled in real time against a deadline of
        ``min_ttl_seconds + real_time_ttl_slack_seconds`` (hence ``slow``).
        """
        ttl = caps.min_ttl_seconds
        await kv.put("short", "v", ttl=ttl)
        assert await kv.get("short") == "v"
        assert "short" in await list_all(kv)

        if caps.injectable_clock:
            clock.advance(ttl + 1)
            assert await kv.get("short") is None, (
                "the driver declares injectable_clock, yet the key outlived "
                "its TTL on the injected clock"
            )
        else:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ttl + self.real_time_ttl_slack_seconds
            while await kv.get("short") is not None:
                assert loop.time() < deadline, (
                    f"the key outlived its TTL by "
                    f"{self.real_time_ttl_slack_seconds} s of real time"
                )
                await asyncio.sleep(0.25)
        assert "short" not in await list_all(kv)

    @pytest.mark.parametrize("bad", [0, -1, 1.5, "60", True])
    async def test_k9_ttl_validation(self, kv: KVNamespace, bad: object) -> None:
        """K9: zero, negative and non-integer TTLs are refused — by every
        driver, since one without TTL refuses any TTL at all."""
        with pytest.raises(InvalidArgument):
            await kv.put("k", "v", ttl=bad)  # type: ignore[arg-type]
        assert await kv.get("k") is None

    @pytest.mark.requires("ttl")
    async def test_k9_ttl_below_minimum(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K9: a TTL below min_ttl_seconds is refused; the minimum is not."""
        if caps.min_ttl_seconds > 1:
            with pytest.raises(InvalidArgument):
                await kv.put("k", "v", ttl=caps.min_ttl_seconds - 1)
        await kv.put("k", "v", ttl=caps.min_ttl_seconds)
        assert await kv.get("k") == "v"

    @pytest.mark.requires("ttl")
    async def test_k9_ttl_at_the_maximum(self, kv: KVNamespace) -> None:
        """K9: the longest TTL core allows (100 years) is stored and readable;
        one second more is refused before the driver sees it."""
        await kv.put("k", "v", ttl=MAX_KV_TTL_SECONDS)
        assert await kv.get("k") == "v"
        assert await list_all(kv) == ["k"]

        with pytest.raises(InvalidArgument):
            await kv.put("other", "v", ttl=MAX_KV_TTL_SECONDS + 1)
        assert await kv.get("other") is None

    @pytest.mark.requires("ttl", "injectable_clock")
    async def test_k10_overwrite_without_ttl_clears_it(
        self, kv: KVNamespace, clock: FakeClock, caps: KVCapabilities
    ) -> None:
        """K10: rewriting without a TTL clears the earlier one."""
        ttl = max(60, caps.min_ttl_seconds)
        await kv.put("k", "old", ttl=ttl)
        await kv.put("k", "new")

        clock.advance(ttl * 10)
        assert await kv.get("k") == "new"
        assert await list_all(kv) == ["k"]

    @pytest.mark.requires("ttl", "injectable_clock")
    async def test_k10_overwrite_with_ttl_resets_it(
        self, kv: KVNamespace, clock: FakeClock, caps: KVCapabilities
    ) -> None:
        """K10: rewriting with a new TTL replaces the old expiry."""
        ttl = max(60, caps.min_ttl_seconds)
        await kv.put("k", "old", ttl=ttl)
        clock.advance(ttl // 2)
        await kv.put("k", "new", ttl=ttl * 2)

        clock.advance(ttl)  # past the old expiry
        assert await kv.get("k") == "new"
        clock.advance(ttl * 2)  # past the new one
        assert await kv.get("k") is None
        assert await list_all(kv) == []

    @pytest.mark.requires("ttl", "injectable_clock")
    async def test_k10_ttl_cleared_key_can_be_deleted(
        self, kv: KVNamespace, clock: FakeClock, caps: KVCapabilities
    ) -> None:
        """K10: an expired key can be written again and lives anew."""
        ttl = max(60, caps.min_ttl_seconds)
        await kv.put("k", "old", ttl=ttl)
        clock.advance(ttl + 1)
        assert await kv.get("k") is None

        await kv.put("k", "again")
        assert await kv.get("k") == "again"
        assert await list_all(kv) == ["k"]

    async def test_l2_ttl_capability_is_honest(
        self, kv: KVNamespace, clock: FakeClock, caps: KVCapabilities
    ) -> None:
        """L2: a declared TTL is honoured; an undeclared one is refused with
        InvalidArgument and nothing is written, never silently ignored."""
        ttl = max(60, caps.min_ttl_seconds)
        if caps.ttl:
            await kv.put("k", "v", ttl=ttl)
            assert await kv.get("k") == "v"
            assert await list_all(kv) == ["k"]
            if caps.injectable_clock:
                clock.advance(ttl + 1)
                assert await kv.get("k") is None, "a declared TTL was ignored"
                assert await list_all(kv) == []
            # Without the injected clock, expiry is checked in real time by
            # test_k8_ttl_expires_on_the_drivers_clock at the minimum TTL.
        else:
            with pytest.raises(InvalidArgument):
                await kv.put("k", "v", ttl=ttl)
            assert await kv.get("k") is None
            assert await list_all(kv) == []

    # ----------------------------------------------------------- K11 - K13

    async def test_k11_prefix_is_literal(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K11: prefixes match literally and case-sensitively; LIKE and glob
        metacharacters are ordinary characters."""
        keys = [
            "a%1",
            "ab1",
            "a_1",
            "a\\1",
            "a\\\\1",
            "a*1",
            "a?1",
            "a[1",
            "a[b]1",
            "A1",
            "a1",
            "b1",
        ]
        for key in keys:
            await kv.put(key, "v")

        cases = {
            "a%": ["a%1"],
            "a_": ["a_1"],
            "a\\": ["a\\1", "a\\\\1"],
            "a\\\\": ["a\\\\1"],
            "a*": ["a*1"],
            "a?": ["a?1"],
            "a[": ["a[1", "a[b]1"],
            "a[b]": ["a[b]1"],
            "A": ["A1"],
            "a": [k for k in keys if k.startswith("a")],
            "": keys,
        }
        for prefix, expected in cases.items():
            listed = await list_all(kv, prefix=prefix, limit=3)
            assert self.sorted_or_set(caps, listed) == self.sorted_or_set(
                caps, utf8_sorted(expected)
            ), f"prefix {prefix!r}"

    async def test_k11_no_match_is_a_final_empty_page(self, kv: KVNamespace) -> None:
        """K11: a prefix matching nothing gives one empty page, no cursor."""
        await kv.put("present", "v")

        page = await kv.list(prefix="absent")
        assert page.keys == []
        assert page.cursor is None

    async def test_k11_empty_namespace_lists_nothing(self, kv: KVNamespace) -> None:
        """K11 / L1: a fresh namespace lists nothing and has no cursor."""
        page = await kv.list()
        assert page.keys == []
        assert page.cursor is None

    @pytest.mark.requires("list_ordered")
    async def test_k12_utf8_byte_order(self, kv: KVNamespace) -> None:
        """K12: keys list in UTF-8 byte order — not collation, not UTF-16."""
        # '\uffff' sorts before an emoji in UTF-8 but after it in UTF-16;
        # 'B' before 'a' in bytes but not in most collations.
        expected = [
            "!",
            ",",
            "0",
            "A",
            "B",
            "Z",
            "_",
            "a",
            "b",
            "z",
            "~",
            "\u00e9",
            "\u0100",
            "\u4e2d",
            "\uffff",
            "\U0001f600",
        ]
        for key in reversed(expected):
            await kv.put(key, "v")

        assert await list_all(kv) == expected
        assert await list_all(kv, limit=1) == expected
        assert await list_all(kv, limit=5) == expected

    async def test_k13_pages_never_exceed_limit_and_cover_all(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K13: pages respect the limit; their union is the whole set with no
        duplicates; the chain ends with no cursor."""
        keys = [f"item-{i:03d}" for i in range(47)]
        await asyncio.gather(*(kv.put(key, "v") for key in keys))

        for limit in (1, 2, 10, 46, 47, 48, caps.max_list_limit):
            listed = await list_all(kv, limit=limit)
            assert len(listed) == len(set(listed)), f"duplicates at limit {limit}"
            assert self.sorted_or_set(caps, listed) == self.sorted_or_set(caps, keys), (
                f"limit {limit}"
            )

    async def test_k13_exact_fit_ends_chain(self, kv: KVNamespace) -> None:
        """K13: a page that takes the last key carries no cursor."""
        for key in ("a", "b", "c", "d"):
            await kv.put(key, "v")

        first = await kv.list(limit=2)
        assert len(first.keys) == 2
        assert first.cursor is not None
        second = await kv.list(limit=2, cursor=first.cursor)
        assert len(second.keys) == 2
        assert second.cursor is None
        assert len(set(first.keys) | set(second.keys)) == 4

    async def test_k13_limit_may_change_between_pages(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K13: a cursor from one limit continues under another."""
        keys = [f"p{i:02d}" for i in range(30)]
        await asyncio.gather(*(kv.put(key, "v") for key in keys))

        seen: list[str] = []
        cursor: str | None = None
        for limit in (7, 3, 11, 1000):
            page = await kv.list(limit=limit, cursor=cursor)
            assert len(page.keys) <= limit
            seen.extend(page.keys)
            cursor = page.cursor
            if cursor is None:
                break
        assert cursor is None
        assert len(seen) == len(set(seen))
        assert self.sorted_or_set(caps, seen) == self.sorted_or_set(caps, keys)

    async def test_k13_more_than_a_default_page(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K13: 1,025+ keys under the default limit are never truncated."""
        total = caps.max_list_limit + 30
        keys = [f"bulk-{i:05d}" for i in range(total)]
        for start in range(0, total, 100):
            await asyncio.gather(*(kv.put(k, "v") for k in keys[start : start + 100]))

        first = await kv.list()
        assert len(first.keys) == caps.max_list_limit
        assert first.cursor is not None
        listed = await list_all(kv)
        assert len(listed) == total
        assert set(listed) == set(keys)

    @pytest.mark.parametrize("bad", [0, -1, "limit-plus-one", 2.5, True, "10"])
    async def test_k13_limit_outside_range_rejected(
        self, kv: KVNamespace, caps: KVCapabilities, bad: object
    ) -> None:
        """K13: limit 0, negative, above max_list_limit or not an int is a
        400, never clamped."""
        limit = caps.max_list_limit + 1 if bad == "limit-plus-one" else bad
        await kv.put("k", "v")

        with pytest.raises(InvalidArgument):
            await kv.list(limit=limit)  # type: ignore[arg-type]

    async def test_k13_limit_at_bounds_accepted(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K13: limit 1 and limit max_list_limit are both fine."""
        await kv.put("a", "v")
        await kv.put("b", "v")

        one = await kv.list(limit=1)
        assert len(one.keys) == 1
        assert one.cursor is not None
        everything = await kv.list(limit=caps.max_list_limit)
        assert sorted(everything.keys) == ["a", "b"]
        assert everything.cursor is None

    # ----------------------------------------------------------- K14 - K15

    async def test_k14_pagination_under_writes(
        self, kv: KVNamespace, caps: KVCapabilities
    ) -> None:
        """K14: keys present throughout come back exactly once; keys deleted
        ahead of the cursor do not come back; keys written ahead do."""
        keys = [f"w{i:03d}" for i in range(60)]
        await asyncio.gather(*(kv.put(key, "v") for key in keys))

        first = await kv.list(limit=10)
        assert first.cursor is not None
        seen = list(first.keys)
        await kv.delete("w050")  # ahead of the cursor
        await kv.put("w0505", "new")  # ahead, between existing keys
        await kv.put("w000a", "new")  # behind (only if ordered)
        await kv.delete(seen[0])  # behind: already returned

        cursor: str | None = first.cursor
        while cursor is not None:
            page = await kv.list(limit=10, cursor=cursor)
            seen.extend(page.keys)
            cursor = page.cursor

        assert len(seen) == len(set(seen)), "a key came back twice"
        throughout = set(keys) - {"w050", keys[0]}
        assert throughout <= set(seen)
        assert "w050" not in seen
        if caps.list_ordered:
            assert "w0505" in seen
            assert "w000a" not in seen

    @pytest.mark.parametrize(
        "cursor",
        ["garbage", "", "k1.!!!not-base64!!!", "k1.gICA", "v9.abc"],
        ids=["garbage", "empty", "bad-base64", "bad-utf8", "foreign-version"],
    )
    async def test_k14_bad_cursor_rejected(self, kv: KVNamespace, cursor: str) -> None:
        """K14: a garbage or damaged cursor is InvalidArgument."""
        await kv.put("k", "v")

        with pytest.raises(InvalidArgument):
            await kv.list(cursor=cursor)

    async def test_k14_cursor_for_missing_key_still_continues(
        self, kv: KVNamespace
    ) -> None:
        """K14: a cursor continues strictly after its key even once that key
        is gone."""
        for key in ("a", "b", "c"):
            await kv.put(key, "v")

        page = await kv.list(cursor=encode_cursor("a"))
        assert sorted(page.keys) == ["b", "c"]

    async def test_k15_parallel_writers(self, kv: KVNamespace) -> None:
        """K15: parallel writers on distinct keys all persist; writers on one
        key leave exactly one of the written values."""
        await asyncio.gather(*(kv.put(f"d{i:02d}", f"v{i}") for i in range(40)))
        values = [f"writer-{i}-" + "x" * (i * 97) for i in range(20)]
        await asyncio.gather(*(kv.put("shared", value) for value in values))

        for i in range(40):
            assert await kv.get(f"d{i:02d}") == f"v{i}"
        assert await kv.get("shared") in values

    async def test_k15_namespaces_isolated(
        self, kv: KVNamespace, opener: ResourceOpener
    ) -> None:
        """K15: two namespaces never see each other's keys."""
        other: KVNamespace = await opener.provisioned()
        await kv.put("same", "mine")
        await other.put("same", "theirs")
        await other.put("only-there", "v")

        assert await kv.get("same") == "mine"
        assert await other.get("same") == "theirs"
        assert await kv.get("only-there") is None
        assert await list_all(kv) == ["same"]

        await kv.delete("same")
        assert await other.get("same") == "theirs"
        for key in await list_all(other):
            await other.delete(key)

    async def test_k15_same_name_shares_data(
        self, kv: KVNamespace, opener: ResourceOpener
    ) -> None:
        """K15: a second handle on the same namespace name sees its data."""
        again: KVNamespace = await opener.provisioned(kv.name)
        await kv.put("k", "v")

        assert await again.get("k") == "v"

    # ------------------------------------------------------------ L1 - L4

    async def test_l1_writes_then_fresh_namespace(self, kv: KVNamespace) -> None:
        """L1 (first half): write something the next test must not see."""
        await kv.put("l1-leftover", "v")
        assert (await kv.list()).keys == ["l1-leftover"]

    async def test_l1_still_empty(self, kv: KVNamespace) -> None:
        """L1: after a writing test the next namespace starts empty."""
        assert (await kv.list()).keys == []
        assert await kv.get("l1-leftover") is None

    async def test_l2_runtime_capabilities_equal_declared(
        self, driver: Driver, kv: KVNamespace, declared: KVCapabilities
    ) -> None:
        """L2: the resource's capabilities equal the driver's declaration."""
        assert kv.capabilities == declared
        if type(driver).kv_capabilities is not None:
            assert type(driver).kv_capabilities == type(kv).capabilities

    async def test_l3_provision_idempotent_and_ping(
        self, opener: ResourceOpener
    ) -> None:
        """L3: provision is safe to repeat; ping succeeds."""
        kv = opener.open()
        first = await kv.provision()
        second = await kv.provision()

        assert first.status in (ProvisionStatus.CREATED, ProvisionStatus.REUSED)
        assert second.status is ProvisionStatus.REUSED
        await kv.ping()

    async def test_l4_close_idempotent_use_after_close(
        self, driver: Driver, clock: FakeClock
    ) -> None:
        """L4: aclose twice is fine; every call afterwards is ResourceClosed;
        the driver closes twice too."""
        own = self.make_driver(driver, clock)
        kv = own.open_kv(ResourceSpec("kv", unique_name(), "CONTRACT_KV"))
        await kv.provision()
        await kv.put("k", "v")

        await kv.aclose()
        await kv.aclose()
        with pytest.raises(ResourceClosed):
            await kv.get("k")
        with pytest.raises(ResourceClosed):
            await kv.put("k", "v")
        with pytest.raises(ResourceClosed):
            await kv.delete("k")
        with pytest.raises(ResourceClosed):
            await kv.list()
        with pytest.raises(ResourceClosed):
            await kv.provision()
        await own.aclose()
        await own.aclose()

    # ------------------------------------------------------- stateful model

    def test_kv_matches_dict_model(self, driver: Driver, caps: KVCapabilities) -> None:
        """K8/K10/K13 model: random operations agree with a plain dict.

        TTL writes and clock jumps take part only when the driver declares
        ``ttl`` and ``injectable_clock``; every other rule runs for all."""
        machine = _kv_machine(self, driver, caps)
        run_state_machine_as_test(machine, settings=self.stateful_settings)


_KEYS = st.sampled_from(["a", "ab", "abc", "b", "B", "b/1", "b/2", "é", "😀", "%"])
_PREFIXES = st.sampled_from(["", "a", "ab", "b", "b/", "%", "z"])


def _kv_machine(
    contract: KVContract, template: Driver, caps: KVCapabilities
) -> type[RuleBasedStateMachine]:
    """A state machine class bound to this contract's driver template."""

    class KVModel(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.runner = asyncio.Runner(loop_factory=asyncio.new_event_loop)
            self.clock = FakeClock()
            self.model: dict[str, tuple[str, float | None]] = {}
            self.driver = contract.make_driver(template, self.clock)
            spec = ResourceSpec("kv", unique_name("sm"), "CONTRACT_KV")
            self.kv = self.driver.open_kv(spec)
            self.runner.run(self.kv.provision())

        def live(self) -> dict[str, str]:
            now = self.clock()
            return {
                k: v for k, (v, exp) in self.model.items() if exp is None or now < exp
            }

        @rule(key=_KEYS, value=st.text(max_size=8))
        def put(self, key: str, value: str) -> None:
            self.runner.run(self.kv.put(key, value))
            self.model[key] = (value, None)

        # Without an injectable clock the model could not know when a TTL
        # lapses, so TTLs and jumps are left to the K8 tests there.
        @precondition(lambda _: caps.ttl and caps.injectable_clock)
        @rule(
            key=_KEYS,
            value=st.text(max_size=8),
            ttl=st.integers(max(1, caps.min_ttl_seconds), 300 + caps.min_ttl_seconds),
        )
        def put_ttl(self, key: str, value: str, ttl: int) -> None:
            self.runner.run(self.kv.put(key, value, ttl=ttl))
            self.model[key] = (value, self.clock() + ttl)

        @rule(key=_KEYS)
        def get(self, key: str) -> None:
            assert self.runner.run(self.kv.get(key)) == self.live().get(key)

        @rule(key=_KEYS)
        def delete(self, key: str) -> None:
            self.runner.run(self.kv.delete(key))
            self.model.pop(key, None)

        # Each jump adds a thousandth of a second, so within one run the
        # clock never lands exactly on an expiry instant: the contract does
        # not say whether a key is live at the very moment it expires.
        @precondition(lambda _: caps.injectable_clock)
        @rule(seconds=st.sampled_from([0.001, 30.001, 59.001, 120.001, 3600.001]))
        def advance(self, seconds: float) -> None:
            self.clock.advance(seconds)

        @rule(prefix=_PREFIXES, limit=st.integers(1, 4))
        def list_pages(self, prefix: str, limit: int) -> None:
            listed = self.runner.run(list_all(self.kv, prefix=prefix, limit=limit))
            expected = [k for k in self.live() if k.startswith(prefix)]
            if caps.list_ordered:
                assert listed == utf8_sorted(expected)
            else:
                assert sorted(listed) == sorted(expected)

        @invariant()
        def everything_listed(self) -> None:
            listed = self.runner.run(list_all(self.kv))
            assert sorted(listed) == sorted(self.live())

        def teardown(self) -> None:
            try:
                self.runner.run(self.kv.aclose())
                self.runner.run(self.driver.aclose())
            finally:
                self.runner.close()

    return KVModel
