"""Live gift state in Redis, shared by every node: stream leaderboards (sorted sets) and combo counters."""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError

from core.errors import UnavailableError
from gifts import keys

LEADERBOARD_TTL_S = 7 * 24 * 3600
SEEN_TTL_S = 24 * 3600

# KEYS[1] seen marker, KEYS[2] leaderboard; ARGV coins, user, seen ttl, board ttl. Counts a transfer at most once.
_ADD_SCORE = """
if redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[3]) then
  redis.call('ZINCRBY', KEYS[2], ARGV[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[4])
  return 1
end
return 0
"""

# KEYS[1] combo counter, KEYS[2] the transfer's marker; ARGV count, window ms. A retried send (same transfer)
# does not count twice: it reads the running count instead.
_COMBO = """
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  local n = redis.call('INCRBY', KEYS[1], ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return n
end
return tonumber(redis.call('GET', KEYS[1]) or ARGV[1])
"""


class RedisLiveState:
    def __init__(self, redis: Any) -> None:
        self._redis = redis
        self._add = redis.register_script(_ADD_SCORE)
        self._combo = redis.register_script(_COMBO)

    async def combo(self, stream_id: str, sender_id: str, gift_id: str, count: int, window_s: float, tid: str) -> int:
        key = keys.combo(stream_id, sender_id, gift_id)
        marker = keys.combo_seen(stream_id, tid)
        try:
            return int(await self._combo(keys=[key, marker], args=[count, max(1, int(window_s * 1000))]))
        except (RedisError, OSError) as exc:
            raise UnavailableError("live gift state is unavailable") from exc

    async def add_score(self, stream_id: str, user_id: str, coins: int, tid: str) -> bool:
        try:
            added = await self._add(
                keys=[keys.leaderboard_seen(stream_id, tid), keys.leaderboard(stream_id)],
                args=[coins, user_id, SEEN_TTL_S, LEADERBOARD_TTL_S],
            )
        except (RedisError, OSError) as exc:
            raise UnavailableError("live gift state is unavailable") from exc
        return bool(int(added))

    async def top(self, stream_id: str, n: int) -> list[tuple[str, int]]:
        try:
            rows = await self._redis.zrevrange(keys.leaderboard(stream_id), 0, n - 1, withscores=True)
        except (RedisError, OSError) as exc:
            raise UnavailableError("live gift state is unavailable") from exc
        out: list[tuple[str, int]] = []
        for member, score in rows:
            user = member.decode() if isinstance(member, bytes) else str(member)
            out.append((user, int(float(score))))
        return out
