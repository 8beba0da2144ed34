"""A token-bucket rate limiter shared by every node through Redis (one Lua script, one round trip)."""

from __future__ import annotations

from typing import Any

from core.ratelimit import Rate
from hub.keys import RATE_LIMIT

# KEYS[1] bucket; ARGV: burst, per_second, cost. Time comes from the Redis server, so nodes' clocks don't matter.
_SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1]) or burst
local ts = tonumber(state[2]) or now
tokens = math.min(burst, tokens + (now - ts) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(burst / rate) + 1)
return tostring(wait)
"""


class RedisRateLimiter:
    def __init__(self, redis: Any) -> None:
        self._script = redis.register_script(_SCRIPT)

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> float:
        raw = await self._script(keys=[RATE_LIMIT + key], args=[rate.burst, rate.per_second, cost])
        wait = float(raw.decode() if isinstance(raw, bytes) else raw)
        return round(wait, 3) if wait > 0 else 0.0
