"""Room fan-out for one node: a python-socketio client manager sharded by room, a batcher, the broadcaster.

- ``ShardedManager`` (one per Socket.IO server: JSON and msgpack) tells the node-wide ``RoomFanout`` when a shared
  room (``s:``/``m:``/``u:``, see ``signaling/keys.py``) gains its first or loses its last local member, and routes
  emits to shared rooms through it. Local delivery encodes the packet once per server and queues it on each
  recipient's Engine.IO socket without creating a task per recipient.
- ``RoomFanout`` subscribes the node to a room's Redis channel only while it has local members, publishes each
  emit there (msgpack) for the other nodes, and delivers what other nodes publish. With no Redis it is purely local.
- Every event to a stream room (chat, gifts, likes, leaderboard, goal, viewers, moderation) goes through one
  per-room ``RoomSequencer`` on each node that keeps one tick in flight: while a tick is being written, new events
  gather; the next tick is ONE packet per viewer (the event itself when it is alone, else a ``room:batch`` carrying
  everything since the last tick, in order). Under load ticks grow instead of writes multiplying. Within a tick the
  state events (leaderboard, goal, likes, viewers) keep only their latest value and small repeated gifts (same sender,
  same gift) merge into one effect with a count; a viewer whose socket is behind gets a reduced packet. The rules
  are in ``docs/protocol.md`` ("Room events: one packet per tick").
- ``RoomFanout`` is the ``rooms.notify.RoomNotifier`` and the ``RoomBroadcaster`` other packages use:
  ``await broadcaster.emit(stream_id, event, payload)`` reaches the room on every node.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import msgpack  # type: ignore[import-untyped]
from engineio import packet as eio_packet
from socketio import packet as sio_packet
from socketio.async_manager import AsyncManager

from core.tasks import cancel_and_wait
from signaling import keys
from signaling.lean_socket import ws_frame

log = logging.getLogger(__name__)

NAMESPACE = "/live"
BATCH_EVENT = "room:batch"
WRITTEN_WAIT_S = 0.25
#: Writing a tick yields to the event loop after this many recipients or ``DELIVERY_SLICE_S`` of writing, whichever
#: comes first (checked every ``DELIVERY_CHECK_EVERY``): a sender's next message, its Redis calls and its ack each
#: need a few loop iterations, and every iteration waits for one slice of a tick being written.
DELIVERY_CHUNK = 64
DELIVERY_SLICE_S = 0.001
DELIVERY_CHECK_EVERY = 8
#: A tick starts at most this often per local member (a 500-viewer room: every 50 ms under load; an idle room's next
#: event goes at once), and at least every ``TICK_MAX_S``: the writes per second stay bounded as the room grows.
TICK_S_PER_MEMBER = 0.0001
TICK_MAX_S = 0.1
#: A tick that starts from idle (none in flight, none due) first lingers this long per local member, at most
#: ``LINGER_MAX_S``: events that come together (a burst of chat, the same message arriving from other nodes a hop
#: later) then share one tick instead of the rest waiting for the first one's whole write (~35 µs per member). A
#: 2,500-member room lingers 20 ms, a 500-member room 4 ms; under ``LINGER_MIN_S`` (rooms under 125) not at all.
LINGER_S_PER_MEMBER = 0.000008
LINGER_MAX_S = 0.02
LINGER_MIN_S = 0.001
#: At most this many events wait for the next tick; past it, chat messages and small gifts' effects are dropped
#: (counted) — state events are replaced, control events and big gifts always kept.
PENDING_MAX = 2000
#: A viewer whose socket still has this many packets unwritten gets the reduced packet of a tick (no chat, small
#: gifts, likes or viewer counts); at ``BEHIND_FAR`` only control events (stream end, moderation, settings).
BEHIND = 16
BEHIND_FAR = 64
#: Events of which only the latest matters: within a tick a newer one replaces the older.
LATEST_EVENTS = frozenset({"leaderboard:update", "goal:progress", "likes:update", "viewers:count", "pk:score"})
#: Events a viewer that is behind can do without (the next full packet carries the current state).
SKIPPABLE_EVENTS = frozenset({"chat:message", "likes:update", "viewers:count"})
#: A gift is big (never merged, kept for a viewer that is behind) with a fullscreen effect or this many coins.
BIG_GIFT_COINS = 100

CONTROL, IMPORTANT, SKIPPABLE = 0, 1, 2


class RoomLink(Protocol):
    """What the fan-out needs from the transport between nodes (``signaling.store_redis.RedisRoomLink``)."""

    connected: bool

    @property
    def reconnects(self) -> int: ...  # subscriber losses (a metric)

    @property
    def dropped(self) -> int: ...  # messages not published while Redis was away (a metric)

    @property
    def repeats(self) -> int: ...  # messages received again after a repeated publish, not delivered (a metric)

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
        self.written_direct = 0  # room packets written straight to a socket's wire (it was idle)
        self.queued = 0  # room packets queued on a socket instead (it was busy, behind, or not a plain WebSocket)

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

    async def deliver(
        self,
        namespace: str,
        room: str,
        event: str,
        data: Any,
        skip: list[str] | None = None,
        behind: tuple[tuple[int, tuple[str, Any] | None], ...] = (),
    ) -> Any:
        """Queue one event on every local member's socket; returns the Engine.IO socket of the last recipient
        that was keeping up (its queue was empty), for the sequencer to pace on.

        ``behind``: ``(unwritten packets, (event, data) or None)`` from the most to the least behind: a socket with
        at least that many packets still queued gets that packet instead (None: nothing this time)."""
        members = self.rooms.get(namespace, {}).get(room)
        if not members:
            return None
        encoded: dict[int, tuple[list[Any], list[bytes]]] = {}

        def packets(choice: int, what: tuple[str, Any]) -> tuple[list[Any], list[bytes]]:
            """The Engine.IO packets of one choice, and the same as WebSocket frames, encoded once for everyone."""
            if choice not in encoded:
                pkt = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[what[0], what[1]])
                raw = pkt.encode()
                eio = [eio_packet.Packet(eio_packet.MESSAGE, p) for p in (raw if isinstance(raw, list) else [raw])]
                encoded[choice] = eio, [ws_frame(p.encode()) for p in eio]
            return encoded[choice]

        full = (event, data)
        sockets = self.server.eio.sockets
        last = None
        clock = time.perf_counter
        slice_until = clock() + DELIVERY_SLICE_S
        since_yield = 0
        for sid, eio_sid in list(members.items()):
            if skip and sid in skip:
                continue
            sock = sockets.get(eio_sid)
            if sock is None or sock.closed:
                continue
            # A socket whose queue is already backed up (a slow reader) must not pace the room's batches.
            queued = sock.queue.qsize()
            choice: int = -1
            what: tuple[str, Any] | None = full
            for n, (threshold, instead) in enumerate(behind):
                if queued >= threshold:
                    choice, what = n, instead
                    break
            if what is not None:
                eio, frames = packets(choice, what)
                # Straight to the wire when the socket is idle (signaling/lean_socket.py), else through its queue.
                write_now = getattr(sock, "write_now", None)
                if write_now is not None and write_now(frames):
                    self.written_direct += 1
                else:
                    self.queued += 1
                    for p in eio:
                        sock.queue.put_nowait(p)  # what AsyncSocket.send does, minus a coroutine and a log call each
            if queued == 0:
                last = sock
            since_yield += 1
            if since_yield >= DELIVERY_CHUNK or (since_yield % DELIVERY_CHECK_EVERY == 0 and clock() >= slice_until):
                # Let the loop run between slices: one iteration then holds a millisecond of writes, not the whole
                # room's, and incoming events (a sender's next message, its Redis calls, its ack, queued sockets'
                # writers) keep moving while a big room is being written.
                await asyncio.sleep(0)
                since_yield = 0
                slice_until = clock() + DELIVERY_SLICE_S
        return last


def _gift_key(data: Any) -> tuple[str, str] | None:
    """(sender, gift) of a small gift's effect, which may merge with the same sender's same gift; None for a big one."""
    try:
        gift, effect = data["gift"], data.get("effect") or {}
        if data.get("message"):
            return None  # a gift with a message is drawn with it: never merged, kept for a viewer that is behind
        if effect.get("fullscreen") or int(gift.get("coins", 0)) * int(data.get("count", 1)) >= BIG_GIFT_COINS:
            return None
        return str(data["sender"]["id"]), str(gift["id"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _merge_gift(into: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """One effect for two small gifts of one sender: counts add up, the latest combo and time win, every transfer
    id is listed (``transfer_id`` is the latest: pages de-duplicate on it)."""
    ids = list(into.get("transfer_ids") or [into.get("transfer_id")])
    ids.extend(data.get("transfer_ids") or [data.get("transfer_id")])
    merged: dict[str, Any] = dict(into)
    for k in ("transfer_id", "combo", "at"):
        if k in data:
            merged[k] = data[k]
    merged["count"] = int(into.get("count", 1)) + int(data.get("count", 1))
    merged["merged"] = int(into.get("merged", 1)) + int(data.get("merged", 1))
    merged["transfer_ids"] = ids
    return merged


def _priority(event: str, data: Any) -> int:
    if event == "gift:received":
        return IMPORTANT if _gift_key(data) is None else SKIPPABLE
    if event in SKIPPABLE_EVENTS:
        return SKIPPABLE
    if event in LATEST_EVENTS:
        return IMPORTANT
    return CONTROL


class RoomSequencer:
    """Every event to one stream room on this node, in order, one tick in flight. Each tick is one packet per
    viewer with everything that gathered since the last one (see the module's docstring for the merge rules)."""

    def __init__(self, fanout: RoomFanout, namespace: str, room: str) -> None:
        self._fanout = fanout
        self._namespace = namespace
        self._room = room
        self._stream_id = room[len(keys.STREAM_ROOM) :]
        self._pending: list[list[Any] | None] = []  # [event, data, priority]; None where a newer one replaced it
        self._latest: dict[str, int] = {}  # state event -> its slot this tick
        self._gifts: dict[tuple[str, str], int] = {}  # (sender, gift) -> the slot of its small gift this tick
        self._barrier = 0  # slots before this one are not merged into (a big gift or a control event came after)
        self._task: asyncio.Task[None] | None = None
        self._next_at = 0.0
        self.dropped = 0

    def add(self, event: str, data: Any) -> None:
        priority = _priority(event, data)
        if event in self._latest:
            self._pending[self._latest.pop(event)] = None
        elif event == "gift:received" and priority == SKIPPABLE:
            key = _gift_key(data)
            slot = self._gifts.get(key) if key is not None else None
            if slot is not None and slot >= self._barrier and (entry := self._pending[slot]) is not None:
                entry[1] = _merge_gift(entry[1], data)
                return
        if priority == SKIPPABLE and event not in LATEST_EVENTS and len(self._pending) >= PENDING_MAX:
            self.dropped += 1  # the room cannot be written as fast as this comes (never money: the ledger has it)
            self._fanout.dropped += 1
            return
        if event in LATEST_EVENTS:
            self._latest[event] = len(self._pending)
        elif event == "gift:received" and priority == SKIPPABLE:
            key = _gift_key(data)
            if key is not None:
                self._gifts[key] = len(self._pending)
        elif priority != SKIPPABLE:  # a big gift or a control event: nothing later merges into a gift before it
            self._barrier = len(self._pending) + 1
        self._pending.append([event, data, priority])
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"room-{self._room}")

    def _take(self) -> list[tuple[str, Any, int]]:
        entries = [(e[0], e[1], e[2]) for e in self._pending if e is not None]
        self._pending.clear()
        self._latest.clear()
        self._gifts.clear()
        self._barrier = 0
        return entries

    def _packet(self, entries: list[tuple[str, Any, int]], *, skipped: int = 0) -> tuple[str, Any] | None:
        if not entries:
            return None
        if len(entries) == 1 and not skipped:
            return entries[0][0], entries[0][1]
        body: dict[str, Any] = {
            "stream_id": self._stream_id,
            "events": [{"event": e, "data": d} for e, d, _ in entries],
        }
        if skipped:
            body["skipped"] = skipped
        return BATCH_EVENT, body

    def _behind(self, entries: list[tuple[str, Any, int]]) -> tuple[tuple[int, tuple[str, Any] | None], ...]:
        important = [e for e in entries if e[2] <= IMPORTANT]
        control = [e for e in entries if e[2] == CONTROL]
        return (
            (BEHIND_FAR, self._packet(control, skipped=len(entries) - len(control))),
            (BEHIND, self._packet(important, skipped=len(entries) - len(important))),
        )

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            members = self._fanout.local_members(self._namespace, self._room)
            linger = min(LINGER_MAX_S, members * LINGER_S_PER_MEMBER)  # from idle only: see LINGER_S_PER_MEMBER
            if linger < LINGER_MIN_S:
                linger = 0.0
            while self._pending:
                wait = max(self._next_at - loop.time(), linger)
                linger = 0.0
                if wait > 0:
                    await asyncio.sleep(wait)  # more gathers meanwhile
                entries = self._take()
                packet = self._packet(entries)
                if packet is None:
                    continue
                members = self._fanout.local_members(self._namespace, self._room)
                self._next_at = loop.time() + min(TICK_MAX_S, members * TICK_S_PER_MEMBER)
                behind = self._behind(entries) if any(e[2] != CONTROL for e in entries) else ()
                lasts = await self._fanout.deliver_now(self._namespace, self._room, *packet, None, behind)
                self._fanout.batches += 1
                for sock in lasts:
                    # "In flight": wait until the last recipient's writer has sent it, so the next tick gathers
                    # everything that arrived while this one was being written.
                    with contextlib.suppress(TimeoutError, AttributeError):
                        await asyncio.wait_for(sock.queue.join(), WRITTEN_WAIT_S)
        finally:
            self._task = None

    async def close(self) -> None:
        task, self._task = self._task, None
        self._take()
        await cancel_and_wait(task)


