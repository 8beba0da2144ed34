"""The Redis side of the fan-out: per-room channels, a subscriber connection and a batching publisher per server.

Two transports behind one ``RoomLink``:
- ``RedisRoomLink``: one Redis. Classic ``SUBSCRIBE``/``PUBLISH`` on one subscriber connection.
- ``ShardedRoomLink``: a Redis Cluster. Each room channel is a *shard channel* (``SSUBSCRIBE``/``SPUBLISH``, Redis 7)
  served by the master owning its slot (the channel's hash tag is the room id, ``signaling/keys.py``), so a room's
  traffic crosses one master and the rooms spread over all of them. The link keeps one ``_Shard`` per master, each
  with its own subscriber connection, publisher and queue: a master that goes away costs the rooms it serves, and
  the others' traffic goes on.

Resilient like python-socketio's pub/sub listener, and more: when Redis goes away the node keeps serving its local
rooms (local delivery never goes through Redis), drops what it cannot publish (counted), reconnects with backoff and
resubscribes every channel it still needs. Nothing here raises into callers, and nothing here makes a caller wait
for Redis: (un)subscribing is recorded at once and sent by the shard's own task, so a Redis that hangs cannot hold up
a Socket.IO connect or a room join (the first join of a room on a node subscribes its channel).

At most once per receiving node, by design: a publish that failed is tried again (the first use of a connection
that died with a restarted Redis fails), and a try that failed after Redis ran it publishes the same messages twice.
So the link frames every message with its publisher (a random id per link, i.e. per node process) and a sequence
number, and a receiving link passes a message on only if its sequence is past the last one it passed from that
publisher on that channel. One publisher's messages on one channel go out in order (one queue, one connection), so a
repeat is always at or below that mark. Frames start with ``0xc1``, a byte msgpack never uses, so a bare payload
from a node without framing is still passed on as it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import struct
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

PUBLISH_BATCH = 256

FRAME_MARK = b"\xc1"  # never used by msgpack: a framed message cannot be mistaken for a bare payload
_FRAME = struct.Struct(">c8sQ")  # mark, publisher id, sequence number
PUBLISHERS_PER_CHANNEL = 64  # marks kept per channel (nodes x restarts); the oldest goes first


@dataclass
class _Counters:
    reconnects: int = 0
    dropped: int = 0
    received: int = 0
    published: int = 0
    repeats: int = 0


class _Framer:
    """The publishing side: this link's id and its next sequence number, on every message it sends."""

    def __init__(self) -> None:
        self.publisher = secrets.token_bytes(8)  # a new id per process: a restarted node starts its count afresh
        self._sequence = 0

    def frame(self, data: bytes) -> bytes:
        self._sequence += 1
        return _FRAME.pack(FRAME_MARK, self.publisher, self._sequence) + data


class _Marks:
    """The receiving side: per subscribed channel and publisher, the last sequence number passed on."""

    def __init__(self) -> None:
        self._last: dict[bytes, dict[bytes, int]] = {}

    def watch(self, channel: str) -> None:
        self._last.setdefault(channel.encode(), {})

    def forget(self, channel: str) -> None:
        self._last.pop(channel.encode(), None)

    def fresh(self, channel: bytes, raw: bytes) -> bytes | None:
        """The payload to deliver, or None for a message already passed on (a repeated publish)."""
        if raw[:1] != FRAME_MARK or len(raw) < _FRAME.size:
            return raw  # not framed (a node without framing): nothing to compare
        payload = raw[_FRAME.size :]
        marks = self._last.get(channel)
        if marks is None:
            return payload  # still in flight after this node unsubscribed: the fan-out drops it (no local room)
        _, publisher, sequence = _FRAME.unpack_from(raw)
        last = marks.pop(publisher, 0)
        if sequence <= last:
            marks[publisher] = last
            return None
        marks[publisher] = sequence  # re-inserted: the dict's order is the publishers' recency
        if len(marks) > PUBLISHERS_PER_CHANNEL:
            del marks[next(iter(marks))]
        return payload


