"""Fast, shared, short-lived room state: recent chat, viewers, likes, nicknames for @mentions.

One protocol, two implementations chosen at wiring time (like LiveKit's local/Redis pairs): ``InProcessLiveState``
for a single node (the embedded default) and ``rooms.store_redis.RedisLiveState`` shared by every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict, deque
from typing import Protocol

from core.errors import UnavailableError
from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

RECENT_MAX = 100


class LiveState(Protocol):
    async def push_recent(self, stream_id: str, item: str) -> None: ...

    async def push_recent_many(self, stream_id: str, items_oldest_first: list[str]) -> None:
        """Like ``push_recent`` for each item in turn, in one round trip."""

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        """Newest first."""

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None: ...

    async def touch_viewers(self, stream_id: str, keys: list[str], expires_at: float) -> None: ...

    async def remove_viewers(self, stream_id: str, removals: list[tuple[str, float]]) -> None:
        """Take each ``(key, written)`` out unless another node refreshed it since this node wrote expiry ``written``
        (the viewer is connected there now: a viewer moving between nodes is not dropped until that node's next
        heartbeat). One round trip for all of them."""

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

    async def push_recent_many(self, stream_id: str, items_oldest_first: list[str]) -> None:
        self._recent[stream_id].extendleft(items_oldest_first)

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        return list(self._recent.get(stream_id, ()))[:limit]

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None:
        self._recent[stream_id] = deque(items_newest_first[:RECENT_MAX], maxlen=RECENT_MAX)

    async def touch_viewers(self, stream_id: str, keys: list[str], expires_at: float) -> None:
        room = self._viewers[stream_id]
        for key in keys:
            room[key] = expires_at

    async def remove_viewers(self, stream_id: str, removals: list[tuple[str, float]]) -> None:
        room = self._viewers.get(stream_id, {})
        for key, written in removals:
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

    async def push_recent_many(self, stream_id: str, items_oldest_first: list[str]) -> None:
        try:
            await self._inner.push_recent_many(stream_id, items_oldest_first)
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

    async def remove_viewers(self, stream_id: str, removals: list[tuple[str, float]]) -> None:
        try:
            await self._inner.remove_viewers(stream_id, removals)
        except Exception as exc:
            self._failed("remove_viewers", exc)

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


class RecentWrittenBehind:
    """A ``LiveState`` whose recent-chat writes (``push_recent``) return at once and reach ``inner`` right after, in
    the order they were made, several per round trip: a chat message's ack does not wait for the recent-chat
    cache (under a room tick every awaited Redis call costs several loop iterations; see docs/BENCHMARKS.md "Chat").

    On this node a read of a stream's recent chat (``recent``) or its rebuild (``replace_recent``, after a moderator
    removed messages) first waits until every push made before it was written: a viewer joining here right after a
    message's ack still finds it, and a rebuild never comes before a push it should include. Another node reads what
    has been written, as it did while the write was a round trip after the fan-out. Everything else is ``inner``'s.
    Pushes go on while ``inner`` fails (``ResilientLiveState`` drops them, as before); ``close`` writes what is left.
    """

    #: How long ``close`` waits for the last pushes before it drops them.
    CLOSE_WAIT_S = 2.0

    def __init__(self, inner: LiveState) -> None:
        self._inner = inner
        self._pending: dict[str, list[str]] = {}
        self._pushed: dict[str, int] = {}  # stream -> pushes made (a per-stream sequence)
        self._written: dict[str, int] = {}  # stream -> pushes written (or dropped by ``inner``)
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self._task: asyncio.Task[None] | None = None

    async def push_recent(self, stream_id: str, item: str) -> None:
        self._pending.setdefault(stream_id, []).append(item)
        self._pushed[stream_id] = self._pushed.get(stream_id, 0) + 1
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._write(), name="recent-chat-writer")

    async def push_recent_many(self, stream_id: str, items_oldest_first: list[str]) -> None:
        for item in items_oldest_first:
            await self.push_recent(stream_id, item)

    async def _write(self) -> None:
        try:
            while self._pending:
                batch, self._pending = self._pending, {}
                for stream_id, items in batch.items():
                    try:
                        await self._inner.push_recent_many(stream_id, items)
                    except Exception:  # inner is resilient; anything else must not stop the writer
                        log.exception("recent chat of %s not written", stream_id)
                    self._wrote(stream_id, len(items))
        finally:
            self._task = None

    def _wrote(self, stream_id: str, n: int) -> None:
        written = self._written[stream_id] = self._written.get(stream_id, 0) + n
        waiters = self._waiters.get(stream_id)
        if written >= self._pushed.get(stream_id, 0):  # caught up: forget the stream (no counters per stream ever)
            del self._written[stream_id]
            self._pushed.pop(stream_id, None)
        if not waiters:
            return
        keep = []
        for target, fut in waiters:
            if written >= target:
                if not fut.done():
                    fut.set_result(None)
            else:
                keep.append((target, fut))
        if keep:
            self._waiters[stream_id] = keep
        else:
            del self._waiters[stream_id]

    async def _caught_up(self, stream_id: str) -> None:
        """Until every push of ``stream_id`` made so far is written."""
        target = self._pushed.get(stream_id, 0)
        if self._written.get(stream_id, 0) >= target:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(stream_id, []).append((target, fut))
        await fut

    async def close(self) -> None:
        task = self._task
        if task is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), self.CLOSE_WAIT_S)
            await cancel_and_wait(task)
        for waiters in self._waiters.values():
            for _, fut in waiters:
                if not fut.done():
                    fut.set_result(None)
        self._waiters.clear()

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[str]:
        await self._caught_up(stream_id)
        return await self._inner.recent(stream_id, limit)

    async def replace_recent(self, stream_id: str, items_newest_first: list[str]) -> None:
        await self._caught_up(stream_id)
        await self._inner.replace_recent(stream_id, items_newest_first)

    async def touch_viewers(self, stream_id: str, keys: list[str], expires_at: float) -> None:
        await self._inner.touch_viewers(stream_id, keys, expires_at)

    async def remove_viewers(self, stream_id: str, removals: list[tuple[str, float]]) -> None:
        await self._inner.remove_viewers(stream_id, removals)

    async def count_viewers(self, stream_id: str, now: float) -> int:
        return await self._inner.count_viewers(stream_id, now)

    async def list_viewers(self, stream_id: str, now: float, limit: int) -> list[str]:
        return await self._inner.list_viewers(stream_id, now, limit)

    async def add_likes(self, stream_id: str, count: int) -> int:
        return await self._inner.add_likes(stream_id, count)

    async def likes(self, stream_id: str) -> int:
        return await self._inner.likes(stream_id)

    async def put_nickname(self, stream_id: str, nickname: str, user_id: str) -> None:
        await self._inner.put_nickname(stream_id, nickname, user_id)

    async def find_nicknames(self, stream_id: str, nicknames: list[str]) -> dict[str, str]:
        return await self._inner.find_nicknames(stream_id, nicknames)
