"""KV namespaces stored in Redis.

Key layout of one namespace (``<tag>`` is the percent-encoded name)::

    edgebind:{kv:<tag>}:v:<key>   STRING  the value
    edgebind:{kv:<tag>}:idx       ZSET    every key, score 0 (lexicographic index)
    edgebind:{kv:<tag>}:exp       ZSET    keys with a TTL, score = expiry time

The braces are a Redis Cluster hash tag: all keys of a namespace hash to one
slot, which multi-key scripts need. The tag is percent-encoded so that no
name can close the braces early or collide with another namespace's keys.

Every operation is one Lua script, so the value, the index and the expiry set
change together. Expiry is decided by the injected clock: a key whose stored
expiry time has passed is absent to get and list and is deleted when met.
Redis's native expiry is set as well, a grace period later, so values are
cleaned up even in a namespace nobody reads; the index entries they leave are
swept by the next write or list (a namespace that is never touched again keeps
those small index entries until then).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from edgebind.capabilities import KVCapabilities
from edgebind.kv import KVListPage, KVNamespace, encode_cursor
from edgebind.resource import (
    Clock,
    ProvisionOutcome,
    ProvisionStatus,
    ResourceSpec,
    system_clock,
)
from edgebind_redis.driver import LuaScript

if TYPE_CHECKING:
    from edgebind_redis.driver import RedisDriver

__all__ = ["RedisKVNamespace", "namespace_prefix"]

#: Redis's native expiry fires this long after Edgebind's own. It only cleans
#: up; being late keeps it from deleting a value the injected clock still
#: considers live (a test clock may run behind the real one).
BACKSTOP_GRACE_SECONDS = 60

#: At most this many expired keys are deleted by one write or list, so that a
#: burst of expiries never makes a single script block Redis for long.
SWEEP_LIMIT = 64

#: A list call examines at most this many expired or vanished keys beyond the
#: page itself; past that it returns a short page with a cursor.
DEAD_KEY_BUDGET = 1000

_SWEEP = """
local function sweep(idx, exp, value_prefix, now, limit)
  local expired = redis.call('ZRANGEBYSCORE', exp, '-inf', now, 'LIMIT', 0, limit)
  for _, member in ipairs(expired) do
    redis.call('DEL', value_prefix .. member)
    redis.call('ZREM', idx, member)
    redis.call('ZREM', exp, member)
  end
end
"""

# KEYS: value, idx, exp. ARGV: member, value, expires_at ('' for none),
# backstop milliseconds, now, value prefix, sweep limit.
_PUT = LuaScript(
    _SWEEP
    + """
sweep(KEYS[2], KEYS[3], ARGV[6], ARGV[5], tonumber(ARGV[7]))
if ARGV[3] == '' then
  redis.call('SET', KEYS[1], ARGV[2])
  redis.call('ZREM', KEYS[3], ARGV[1])
else
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
  redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
end
redis.call('ZADD', KEYS[2], 0, ARGV[1])
return 1
"""
)

# KEYS: value, idx, exp. ARGV: member, now.
_GET = LuaScript(
    """
