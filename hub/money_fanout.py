"""Room fan-out of gift facts: every gift's ``gift:received`` goes out at once (each one animates), while
``leaderboard:update`` and ``goal:progress`` are coalesced per stream: the first goes out at once, later ones within
``interval_s`` collapse into one trailing emit carrying the latest state. Under a burst of gifts this turns three
room-wide writes per gift into about one."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)


class Broadcaster(Protocol):
    async def emit(self, stream_id: str, event: str, payload: dict[str, Any]) -> None: ...


class CoalescingEmitter:
    def __init__(self, broadcaster: Broadcaster, *, interval_s: float = 0.25, max_keys: int = 10_000) -> None:
        self._broadcaster = broadcaster
        self._interval_s = interval_s
        self._max_keys = max_keys
        self._last: dict[tuple[str, str], float] = {}
        self._pending: dict[tuple[str, str], dict[str, Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def emit_now(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        await self._broadcaster.emit(stream_id, event, payload)

    async def emit_latest(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        key = (stream_id, event)
        now = time.monotonic()
        if key in self._pending:
            self._pending[key] = payload  # a trailing emit is scheduled: it will carry this newer state
            return
        wait = self._last.get(key, 0.0) + self._interval_s - now
        if wait <= 0:
            self._remember(key, now)
            await self._broadcaster.emit(stream_id, event, payload)
            return
        self._pending[key] = payload
        task = asyncio.create_task(self._trailing(key, wait), name=f"coalesce-{event}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember(self, key: tuple[str, str], now: float) -> None:
        self._last[key] = now
        if len(self._last) > self._max_keys:
            self._last.pop(next(iter(self._last)))

    async def _trailing(self, key: tuple[str, str], wait: float) -> None:
        await asyncio.sleep(wait)
        payload = self._pending.pop(key, None)
        if payload is None:
            return
        self._remember(key, time.monotonic())
        try:
            await self._broadcaster.emit(key[0], key[1], payload)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("room emit of %s failed", key[1])

    async def close(self) -> None:
        tasks = list(self._tasks)
        await cancel_and_wait(*tasks)
        self._pending.clear()