class RoomFanout:
    def __init__(self, node_id: str, link_factory: Any = None, namespace: str = NAMESPACE) -> None:
        """``link_factory(node_channel, on_message) -> RoomLink`` builds the transport to other nodes (None: alone)."""
        self.node_id = node_id
        self.namespace = namespace
        self._managers: list[ShardedManager] = []
        self._local: Counter[str] = Counter()
        self._batchers: dict[str, RoomSequencer] = {}
        self.link: RoomLink | None = (
            link_factory(keys.node_channel(node_id), self._on_remote) if link_factory is not None else None
        )
        self.batches = 0  # ticks written
        self.dropped = 0  # events no viewer got because a room's queue was full (chat, small gifts' effects)
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
                batcher = self._batchers[room] = RoomSequencer(self, namespace, room)
            batcher.add(event, data)
            return
        await self.deliver_now(namespace, room, event, data, skip)

    async def deliver_now(
        self,
        namespace: str,
        room: str,
        event: str,
        data: Any,
        skip: list[str] | None,
        behind: tuple[tuple[int, tuple[str, Any] | None], ...] = (),
    ) -> list[Any]:
        lasts = []
        for manager in self._managers:
            last = await (
                manager.deliver(namespace, room, event, data, skip, behind)
                if behind
                else manager.deliver(namespace, room, event, data, skip)
            )
            if last is not None:
                lasts.append(last)
        return lasts

    @property
    def written_direct(self) -> int:
        """Room packets written straight to an idle socket's wire (a metric)."""
        return sum(m.written_direct for m in self._managers)

    @property
    def queued(self) -> int:
        """Room packets queued on a socket that was busy or behind (a metric)."""
        return sum(m.queued for m in self._managers)

    def local_members(self, namespace: str, room: str) -> int:
        return sum(m.local_size(namespace, room) for m in self._managers)

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
