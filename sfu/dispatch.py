"""Delivery of SFU events to listeners, in order, from one owned task (shared by the in-process service and the
worker pool)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from core.tasks import cancel_and_wait
from sfu.events import SfuEvent

log = logging.getLogger(__name__)

Listener = Callable[[SfuEvent], Awaitable[None]]


class EventDispatcher:
    """``emit`` never blocks the caller (the forwarding path, a pipe reader); listeners are awaited one after another.

    A failing listener is logged and does not stop the others. ``close`` drains what is queued (bounded) and stops.
    """

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._queue: asyncio.Queue[SfuEvent] | None = None
        self._task: asyncio.Task[None] | None = None

    def add(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def has_listeners(self) -> bool:
        return bool(self._listeners)

    def emit(self, event: SfuEvent) -> None:
        if not self._listeners:
            return
        if self._queue is None:
            self._queue = asyncio.Queue()
        self._queue.put_nowait(event)
        if self._task is None or self._task.done():
            self._task = asyncio.ensure_future(self._run(self._queue))

    async def _run(self, queue: asyncio.Queue[SfuEvent]) -> None:
        while True:
            event = await queue.get()
            try:
                for listener in list(self._listeners):
                    try:
                        await listener(event)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("SFU event listener failed", extra={"event": type(event).__name__})
            finally:
                queue.task_done()

    async def close(self, drain_timeout_s: float = 2.0) -> None:
        if self._queue is None or self._task is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._queue.join(), timeout=drain_timeout_s)
        await cancel_and_wait(self._task)