class _Shard:
    """One Redis server's side of the link: its subscriptions, its subscriber connection and its publisher."""

    def __init__(
        self,
        name: str,
        redis: Any,
        on_message: Callable[[bytes], Awaitable[None]],
        counters: _Counters,
        *,
        sharded: bool,
        queue_max: int,
        backoff_max_s: float,
        marks: _Marks,
        on_outage: Callable[[str], None] | None = None,
        owns_client: bool = False,
        slot_of: Callable[[str], int] | None = None,
    ) -> None:
        self._slot_of = slot_of
        self._marks = marks
        self.name = name
        self._owns_client = owns_client
        self._redis = redis
        self._on_message = on_message
        self._counters = counters
        self._sharded = sharded
        self._sub, self._unsub, self._pub = (
            ("ssubscribe", "sunsubscribe", "spublish")
            if sharded
            else (
                "subscribe",
                "unsubscribe",
                "publish",
            )
        )
        self._message_type = "smessage" if sharded else "message"
        self._on_outage = on_outage
        self.channels: set[str] = set()
        self._pubsub: Any = None
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=queue_max)
        self._backoff_max_s = backoff_max_s
        self._tasks: list[asyncio.Task[None]] = []
        self._pending: dict[str, str] = {}  # channel -> the latest (un)subscribe not yet sent
        self._pending_added = asyncio.Event()
        # Every (un)subscribe on the subscriber connection goes through this lock. redis-py's PubSub is not safe for
        # two commands at once before it is connected: each takes a connection of its own from the pool, both get
        # subscribed, and the listener reads both (every message of that channel arrived twice or more) while the
        # other one leaks.
        self._commands = asyncio.Lock()
        self._closing = False
        self.connected = False

    def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._listen(), name=f"fanout-listen-{self.name}"),
                asyncio.create_task(self._publish_loop(), name=f"fanout-publish-{self.name}"),
                asyncio.create_task(self._control_loop(), name=f"fanout-subscriptions-{self.name}"),
            ]

    async def close(self) -> None:
        # redis-py's get_message(timeout=...) can swallow a cancellation that lands while it waits; the listener
        # also stops on this flag, so close() never waits on it for long.
        self._closing = True
        tasks, self._tasks = self._tasks, []
        # A cancellation that lands inside a redis-py call can be swallowed there (the loop then waits on): cancel
        # again until each task has really finished.
        await cancel_and_wait(*tasks)
        if self._owns_client:
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    def subscribe(self, channel: str) -> None:
        self.channels.add(channel)
        self._queue_command(self._sub, channel)

    def unsubscribe(self, channel: str) -> None:
        self.channels.discard(channel)
        self._queue_command(self._unsub, channel)

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
        async with self._commands:
            ps = self._pubsub
            if ps is None:
                return  # the listener subscribes everything in self.channels when it (re)connects
            try:
                await getattr(ps, command)(channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("fan-out %s %s deferred: %s", command, channel, type(exc).__name__)

    def publish(self, channel: str, data: bytes) -> None:
        try:
            self._queue.put_nowait((channel, data))
        except asyncio.QueueFull:
            self._counters.dropped += 1

    async def _subscribe_all(self, ps: Any) -> None:
        if not self._sharded:
            await ps.subscribe(*self.channels)
            return
        # SSUBSCRIBE takes channels of one slot per call: group them (a master serves many slots).
        by_slot: dict[int, list[str]] = defaultdict(list)
        for channel in self.channels:
            by_slot[self._slot_of(channel) if self._slot_of is not None else 0].append(channel)
        for group in by_slot.values():
            await ps.ssubscribe(*group)
        if not by_slot:
            await ps.ping()  # connect now, so an outage shows and `connected` means something

    async def _listen(self) -> None:
        backoff = 0.05
        outage = False
        while not self._closing:
            ps = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                async with self._commands:  # connects ps: no other command on it until it is connected
                    await self._subscribe_all(ps)
                    self._pubsub = ps  # from now on the control loop sends each later change on it
                self.connected = True
                if outage:
                    log.warning("fan-out: Redis %s is back; resubscribed %d channels", self.name, len(self.channels))
                    outage = False
                backoff = 0.05
                while not self._closing:
                    msg = await ps.get_message(ignore_subscribe_messages=True, timeout=0.2)
                    if msg is None or msg.get("type") != self._message_type:
                        continue
                    self._counters.received += 1
                    data = self._marks.fresh(msg["channel"], msg["data"])
                    if data is None:
                        self._counters.repeats += 1
                        continue
                    try:
                        await self._on_message(data)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("fan-out: a message from another node could not be delivered")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not outage:
                    log.warning(
                        "fan-out: lost Redis %s (%s); local rooms keep working; reconnecting",
                        self.name,
                        type(exc).__name__,
                    )
                    if self._on_outage is not None:
                        self._on_outage(self.name)
                outage = True
                self._counters.reconnects += 1
            finally:
                self.connected = False
                self._pubsub = None
                with contextlib.suppress(Exception):
                    await ps.aclose()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._backoff_max_s)

    async def _publish_batch(self, batch: list[tuple[str, bytes]]) -> None:
        pipe = self._redis.pipeline(transaction=False)
        for channel, data in batch:
            getattr(pipe, self._pub)(channel, data)
        await pipe.execute()

    async def _publish_loop(self) -> None:
        backoff = 0.05
        while True:
            batch = [await self._queue.get()]
            while len(batch) < PUBLISH_BATCH and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            try:
                try:
                    await self._publish_batch(batch)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # A pooled connection that died with a restarted Redis fails once; the pool then opens a fresh
                    # one. Without this second try, the first messages after Redis came back were lost (only the
                    # nodes' own rooms had them). Redis really away refuses the second try at once as well.
                    await self._publish_batch(batch)
                self._counters.published += len(batch)
                backoff = 0.05
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._counters.dropped += len(batch)
                log.info(
                    "fan-out: dropped %d messages, Redis %s unavailable (%s)", len(batch), self.name, type(exc).__name__
                )
                if self._on_outage is not None:
                    self._on_outage(self.name)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)


