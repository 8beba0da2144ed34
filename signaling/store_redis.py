"""The Redis side of the fan-out: one subscriber connection with per-room channels, one batching publisher.

Resilient like python-socketio's pub/sub listener, and more: when Redis goes away the node keeps serving its
local rooms (local delivery never goes through Redis), drops what it cannot publish (counted), reconnects with
backoff and resubscribes every channel it still needs. Nothing here raises into callers, and nothing here makes a
caller wait for Redis: (un)subscribing is recorded at once and sent by the link's own task, so a Redis that hangs
cannot hold up a Socket.IO connect or a room join (the first join of a room on a node subscribes its channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

log = logging.getLogger(__name__)

PUBLISH_BATCH = 256


class RedisRoomLink:
    def __init__(
        self,
        redis: Any,
        node_channel: str,
        on_message: Callable[[bytes], Awaitable[None]],
        *,
        queue_max: int = 20_000,
        backoff_max_s: float = 2.0,
    ) -> None:
        self._redis = redis
        self._node_channel = node_channel
        self._on_message = on_message
        self._channels: set[str] = set()
        self._pubsub: Any = None
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=queue_max)
        self._backoff_max_s = backoff_max_s
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[str, str] = {}  # channel -> the latest (un)subscribe not yet sent
        self._pending_added = asyncio.Event()
        self._closing = False
        self.connected = False
        self.reconnects = 0
        self.dropped = 0
        self.received = 0
        self.published = 0

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._channels)

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name="fanout-listen"),
                asyncio.create_task(self._publish_loop(), name="fanout-publish"),
                asyncio.create_task(self._control_loop(), name="fanout-subscriptions"),
            ]

    async def close(self) -> None:
        # redis-py's get_message(timeout=...) can swallow a cancellation that lands while it waits; the listener
        # also stops on this flag, so close() never waits on it for long.
        self._closing = True
        tasks, self._tasks = self._tasks, []
        # A cancellation that lands inside a redis-py call can be swallowed there (the loop then waits on): cancel
        # again until each task has really finished.
        for t in tasks:
            while not t.done():
                t.cancel()
                await asyncio.wait({t}, timeout=0.2)
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)
        self._queue_command("subscribe", channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)
        self._queue_command("unsubscribe", channel)

    def _queue_command(self, command: str, channel: str) -> None:
        # Latest wins per channel (a join and a leave while Redis hangs cancel out); bounded by the rooms in use.
        self._pending.pop(channel, None)
        self._pending[channel] = command
        self._pending_added.set()

    async def _control_loop(self) -> None:
        while True:
            await self._pending_added.wait()
            self._pending_added.clear()
            while self._pending:
                channel = next(iter(self._pending))
                command = self._pending.pop(channel)
                await self._send(command, channel)

    async def _send(self, command: str, channel: str) -> None:
        ps = self._pubsub
        if ps is None:
            return  # the listener subscribes everything in self._channels when it (re)connects
        try:
            await getattr(ps, command)(channel)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("fan-out %s %s deferred: %s", command, channel, type(exc).__name__)

    def publish(self, channel: str, data: bytes) -> None:
        """Queue a message for every other node; never blocks. Dropped (and counted) when the queue is full."""
        try:
            self._queue.put_nowait((channel, data))
        except asyncio.QueueFull:
            self.dropped += 1

    async def _listen(self) -> None:
        backoff = 0.05
        outage = False
        while not self._closing:
            ps = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                self._pubsub = ps
                await ps.subscribe(self._node_channel, *self._channels)
                self.connected = True
                if outage:
                    log.warning("fan-out: Redis is back; resubscribed %d room channels", len(self._channels))
                    outage = False
                backoff = 0.05
                while not self._closing:
                    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if msg is None or msg.get("type") != "message":
                        continue
                    self.received += 1
                    try:
                        await self._on_message(msg["data"])
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("fan-out: a message from another node could not be delivered")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not outage:
                    log.warning("fan-out: lost Redis (%s); local rooms keep working; reconnecting", type(exc).__name__)
                outage = True
                self.reconnects += 1
            finally:
                self.connected = False
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await ps.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max_s)

    async def _publish_loop(self) -> None:
        backoff = 0.05
        while True:
            batch = [await self._queue.get()]
            while len(batch) < PUBLISH_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                pipe = self._redis.pipeline(transaction=False)
                for channel, data in batch:
                    pipe.publish(channel, data)
                await pipe.execute()
                self.published += len(batch)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.dropped += len(batch)
                log.info("fan-out: dropped %d messages, Redis unavailable (%s)", len(batch), type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
