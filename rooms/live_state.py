"""Fast, shared, short-lived room state: recent chat, viewers, likes, nicknames for @mentions.

One protocol, two implementations chosen at wiring time (like LiveKit's local/Redis pairs): ``InProcessLiveState``
for a single node (the embedded default) and ``rooms.store_redis.RedisLiveState`` shared by every node.
"""

from __future__ import annotations

from collections import defaultdict, deque
from typing import Protocol

RECENT_MAX = 100


class LiveState(Protocol):
    async def push_recent(self, stream_id: str, item: str) -> None: ...

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        """Newest first."""

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None: ...

    async def touch_viewers(self, stream_id: str, keys: list[str], expires_at: float) -> None: ...

    async def remove_viewer(self, stream_id: str, key: str) -> None: ...

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

    async def remove_viewer(self, stream_id: str, key: str) -> None:
        self._viewers.get(stream_id, {}).pop(key, None)

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