local value = redis.call('GET', KEYS[1])
local expires_at = redis.call('ZSCORE', KEYS[3], ARGV[1])
local expired = expires_at and tonumber(expires_at) <= tonumber(ARGV[2])
if expired or not value then
  -- Expired by our clock, or the value vanished (Redis's backstop expiry):
  -- drop whatever is left so the index never lists a missing key.
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZREM', KEYS[3], ARGV[1])
  return false
end
return value
"""
)

# KEYS: value, idx, exp. ARGV: member.
_DELETE = LuaScript(
    """
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
return 1
"""
)

# KEYS: idx, exp. ARGV: value prefix, lex min, lex max, limit, now,
# examine budget, sweep limit.
# Returns {keys, status, last examined}: status 0 = no live key follows,
# 1 = a live key follows the last one returned, 2 = budget spent (resume after
# the last examined key).
_LIST = LuaScript(
    _SWEEP
    + """
local idx, exp, value_prefix = KEYS[1], KEYS[2], ARGV[1]
local lex_min, lex_max = ARGV[2], ARGV[3]
local limit, now = tonumber(ARGV[4]), tonumber(ARGV[5])
local budget = tonumber(ARGV[6])
sweep(idx, exp, value_prefix, ARGV[5], tonumber(ARGV[7]))

local live = {}
local examined = 0
local batch_size = math.min(limit + 1, 256)
while true do
  local batch = redis.call(
    'ZRANGEBYLEX', idx, lex_min, lex_max, 'LIMIT', 0, batch_size)
  if #batch == 0 then
    return {live, 0, ''}
  end
  for _, member in ipairs(batch) do
    examined = examined + 1
    local expires_at = redis.call('ZSCORE', exp, member)
    local dead = (expires_at and tonumber(expires_at) <= now)
      or redis.call('EXISTS', value_prefix .. member) == 0
    if dead then
      redis.call('DEL', value_prefix .. member)
      redis.call('ZREM', idx, member)
      redis.call('ZREM', exp, member)
    elseif #live == limit then
      return {live, 1, ''}
    else
      live[#live + 1] = member
    end
    if examined >= budget then
      return {live, 2, member}
    end
  end
  lex_min = '(' .. batch[#batch]
end
"""
)

_STATUS_DONE = 0
_STATUS_MORE = 1
_STATUS_BUDGET_SPENT = 2


def namespace_prefix(name: str) -> bytes:
    """The bytes every Redis key of namespace ``name`` starts with.

    Percent-encoding keeps ``{``, ``}`` and ``:`` out of the hash tag and is
    injective, so two names never share a prefix.
    """
    tag = quote(name, safe="-_")
    return f"edgebind:{{kv:{tag}}}:".encode("ascii")


class RedisKVNamespace(KVNamespace):
    """One KV namespace in the Redis database of its driver's URL."""

    driver_name = "redis"
    capabilities: ClassVar[KVCapabilities] = KVCapabilities()

    def __init__(
        self,
        spec: ResourceSpec,
        *,
        driver: RedisDriver,
        clock: Clock = system_clock,
    ) -> None:
        super().__init__(spec, clock=clock)
        self._driver = driver
        prefix = namespace_prefix(spec.name)
        self._value_prefix = prefix + b"v:"
        self._index_key = prefix + b"idx"
        self._expiry_key = prefix + b"exp"

    def _keys_for(self, member: bytes) -> list[bytes]:
        return [self._value_prefix + member, self._index_key, self._expiry_key]

    async def _get(self, key: str) -> str | None:
        member = key.encode("utf-8")
        value = await self._driver.run_script(
            _GET,
            self._keys_for(member),
            [member, repr(self.clock())],
            binding=self.binding,
        )
        if value is None:
            return None
        assert isinstance(value, bytes)
        return value.decode("utf-8")

    async def _put(self, key: str, value: str, expires_at: float | None) -> None:
        member = key.encode("utf-8")
        now = self.clock()
        if expires_at is None:
            expiry_args: list[str | int] = ["", 0]
        else:
            # Native expiry is relative, so a clock that differs from Redis's
            # own (a test clock) cannot make it fire early.
            backstop_ms = math.ceil((expires_at - now + BACKSTOP_GRACE_SECONDS) * 1000)
            expiry_args = [repr(expires_at), max(backstop_ms, 1)]
        await self._driver.run_script(
            _PUT,
            self._keys_for(member),
            [
                member,
                value.encode("utf-8"),
                *expiry_args,
                repr(now),
                self._value_prefix,
                SWEEP_LIMIT,
            ],
            binding=self.binding,
        )

    async def _delete(self, key: str) -> None:
        member = key.encode("utf-8")
        await self._driver.run_script(
            _DELETE, self._keys_for(member), [member], binding=self.binding
        )

    async def _list(self, prefix: str, limit: int, after: str | None) -> KVListPage:
        lex_min, lex_max = _lex_range(prefix.encode("utf-8"), after)
        result = await self._driver.run_script(
            _LIST,
            [self._index_key, self._expiry_key],
            [
                self._value_prefix,
                lex_min,
                lex_max,
                limit,
                repr(self.clock()),
                limit + 1 + DEAD_KEY_BUDGET,
                SWEEP_LIMIT,
            ],
            binding=self.binding,
        )
        members, status, last_examined = result
        keys = [member.decode("utf-8") for member in members]

        if status == _STATUS_DONE:
            return KVListPage(keys=keys, cursor=None)
        if status == _STATUS_MORE:
            return KVListPage(keys=keys, cursor=encode_cursor(keys[-1]))
        assert status == _STATUS_BUDGET_SPENT
        # Every key between the last one returned and the last one examined
        # was dead and is now deleted, so resuming after it skips nothing.
        return KVListPage(keys=keys, cursor=encode_cursor(last_examined.decode()))

    async def _provision(self) -> ProvisionOutcome:
        return await self._inspect()

    async def _inspect(self) -> ProvisionOutcome:
        # Nothing is ever created ahead of use, so looking is provisioning.
        await self._driver.ping(binding=self.binding)
        return ProvisionOutcome(
            ProvisionStatus.REUSED,
            "nothing to create: a Redis namespace exists as soon as a key is "
            "written to it",
        )

    async def _ping(self) -> None:
        await self._driver.ping(binding=self.binding)


def _lex_range(prefix: bytes, after: str | None) -> tuple[bytes, bytes]:
    """ZRANGEBYLEX bounds for keys starting with ``prefix``, past ``after``.

    No UTF-8 text contains the byte 0xFF, so every key with the prefix sorts
    below ``prefix + b"\\xff"`` and every key at or above it lacks the prefix.
    """
    lex_min = b"[" + prefix if prefix else b"-"
    lex_max = b"(" + prefix + b"\xff" if prefix else b"+"
    if after is not None:
        after_bytes = after.encode("utf-8")
        if after_bytes >= prefix:
            lex_min = b"(" + after_bytes
    return lex_min, lex_max
