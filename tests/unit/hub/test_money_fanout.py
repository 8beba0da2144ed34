"""Leaderboard and goal updates are coalesced per stream: the first at once, a burst collapses to the latest."""

from __future__ import annotations

import asyncio
from typing import Any

from hub.money_fanout import CoalescingEmitter


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        self.sent.append((stream_id, event, payload))


async def test_a_burst_of_updates_sends_the_first_at_once_and_then_only_the_latest() -> None:
    room = Recorder()
    emitter = CoalescingEmitter(room, interval_s=0.05)
    for n in range(10):
        await emitter.emit_latest("s1", "leaderboard:update", {"n": n})
    await emitter.emit_latest("s2", "leaderboard:update", {"n": 100})
    await emitter.emit_now("s1", "gift:received", {"n": 1})
    assert [(s, p["n"]) for s, e, p in room.sent] == [("s1", 0), ("s2", 100), ("s1", 1)]
    await asyncio.sleep(0.15)
    assert [(s, p["n"]) for s, e, p in room.sent][3:] == [("s1", 9)]
    await emitter.close()


async def test_close_cancels_pending_trailing_emits() -> None:
    room = Recorder()
    emitter = CoalescingEmitter(room, interval_s=10)
    await emitter.emit_latest("s", "goal:progress", {"n": 1})
    await emitter.emit_latest("s", "goal:progress", {"n": 2})
    await emitter.close()
    assert [p["n"] for _, _, p in room.sent] == [1]
