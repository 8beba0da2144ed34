"""Room fan-out for one node: a python-socketio client manager sharded by room, a batcher, the broadcaster.

- ``ShardedManager`` (one per Socket.IO server: JSON and msgpack) tells the node-wide ``RoomFanout`` when a shared
  room (``s:``/``m:``/``u:``, see ``signaling/keys.py``) gains its first or loses its last local member, and routes
  emits to shared rooms through it. Local delivery encodes the packet once per server and queues it on each
  recipient's Engine.IO socket without creating a task per recipient.
- ``RoomFanout`` subscribes the node to a room's Redis channel only while it has local members, publishes each
  emit there (msgpack) for the other nodes, and delivers what other nodes publish. With no Redis it is purely local.
- Chat messages go through a per-room batcher on each node that keeps one batch in flight: while a batch is being
  written, new messages gather; the next batch is one emit (``chat:message`` for one, ``chat:batch`` for several,
  in order). Under load batches grow instead of writes multiplying.
- ``RoomFanout`` is the ``rooms.notify.RoomNotifier`` and the ``RoomBroadcaster`` other packages use:
  ``await broadcaster.emit(stream_id, event, payload)`` reaches the room on every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, deque
from collections.abc import Callable
from typing import Any, Protocol

import msgpack  # type: ignore[import-untyped]
from engineio import packet as eio_packet
from socketio import packet as sio_packet
from socketio.async_manager import AsyncManager

from signaling import keys

log = logging.getLogger(__name__)

NAMESPACE = "/live"
BATCHED_EVENTS = frozenset({"chat:message"})
BATCH_EVENT = "chat:batch"
BATCH_MAX = 200
WRITTEN_WAIT_S = 0.25
DELIVERY_CHUNK = 64


class RoomLink(Protocol):
    """What the fan-out needs from the transport between nodes (``signaling.store_redis.RedisRoomLink``)."""

    connected: bool

    def start(self) -> None: ...

    async def close(self) -> None: ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    def publish(self, channel: str, data: bytes) -> None: ...


class ShardedManager(AsyncManager):  # type: ignore[misc]
    def __init__(self, fanout: RoomFanout) -> None:
        super().__init__()
        self._fanout = fanout
        self._joined: dict[tuple[str, str], set[Any]] = {}  # (namespace, sid) -> rooms besides its own

    def set_server(self, server: Any) -> None:
        super().set_server(server)
        self._fanout.attach(self)

    def local_size(self, namespace: str, room: str) -> int:
        return len(self.rooms.get(namespace, {}).get(room, ()))

    async def enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        had = self.local_size(namespace, room) if keys.is_shared_room(room) else 1
        self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if had == 0 and self.local_size(namespace, room):
            await self._fanout.room_opened(room)

    async def leave_room(self, sid: str, namespace: str, room: Any) -> None:
        had = self.local_size(namespace, room) if keys.is_shared_room(room) else 0
        self.basic_leave_room(sid, namespace, room)
        if had and not self.local_size(namespace, room):
            await self._fanout.room_closed(room)

    async def close_room(self, room: Any, namespace: str) -> None:
        had = self.local_size(namespace, room) if keys.is_shared_room(room) else 0
        self.basic_close_room(room, namespace)
        if had:
            await self._fanout.room_closed(room)

    def basic_enter_room(self, sid: str, namespace: str, room: Any, eio_sid: str | None = None) -> None:
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        if room is not None and room != sid:
            self._joined.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid: str, namespace: str, room: Any) -> None:
        super().basic_leave_room(sid, namespace, room)
        joined = self._joined.get((namespace, sid))
        if joined is not None:
            joined.discard(room)

    def get_rooms(self, sid: str, namespace: str) -> list[Any]:
        """python-socketio scans every room (one per connection) for this; we keep an index."""
        if sid not in self.rooms.get(namespace, {}).get(None, ()):
            return []
        return [sid, *self._joined.get((namespace, sid), ())]

    def basic_disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        """Like python-socketio's, but visits only the client's own rooms (its version scans every room, so a
        mass disconnect — a stream ending with thousands of viewers — cost O(N²))."""
        if namespace not in self.rooms:
            return
        for room in [*self._joined.pop((namespace, sid), ()), sid, None]:
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    async def disconnect(self, sid: str, namespace: str, **kwargs: Any) -> None:
        shared = [r for r in self._joined.get((namespace, sid), ()) if keys.is_shared_room(r)]
        self.basic_disconnect(sid, namespace, **kwargs)
        for room in shared:
            if not self.local_size(namespace, room):
                await self._fanout.room_closed(room)

    async def emit(
        self,
        event: str,
        data: Any,
        namespace: str,
        room: Any = None,
        skip_sid: Any = None,
        callback: Any = None,
        to: Any = None,
        **kwargs: Any,
    ) -> None:
        room = to or room
        if callback is None and keys.is_shared_room(room) and not isinstance(data, tuple):
            skip = None if skip_sid is None else (skip_sid if isinstance(skip_sid, list) else [skip_sid])
            await self._fanout.publish(namespace, room, event, data, skip)
            return
        await super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback, **kwargs)

    async def deliver(self, namespace: str, room: str, event: str, data: Any, skip: list[str] | None = None) -> Any:
        """Queue one event on every local member's socket; returns the Engine.IO socket of the last recipient
        that was keeping up (its queue was empty), for the batcher to pace on."""
        members = self.rooms.get(namespace, {}).get(room)
        if not members:
            return None
        pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event, data])
        encoded = pkt.encode()
        eio_pkts = [
            eio_packet.Packet(eio_packet.MESSAGE, p) for p in (encoded if isinstance(encoded, list) else [encoded])
        ]
        sockets = self.server.eio.sockets
        last = None
        for i, (sid, eio_sid) in enumerate(list(members.items()), 1):
            if skip and sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            # A socket whose queue is already backed up (a slow reader) must not pace the room's batches.
            idle = sock.queue.empty()
            for p in eio_pkts:
                sock.queue.put_nowait(p)  # what AsyncSocket.send does, minus a coroutine and a log call per recipient
            if idle:
                last = sock
            if i % DELIVERY_CHUNK == 0:
                # Let this chunk's writers run before queueing the next: one loop iteration then holds a few
                # hundred writes, not thousands, and incoming events (a sender's next message, its ack) keep
                # moving between chunks instead of waiting for the whole room to be written.
                await asyncio.sleep(0)
        return last


class RoomBatcher:
    """Every event to one stream room on this node, in order, one delivery in flight; consecutive chat messages
    that gathered meanwhile go out as one ``chat:batch``. (Other events keep their place: a ``chat:deleted``
    never overtakes the message it deletes.)"""

    def __init__(self, fanout: RoomFanout, namespace: str, room: str) -> None:
        self._fanout = fanout
        self._namespace = namespace
        self._room = room
        self._pending: deque[tuple[str, Any]] = deque()
        self._task: asyncio.Task[None] | None = None

    def add(self, event: str, data: Any) -> None:
        self._pending.append((event, data))
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"room-{self._room}")

    def _next(self) -> tuple[str, Any, bool]:
        event, data = self._pending.popleft()
        if event not in BATCHED_EVENTS:
            return event, data, False
        batch = [data]
        while self._pending and len(batch) < BATCH_MAX and self._pending[0][0] in BATCHED_EVENTS:
            batch.append(self._pending.popleft()[1])
        if len(batch) == 1:
            return event, data, True
        return BATCH_EVENT, {"stream_id": self._room[len(keys.STREAM_ROOM) :], "messages": batch}, True

    async def _run(self) -> None:
        try:
            while self._pending:
                event, data, chat = self._next()
                lasts = await self._fanout.deliver_now(self._namespace, self._room, event, data, None)
                if not chat:
                    continue
                self._fanout.batches += 1
                for sock in lasts:
                    # "In flight": wait until the last recipient's writer has sent it, so the next batch
                    # gathers everything that arrived while this one was being written.
                    with contextlib.suppress(TimeoutError, AttributeError):
                        await asyncio.wait_for(sock.queue.join(), WRITTEN_WAIT_S)
        finally:
            self._task = None

    async def close(self) -> None:
        task, self._task = self._task, None
        self._pending.clear()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class RoomFanout:
    def __init__(self, node_id: str, link_factory: Any = None, namespace: str = NAMESPACE) -> None:
        """``link_factory(node_channel, on_message) -> RoomLink`` builds the transport to other nodes (None: alone)."""
        self.node_id = node_id
        self.namespace = namespace
        self._managers: list[ShardedManager] = []
        self._local: Counter[str] = Counter()
        self._batchers: dict[str, RoomBatcher] = {}
        self.link: RoomLink | None = (
            link_factory(keys.node_channel(node_id), self._on_remote) if link_factory is not None else None
        )
        self.batches = 0
        self.remote_received = 0
        self._room_listeners: list[Callable[[str, str], None]] = []

    def on_room_event(self, listener: Callable[[str, str], None], events: frozenset[str]) -> None:
        """Call ``listener(room, event)`` (synchronously) when one of ``events`` reaches a room on this node,
        from here or another node — e.g. to forget cached room state when ``room:settings`` goes by."""

        def filtered(room: str, event: str) -> None:
            if event in events:
                listener(room, event)

        self._room_listeners.append(filtered)

    def attach(self, manager: ShardedManager) -> None:
        self._managers.append(manager)

    def start(self) -> None:
        if self.link is not None:
            self.link.start()

    async def close(self) -> None:
        for b in list(self._batchers.values()):
            await b.close()
        self._batchers.clear()
        if self.link is not None:
            await self.link.close()

    @property
    def local_rooms(self) -> frozenset[str]:
        return frozenset(self._local)

    async def room_opened(self, room: str) -> None:
        self._local[room] += 1
        if self._local[room] == 1 and self.link is not None:
            await self.link.subscribe(keys.room_channel(room))

    async def room_closed(self, room: str) -> None:
        if room not in self._local:
            return
        self._local[room] -= 1
        if self._local[room] <= 0:
            del self._local[room]
            batcher = self._batchers.pop(room, None)
            if batcher is not None:
                await batcher.close()
            if self.link is not None:
                await self.link.unsubscribe(keys.room_channel(room))

    async def publish(self, namespace: str, room: str, event: str, data: Any, skip: list[str] | None = None) -> None:
        """Deliver to the room here and on every other node."""
        await self.deliver_local(namespace, room, event, data, skip)
        if self.link is not None:
            self.link.publish(
                keys.room_channel(room), msgpack.packb([self.node_id, namespace, room, event, data], use_bin_type=True)
            )

    async def deliver_local(
        self, namespace: str, room: str, event: str, data: Any, skip: list[str] | None = None
    ) -> None:
        for listener in self._room_listeners:
            listener(room, event)
        if room not in self._local:
            return
        if skip is None and room.startswith(keys.STREAM_ROOM):
            batcher = self._batchers.get(room)
            if batcher is None:
                batcher = self._batchers[room] = RoomBatcher(self, namespace, room)
            batcher.add(event, data)
            return
        await self.deliver_now(namespace, room, event, data, skip)

    async def deliver_now(self, namespace: str, room: str, event: str, data: Any, skip: list[str] | None) -> list[Any]:
        lasts = []
        for manager in self._managers:
            last = await manager.deliver(namespace, room, event, data, skip)
            if last is not None:
                lasts.append(last)
        return lasts

    async def _on_remote(self, raw: bytes) -> None:
        node, namespace, room, event, data = msgpack.unpackb(raw, raw=False)
        if node == self.node_id:
            return
        self.remote_received += 1
        await self.deliver_local(namespace, room, event, data)

    # RoomBroadcaster / rooms.notify.RoomNotifier
    async def emit(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        """Send ``event`` to everyone in the stream's room, on every node."""
        await self.publish(self.namespace, keys.stream_room(stream_id), event, payload)

    async def to_room(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        await self.emit(stream_id, event, payload)

    async def to_room_local(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        await self.deliver_local(self.namespace, keys.stream_room(stream_id), event, payload)

    async def to_moderators(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        await self.publish(self.namespace, keys.moderators_room(stream_id), event, payload)

    async def to_user(self, user_id: str, event: str, payload: dict[str, Any]) -> None:
        await self.publish(self.namespace, keys.user_room(user_id), event, payload)

    async def chat(self, stream_id: str, message: dict[str, Any]) -> None:
        await self.publish(self.namespace, keys.stream_room(stream_id), "chat:message", message)


RoomBroadcaster = RoomFanout
