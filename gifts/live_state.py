"""Live gift state: combos and stream leaderboards. In-process for one node; ``RedisLiveState`` for many."""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from core.clock import Clock


class LiveState(Protocol):
    async def combo(self, stream_id: str, sender_id: str, gift_id: str, count: int, window_s: float, tid: str) -> int:
        """Add ``count`` to the sender's running combo of this gift (reset after ``window_s`` of silence), once per
        transfer id (a concurrent retry of the same send reads the running count)."""

    async def add_score(self, stream_id: str, user_id: str, coins: int, tid: str) -> bool:
        """Count a gift towards the live leaderboard, once per transfer id. False if it was counted already."""

    async def top(self, stream_id: str, n: int) -> list[tuple[str, int]]:
        """The ``n`` best gifters of the stream, best first, as (user id, coins)."""


class InProcessLiveState:
    def __init__(self, clock: Clock, *, max_streams: int = 10_000, max_seen: int = 200_000) -> None:
        self._clock = clock
        self._boards: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._combos: OrderedDict[tuple[str, str, str], tuple[int, float]] = OrderedDict()
        self._seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._max_streams = max_streams
        self._max_seen = max_seen

    async def combo(self, stream_id: str, sender_id: str, gift_id: str, count: int, window_s: float, tid: str) -> int:
        key = (stream_id, sender_id, gift_id)
        now = self._clock.monotonic()
        running, last = self._combos.pop(key, (0, now))
        if now - last > window_s:
            running = 0
        if ("combo", tid) in self._seen:
            self._combos[key] = (max(running, count), last)
            return max(running, count)
        self._remember(("combo", tid))
        running += count
        self._combos[key] = (running, now)
        while len(self._combos) > self._max_seen:
            self._combos.popitem(last=False)
        return running

    async def add_score(self, stream_id: str, user_id: str, coins: int, tid: str) -> bool:
        if ("score", tid) in self._seen:
            return False
        self._remember(("score", tid))
        board = self._boards.pop(stream_id, {})
        board[user_id] = board.get(user_id, 0) + coins
        self._boards[stream_id] = board
        while len(self._boards) > self._max_streams:
            self._boards.popitem(last=False)
        return True

    def _remember(self, key: tuple[str, str]) -> None:
        self._seen[key] = None
        while len(self._seen) > self._max_seen:
            self._seen.popitem(last=False)

    async def top(self, stream_id: str, n: int) -> list[tuple[str, int]]:
        board = self._boards.get(stream_id, {})
        return sorted(board.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