class _CountingLink:
    """What both links report from their shared ``_Counters`` (metrics, tests)."""

    _counters: _Counters

    @property
    def reconnects(self) -> int:
        return self._counters.reconnects

    @property
    def dropped(self) -> int:
        return self._counters.dropped

    @property
    def received(self) -> int:
        return self._counters.received

    @property
    def published(self) -> int:
        return self._counters.published

    @property
    def repeats(self) -> int:
        """Messages received again (a publish repeated after a failure) and not passed on."""
        return self._counters.repeats


class RedisRoomLink(_CountingLink):
    """The fan-out over one Redis: classic pub/sub, one subscriber connection, one batching publisher."""

    def __init__(
        self,
        redis: Any,
        node_channel: str,
        on_message: Callable[[bytes], Awaitable[None]],
        *,
        queue_max: int = 20_000,
        backoff_max_s: float = 2.0,
        owns_client: bool = False,
    ) -> None:
        self._counters = _Counters()
        self._framer = _Framer()
        self._marks = _Marks()
        self._shard = _Shard(
            "redis",
            redis,
            on_message,
            self._counters,
            sharded=False,
            queue_max=queue_max,
            backoff_max_s=backoff_max_s,
            marks=self._marks,
            owns_client=owns_client,
        )
        self._node_channel = node_channel
        self._marks.watch(node_channel)
        self._shard.subscribe(node_channel)

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._shard.channels - {self._node_channel})

    @property
    def connected(self) -> bool:
        return self._shard.connected

    def start(self) -> None:
        self._shard.start()

    async def close(self) -> None:
        await self._shard.close()

    async def subscribe(self, channel: str) -> None:
        self._marks.watch(channel)
        self._shard.subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._shard.unsubscribe(channel)
        self._marks.forget(channel)

    def publish(self, channel: str, data: bytes) -> None:
        """Queue a message for every other node; never blocks. Dropped (and counted) when the queue is full."""
        self._shard.publish(channel, self._framer.frame(data))


