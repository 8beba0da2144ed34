"""Fast, shared, short-lived room state: recent chat, viewers, likes, nicknames for @mentions.

One protocol, two implementations chosen at wiring time (like LiveKit's local/Redis pairs): ``InProcessLiveState``
for a single node (the embedded default) and ``rooms.store_redis.RedisLiveState`` shared by every node.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict, deque
from typing import Protocol

from core.errors import UnavailableError

log = logging.getLogger(__name__)

RECENT_MAX = 100


class LiveState(Protocol):
    async def push_recent(self, stream_id: str, item: str) -> None: ...

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        """Newest first."""

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None: ...

    async def touch_viewers(self, stream_id: str, keys: list[str], expires_at: float) -> None: ...

    async def remove_viewer(self, stream_id: str, key: str, written: float) -> None:
        """Take ``key`` out unless another node refreshed it since this node wrote expiry ``written`` (the viewer
        is connected there now: a viewer moving between nodes is not dropped until that node's next heartbeat)."""

    async def count_viewers(self, stream_id: str, now: float) -> int: ...

    async def list_viewers(self, stream_id: str, now: float, limit: int) -> list[str]: ...

    async def add_likes(self, stream_id: str, count: int) -> int:
        """Add to the total; return the new total."""

    async def likes(self, stream_id: str) -> int: ...

    async def put_nickname(self, stream_id: str, nickname: str, user_id: str) -> None: ...

    async def find_nicknames(self, stream_id: str, nicknames: list[str]) -> dict[str, str]:
        """Lower-cased nickname -> user id, for those known in the room."""


class InProcessLiveState:
    def __init__(self, max_nicknames: int = 50_000) -> None:
        self._recent: defaultdict[str, deque[str]] = defaultdict(lambda: deque(maxlen=RECENT_MAX))
        self._viewers: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self._likes: defaultdict[str, int] = defaultdict(int)
        self._nicks: defaultdict[str, dict[str, str]] = defaultdict(dict)
        self._max_nicknames = max_nicknames

    async def push_recent(self, stream_id: str, item: str) -> None:
        self._recent[stream_id].appendleft(item)

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        return list(self._recent.get(stream_id, ()))[:limit]

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None:
        self._recent[stream_id] = deque(items_newest_first[:RECENT_MAX], maxlen=RECENT_MAX)

    async def touch_viewers(self, stream_id: str, keys: list[str], expires_at: float) -> None:
        room = self._viewers[stream_id]
        for key in keys:
            room[key] = expires_at

    async def remove_viewer(self, stream_id: str, key: str, written: float) -> None:
        room = self._viewers.get(stream_id, {})
        if room.get(key) == written:
            del room[key]

    async def count_viewers(self, stream_id: str, now: float) -> int:
        room = self._viewers.get(stream_id)
        if not room:
            return 0
        for key in [k for k, exp in room.items() if exp <= now]:
            del room[key]
        return len(room)

    async def list_viewers(self, stream_id: str, now: float, limit: int) -> list[str]:
        room = self._viewers.get(stream_id, {})
        return [k for k, exp in room.items() if exp > now][:limit]

    async def add_likes(self, stream_id: str, count: int) -> int:
        self._likes[stream_id] += count
        return self._likes[stream_id]

    async def likes(self, stream_id: str) -> int:
        return self._likes.get(stream_id, 0)

    async def put_nickname(self, stream_id: str, nickname: str, user_id: str) -> None:
        room = self._nicks[stream_id]
        if len(room) < self._max_nicknames:
            room[nickname.lower()] = user_id

    async def find_nicknames(self, stream_id: str, nicknames: list[str]) -> dict[str, str]:
        room = self._nicks.get(stream_id, {})
        return {n: room[n] for n in nicknames if n in room}


class ResilientLiveState:
    """Wraps a shared ``LiveState`` so that losing it (Redis down) never breaks a room on this node.

    Writes that fail are dropped (logged, at most every few seconds); reads that have a safe answer give it
    (no nicknames, no viewer list); the rest raise ``UnavailableError`` for the caller's own fallback.
    """

    def __init__(self, inner: LiveState, log_every_s: float = 5.0) -> None:
        self._inner = inner
        self._log_every_s = log_every_s
        self._last_log = 0.0
        self.failures = 0

    def _failed(self, what: str, exc: Exception) -> None:
        self.failures += 1
        now = time.monotonic()
        if now - self._last_log >= self._log_every_s:
            self._last_log = now
            log.warning("room state unavailable (%s: %s); carrying on without it", what, type(exc).__name__)

    async def push_recent(self, stream_id: str, item: str) -> None:
        try:
            await self._inner.push_recent(stream_id, item)
        except Exception as exc:
            self._failed("push_recent", exc)

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        try:
            return await self._inner.recent(stream_id, limit)
        except Exception as exc:
            self._failed("recent", exc)
            raise UnavailableError("recent chat is unavailable") from None

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None:
        try:
            await self._inner.replace_recent(stream_id, items_newest_first)
        except Exception as exc:
            self._failed("replace_recent", exc)

    async def touch_viewers(self, stream_id: str, keys: list[str], expires_at: float) -> None:
        try:
            await self._inner.touch_viewers(stream_id, keys, expires_at)
        except Exception as exc:
            self._failed("touch_viewers", exc)

    async def remove_viewer(self, stream_id: str, key: str, written: float) -> None:
        try:
            await self._inner.remove_viewer(stream_id, key, written)
        except Exception as exc:
            self._failed("remove_viewer", exc)

    async def count_viewers(self, stream_id: str, now: float) -> int:
        try:
            return await self._inner.count_viewers(stream_id, now)
        except Exception as exc:
            self._failed("count_viewers", exc)
            raise UnavailableError("viewer counts are unavailable") from None

    async def list_viewers(self, stream_id: str, now: float, limit: int) -> list[str]:
        try:
            return await self._inner.list_viewers(stream_id, now, limit)
        except Exception as exc:
            self._failed("list_viewers", exc)
            return []

    async def add_likes(self, stream_id: str, count: int) -> int:
        try:
            return await self._inner.add_likes(stream_id, count)
        except Exception as exc:
            self._failed("add_likes", exc)
            raise UnavailableError("like totals are unavailable") from None

    async def likes(self, stream_id: str) -> int:
        try:
            return await self._inner.likes(stream_id)
        except Exception as exc:
            self._failed("likes", exc)
            raise UnavailableError("like totals are unavailable") from None

    async def put_nickname(self, stream_id: str, nickname: str, user_id: str) -> None:
        try:
            await self._inner.put_nickname(stream_id, nickname, user_id)
        except Exception as exc:
            self._failed("put_nickname", exc)

    async def find_nicknames(self, stream_id: str, nicknames: list[str]) -> dict[str, str]:
        try:
            return await self._inner.find_nicknames(stream_id, nicknames)
        except Exception as exc:
            self._failed("find_nicknames", exc)
            return {}
