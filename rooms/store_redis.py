"""``LiveState`` on Redis, shared by every node. Keys are documented in ``rooms/keys.py``."""

from __future__ import annotations

from typing import Any

from rooms import keys
from rooms.live_state import RECENT_MAX


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


#: ZREM the member only while its score is still the expiry the caller wrote (no other node refreshed it since).
# ARGV: viewer key, the expiry this node wrote, the next key, its expiry, ...: each is removed only if its score is
# still that expiry (no other node refreshed it since).
_REMOVE_IF_MINE = """
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
"""


class RedisLiveState:
    def __init__(self, redis: Any) -> None:
        self._r = redis

    async def push_recent(self, stream_id: str, item: str) -> None:
        await self.push_recent_many(stream_id, [item])

    async def push_recent_many(self, stream_id: str, items_oldest_first: list[str]) -> None:
        if not items_oldest_first:
            return
        key = keys.recent_chat(stream_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.lpush(key, *items_oldest_first)  # each to the head in turn: the last is the newest
        pipe.ltrim(key, 0, RECENT_MAX - 1)
        pipe.expire(key, keys.ROOM_KEY_TTL_S)
        await pipe.execute()

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        items = await self._r.lrange(keys.recent_chat(stream_id), 0, limit - 1)
        return [_text(i) for i in items]

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None:
        key = keys.recent_chat(stream_id)
        pipe = self._r.pipeline(transaction=True)
        pipe.delete(key)
        if items_newest_first:
            pipe.rpush(key, *items_newest_first[:RECENT_MAX])
            pipe.expire(key, keys.ROOM_KEY_TTL_S)
        await pipe.execute()

    async def touch_viewers(self, stream_id: str, keys_: list[str], expires_at: float) -> None:
        if not keys_:
            return
        key = keys.viewers(stream_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.zadd(key, {k: expires_at for k in keys_})
        pipe.expire(key, keys.ROOM_KEY_TTL_S)
        await pipe.execute()

    async def remove_viewers(self, stream_id: str, removals: list[tuple[str, float]]) -> None:
        if not removals:
            return
        args = [a for key, written in removals for a in (key, repr(written))]
        await self._r.eval(_REMOVE_IF_MINE, 1, keys.viewers(stream_id), *args)

    async def count_viewers(self, stream_id: str, now: float) -> int:
        key = keys.viewers(stream_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", now)
        pipe.zcard(key)
        _, count = await pipe.execute()
        return int(count)

    async def list_viewers(self, stream_id: str, now: float, limit: int) -> list[str]:
        items = await self._r.zrangebyscore(keys.viewers(stream_id), f"({now}", "+inf", start=0, num=limit)
        return [_text(i) for i in items]

    async def add_likes(self, stream_id: str, count: int) -> int:
        key = keys.likes(stream_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.incrby(key, count)
        pipe.expire(key, keys.ROOM_KEY_TTL_S)
        total, _ = await pipe.execute()
        return int(total)

    async def likes(self, stream_id: str) -> int:
        raw = await self._r.get(keys.likes(stream_id))
        return int(raw) if raw is not None else 0

    async def put_nickname(self, stream_id: str, nickname: str, user_id: str) -> None:
        key = keys.nicknames(stream_id)
        pipe = self._r.pipeline(transaction=False)
        pipe.hset(key, nickname.lower(), user_id)
        pipe.expire(key, keys.ROOM_KEY_TTL_S)
        await pipe.execute()

    async def find_nicknames(self, stream_id: str, nicknames: list[str]) -> dict[str, str]:
        if not nicknames:
            return {}
        values = await self._r.hmget(keys.nicknames(stream_id), nicknames)
        return {n: _text(v) for n, v in zip(nicknames, values, strict=True) if v is not None}