class ShardedRoomLink(_CountingLink):
    """The fan-out over a Redis Cluster: shard channels, one ``_Shard`` per master that owns a channel in use.

    ``cluster`` is a ``redis.asyncio.cluster.RedisCluster``; the link reads its slot map to place each channel and
    talks to each master over connections of its own (a subscriber connection and a publisher per master), made by
    ``node_client(cluster_node)`` (the hub's wiring builds them; this edge imports no Redis driver). When a
    master is lost the link refreshes the slot map and moves the channels whose slot has a new owner (a replica
    promoted); a master that restarts in place keeps its channels and is resubscribed when it is back.
    """

    def __init__(
        self,
        cluster: Any,
        node_channel: str,
        on_message: Callable[[bytes], Awaitable[None]],
        node_client: Callable[[Any], Any],
        *,
        queue_max: int = 20_000,
        backoff_max_s: float = 2.0,
    ) -> None:
        self._cluster = cluster
        self._node_client = node_client
        self._on_message = on_message
        self._queue_max = queue_max
        self._backoff_max_s = backoff_max_s
        self._counters = _Counters()
        self._framer = _Framer()
        self._marks = _Marks()
        self._shards: dict[str, _Shard] = {}
        self._owner: dict[str, str] = {}  # subscribed channel -> the shard (master name) it is subscribed on
        self._node_channel = node_channel
        self._marks.watch(node_channel)
        self._started = False
        self._refresh_wanted = asyncio.Event()
        self._refresher: asyncio.Task[None] | None = None
        self._initialized = False
        self._early: list[tuple[str, str | None, bytes | None]] = []  # calls made before the slot map was known

    @property
    def channels(self) -> frozenset[str]:
        return frozenset(self._owner.keys() - {self._node_channel})

    @property
    def shards(self) -> dict[str, frozenset[str]]:
        """Master name -> the channels this node has subscribed there (tests, metrics)."""
        return {name: frozenset(s.channels) for name, s in self._shards.items()}

    @property
    def connected(self) -> bool:
        return self._initialized and all(s.connected for s in self._shards.values())

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        self._refresher = asyncio.create_task(self._refresh_loop(), name="fanout-slot-map")
        self._refresh_wanted.set()  # learn the slot map, then place the node channel and anything queued

    async def close(self) -> None:
        self._started = False
        task, self._refresher = self._refresher, None
        await cancel_and_wait(task)
        shards, self._shards = list(self._shards.values()), {}
        for shard in shards:
            await shard.close()

    async def subscribe(self, channel: str) -> None:
        self._marks.watch(channel)
        if not self._initialized:
            self._early.append(("sub", channel, None))
            return
        self._subscribe(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._marks.forget(channel)
        if not self._initialized:
            self._early.append(("unsub", channel, None))
            return
        self._unsubscribe(channel)

    def _unsubscribe(self, channel: str) -> None:
        name = self._owner.pop(channel, None)
        if name is not None and name in self._shards:
            self._shards[name].unsubscribe(channel)

    def publish(self, channel: str, data: bytes) -> None:
        """Queue a message for every other node; never blocks. Dropped (and counted) when a queue is full."""
        self._route(channel, self._framer.frame(data))

    def _route(self, channel: str, data: bytes) -> None:
        if not self._initialized:
            if len(self._early) < self._queue_max:
                self._early.append(("pub", channel, data))
            else:
                self._counters.dropped += 1
            return
        try:
            shard = self._shard_for(channel)
        except Exception:
            self._counters.dropped += 1
            self._refresh_wanted.set()
            return
        shard.publish(channel, data)

    # Placement

    def _subscribe(self, channel: str) -> None:
        try:
            shard = self._shard_for(channel)
        except Exception:
            self._owner[channel] = ""  # placed at the next refresh of the slot map
            self._refresh_wanted.set()
            return
        self._owner[channel] = shard.name
        shard.subscribe(channel)

    def _shard_for(self, channel: str) -> _Shard:
        node = self._cluster.get_node_from_key(channel)
        shard = self._shards.get(node.name)
        if shard is None:
            shard = _Shard(
                node.name,
                self._node_client(node),
                self._on_message,
                self._counters,
                sharded=True,
                queue_max=self._queue_max,
                backoff_max_s=self._backoff_max_s,
                marks=self._marks,
                on_outage=self._on_outage,
                owns_client=True,
                slot_of=self._cluster.keyslot,
            )
            self._shards[node.name] = shard
            if self._started:
                shard.start()
        return shard

    def _on_outage(self, _name: str) -> None:
        self._refresh_wanted.set()

    async def _refresh_loop(self) -> None:
        backoff = 0.1
        while True:
            await self._refresh_wanted.wait()
            self._refresh_wanted.clear()
            try:
                await self._cluster.nodes_manager.initialize()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("fan-out: the cluster's slot map is not readable (%s); retrying", type(exc).__name__)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self._backoff_max_s)
                self._refresh_wanted.set()
                continue
            backoff = 0.1
            if not self._initialized:
                self._initialized = True
                self._subscribe(self._node_channel)
                early, self._early = self._early, []
                for kind, channel, data in early:
                    if kind == "sub" and channel is not None:
                        self._subscribe(channel)
                    elif kind == "unsub" and channel is not None:
                        self._unsubscribe(channel)
                    elif channel is not None and data is not None:
                        self._route(channel, data)  # framed when it was published
                continue
            await self._rehome()
            await asyncio.sleep(1.0)  # at most one refresh a second, however many shards report trouble

    async def _rehome(self) -> None:
        """Move each channel whose slot now belongs to another master (after a failover or a resharding)."""
        for channel, name in list(self._owner.items()):
            try:
                owner = self._cluster.get_node_from_key(channel).name
            except Exception:
                continue
            if owner == name:
                continue
            old = self._shards.get(name)
            if old is not None:
                old.unsubscribe(channel)
            self._subscribe(channel)
        masters = {node.name for node in self._cluster.get_primaries()}
        for name, shard in list(self._shards.items()):
            if name not in masters and not shard.channels:  # a master that left the cluster
                del self._shards[name]
                await shard.close()
