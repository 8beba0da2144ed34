"""RoomFanout without sockets: a recording manager and link stand in at our own seams."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import msgpack
from socketio import packet as sio_packet

from signaling.fanout import RoomFanout, ShardedManager
from signaling.lean_socket import LeanQueue
from signaling.metrics import FanoutCollector


class RecordingManager:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, Any]] = []
        self.behind: list[tuple[tuple[int, Any], ...]] = []
        self.written_direct = self.queued = 0  # ShardedManager's counters (nothing is written here)

    def local_size(self, namespace: str, room: str) -> int:
        return 3

    def unpacked(self) -> list[tuple[str, Any]]:
        """Every event delivered, a ``room:batch`` opened into its parts, in order."""
        out: list[tuple[str, Any]] = []
        for _, e, d in self.delivered:
            out.extend([(x["event"], x["data"]) for x in d["events"]] if e == "room:batch" else [(e, d)])
        return out

    async def deliver(
        self,
        namespace: str,
        room: str,
        event: str,
        data: Any,
        skip: list[str] | None = None,
        behind: tuple[tuple[int, Any], ...] = (),
    ) -> Any:
        self.delivered.append((room, event, data))
        self.behind.append(behind)
        await asyncio.sleep(0.01)  # writing takes a while: more messages gather meanwhile
        return None


class RecordingLink:
    def __init__(self, node_channel: str, on_message: Any) -> None:
        self.node_channel = node_channel
        self.on_message = on_message
        self.subscribed: list[str] = []
        self.published: list[tuple[str, bytes]] = []
        self.connected = True
        self.reconnects = 0
        self.dropped = 0
        self.repeats = 0

    def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def subscribe(self, channel: str) -> None:
        self.subscribed.append(channel)

    async def unsubscribe(self, channel: str) -> None:
        self.subscribed.remove(channel)

    def publish(self, channel: str, data: bytes) -> None:
        self.published.append((channel, data))


def fanout_with(link: list[RecordingLink]) -> tuple[RoomFanout, RecordingManager]:
    def factory(node_channel: str, on_message: Any) -> RecordingLink:
        link.append(RecordingLink(node_channel, on_message))
        return link[0]

    fanout = RoomFanout("node-a", factory)
    manager = RecordingManager()
    fanout.attach(manager)  # type: ignore[arg-type]
    return fanout, manager


async def test_a_node_subscribes_to_a_room_only_while_it_has_local_members() -> None:
    links: list[RecordingLink] = []
    fanout, _ = fanout_with(links)
    await fanout.room_opened("s:1")
    await fanout.room_opened("s:1")  # the msgpack server's first member of the same room
    assert links[0].subscribed == ["sio:r:s:{1}"]
    await fanout.room_closed("s:1")
    assert links[0].subscribed == ["sio:r:s:{1}"]
    await fanout.room_closed("s:1")
    assert links[0].subscribed == []
    await fanout.emit("1", "viewers:count", {"count": 1})  # no local members: nothing delivered, still published
    assert len(links[0].published) == 1


async def test_chat_is_sent_in_order_in_room_batches_while_a_tick_is_in_flight() -> None:
    links: list[RecordingLink] = []
    fanout, manager = fanout_with(links)
    await fanout.room_opened("s:1")
    for i in range(50):
        await fanout.chat("1", {"text": str(i)})
        if i % 10 == 0:
            await asyncio.sleep(0.002)
    for _ in range(100):
        got = [d for e, d in manager.unpacked() if e == "chat:message"]
        if len(got) == 50:
            break
        await asyncio.sleep(0.01)
    assert [m["text"] for m in got] == [str(i) for i in range(50)]
    assert len(manager.delivered) < 50  # batched
    assert {e for _, e, _ in manager.delivered} <= {"chat:message", "room:batch"}
    await fanout.close()


async def test_messages_from_other_nodes_are_delivered_and_our_own_echo_is_ignored() -> None:
    links: list[RecordingLink] = []
    fanout, manager = fanout_with(links)
    await fanout.room_opened("u:7")
    own = msgpack.packb(["node-a", "/live", "u:7", "you:restricted", {"kind": "ban"}])
    other = msgpack.packb(["node-b", "/live", "u:7", "you:restricted", {"kind": "timeout"}])
    await links[0].on_message(own)
    await links[0].on_message(other)
    assert manager.delivered == [("u:7", "you:restricted", {"kind": "timeout"})]
    assert fanout.remote_received == 1


async def test_other_room_events_keep_their_place_among_chat_messages() -> None:
    links: list[RecordingLink] = []
    fanout, manager = fanout_with(links)
    await fanout.room_opened("s:1")
    await fanout.chat("1", {"text": "a"})
    await fanout.chat("1", {"text": "b"})
    await fanout.emit("1", "chat:deleted", {"message_id": "a"})
    await fanout.chat("1", {"text": "c"})
    for _ in range(100):
        if len(manager.unpacked()) == 4:
            break
        await asyncio.sleep(0.01)
    assert [(e, d) for _, e, d in manager.delivered] == [
        (
            "room:batch",
            {
                "stream_id": "1",
                "events": [
                    {"event": "chat:message", "data": {"text": "a"}},
                    {"event": "chat:message", "data": {"text": "b"}},
                    {"event": "chat:deleted", "data": {"message_id": "a"}},
                    {"event": "chat:message", "data": {"text": "c"}},
                ],
            },
        ),
    ]
    await fanout.close()


def gift(sender: str, gift_id: str, tid: str, *, coins: int = 1, count: int = 1, fullscreen: bool = False) -> Any:
    return {
        "stream_id": "1",
        "transfer_id": tid,
        "sender": {"id": sender},
        "gift": {"id": gift_id, "coins": coins},
        "count": count,
        "combo": count,
        "effect": {"fullscreen": fullscreen},
    }


async def delivered_after(fanout: RoomFanout, manager: RecordingManager, n: int) -> list[tuple[str, Any]]:
    for _ in range(200):
        if len(manager.unpacked()) >= n:
            break
        await asyncio.sleep(0.005)
    await fanout.close()
    return manager.unpacked()


async def test_small_repeated_gifts_merge_into_one_effect_with_every_transfer_and_big_ones_keep_their_place() -> None:
    fanout, manager = fanout_with([])
    await fanout.room_opened("s:1")
    await fanout.emit("1", "gift:received", gift("ann", "rose", "t1"))
    await fanout.emit("1", "gift:received", gift("bob", "rose", "t2"))
    await fanout.chat("1", {"text": "nice"})  # chat between them does not stop the merge
    await fanout.emit("1", "gift:received", gift("ann", "rose", "t3", count=2))
    await fanout.emit("1", "gift:received", gift("ann", "lion", "t4", coins=5000, fullscreen=True))
    await fanout.emit("1", "gift:received", gift("ann", "lion", "t5", coins=5000, fullscreen=True))
    await fanout.emit("1", "gift:received", gift("ann", "rose", "t6"))  # after a big gift: not merged before it
    got = [x for x in await delivered_after(fanout, manager, 6) if x[0] == "gift:received"]
    assert [(e, d["transfer_id"], d["count"], d.get("transfer_ids")) for e, d in got] == [
        ("gift:received", "t3", 3, ["t1", "t3"]),
        ("gift:received", "t2", 1, None),
        ("gift:received", "t4", 1, None),
        ("gift:received", "t5", 1, None),
        ("gift:received", "t6", 1, None),
    ]
    assert got[0][1]["merged"] == 2 and got[0][1]["combo"] == 2
    assert len(manager.delivered) == 1  # one tick: one packet


async def test_within_a_tick_only_the_latest_leaderboard_and_goal_are_sent_after_the_gifts_they_count() -> None:
    fanout, manager = fanout_with([])
    await fanout.room_opened("s:1")
    for i in range(3):
        await fanout.emit("1", "gift:received", gift(f"u{i}", "rose", f"t{i}"))
        await fanout.emit("1", "leaderboard:update", {"stream_id": "1", "top": [i]})
        await fanout.emit("1", "goal:progress", {"stream_id": "1", "goal": {"progress": i}})
    got = await delivered_after(fanout, manager, 5)
    assert [e for e, _ in got] == ["gift:received"] * 3 + ["leaderboard:update", "goal:progress"]
    assert got[3][1]["top"] == [2] and got[4][1]["goal"] == {"progress": 2}


async def test_a_viewer_that_is_behind_gets_a_reduced_packet_and_a_far_behind_one_only_control_events() -> None:
    fanout, manager = fanout_with([])
    await fanout.room_opened("s:1")
    await fanout.chat("1", {"text": "hi"})
    await fanout.emit("1", "gift:received", gift("ann", "rose", "t1"))
    await fanout.emit("1", "gift:received", gift("bob", "lion", "t2", coins=5000, fullscreen=True))
    await fanout.emit("1", "leaderboard:update", {"stream_id": "1", "top": []})
    await fanout.emit("1", "chat:deleted", {"stream_id": "1", "message_id": "m"})
    await delivered_after(fanout, manager, 5)
    (far, far_packet), (near, near_packet) = manager.behind[0]
    assert (far, near) == (64, 16)
    assert [x["event"] for x in near_packet[1]["events"]] == ["gift:received", "leaderboard:update", "chat:deleted"]
    assert near_packet[1]["skipped"] == 2
    assert far_packet[1]["events"] == [{"event": "chat:deleted", "data": {"stream_id": "1", "message_id": "m"}}]
    assert far_packet[1]["skipped"] == 4


async def test_a_room_that_cannot_be_written_fast_enough_drops_chat_beyond_its_bound_but_keeps_control_events() -> None:
    fanout, manager = fanout_with([])
    await fanout.room_opened("s:1")
    for i in range(2100):
        await fanout.chat("1", {"text": str(i)})
    await fanout.emit("1", "likes:update", {"stream_id": "1", "total": 7})  # state: replaced, never dropped
    await fanout.emit("1", "chat:cleared", {"stream_id": "1"})
    got = await delivered_after(fanout, manager, 2002)
    assert len(got) == 2002 and [e for e, _ in got[-2:]] == ["likes:update", "chat:cleared"]
    assert fanout.dropped == 100
    scraped = {m.name: m.samples[0].value for m in FanoutCollector(fanout).collect() if m.samples}
    assert scraped["hub_fanout_room_overflow"] == 100  # what an operator sees


class FakeSocket:
    def __init__(self, unwritten: int) -> None:
        self.closed = False
        self.queue: asyncio.Queue[Any] = asyncio.Queue()
        for _ in range(unwritten):
            self.queue.put_nowait("old")

    def got(self) -> list[str]:
        return [p.data for p in list(self.queue._queue) if p != "old"]  # type: ignore[attr-defined]


async def test_each_socket_gets_the_full_reduced_or_control_packet_by_how_far_behind_its_writer_is() -> None:
    import socketio

    from signaling.fanout import ShardedManager

    fanout = RoomFanout("node-a")
    manager = ShardedManager(fanout)
    server = socketio.AsyncServer(async_mode="asgi", client_manager=manager)
    sockets = {"e1": FakeSocket(0), "e2": FakeSocket(16), "e3": FakeSocket(64), "e4": FakeSocket(3)}
    server.eio.sockets = sockets
    for n, eio_sid in enumerate(sockets):
        manager.basic_enter_room(f"s{n}", "/live", "s:1", eio_sid=eio_sid)
    last = await manager.deliver(
        "/live", "s:1", "room:batch", {"n": "full"}, None, ((64, None), (16, ("room:batch", {"n": "reduced"})))
    )
    assert [s.got() for s in sockets.values()] == [
        ['2/live,["room:batch",{"n":"full"}]'],
        ['2/live,["room:batch",{"n":"reduced"}]'],
        [],  # far behind and the tick had no control event
        ['2/live,["room:batch",{"n":"full"}]'],  # a little behind: everything still
    ]
    assert last is sockets["e1"]  # only a socket that was keeping up paces the room


class BigRoomManager(RecordingManager):
    def __init__(self, members: int) -> None:
        super().__init__()
        self.members = members

    def local_size(self, namespace: str, room: str) -> int:
        return self.members


async def test_events_close_together_in_a_big_room_share_its_first_tick_and_a_small_room_does_not_wait() -> None:
    """A burst (or the same burst arriving from another node a hop later) in a 2,500-member room goes out as one
    packet instead of its first message alone and the rest a whole write later; a small room never lingers."""
    for members, first_alone in ((2500, False), (3, True)):
        fanout = RoomFanout("node-a")
        manager = BigRoomManager(members)
        fanout.attach(manager)  # type: ignore[arg-type]
        await fanout.room_opened("s:1")
        await fanout.chat("1", {"text": "a"})
        await asyncio.sleep(0.004)  # well within the big room's linger, long after a small room's tick started
        await fanout.chat("1", {"text": "b"})
        await fanout.chat("1", {"text": "c"})
        for _ in range(100):
            if len([d for e, d in manager.unpacked() if e == "chat:message"]) == 3:
                break
            await asyncio.sleep(0.01)
        assert [d["text"] for e, d in manager.unpacked() if e == "chat:message"] == ["a", "b", "c"]
        _, first_event, first_data = manager.delivered[0]
        if first_alone:
            assert first_event == "chat:message" and first_data["text"] == "a"
        else:
            assert first_event == "room:batch" and len(first_data["events"]) == 3
        await fanout.close()


class SlowWire:
    """An idle socket whose wire takes ``cost_s`` per write (a busy loop: the loop cannot run meanwhile)."""

    closed = False

    def __init__(self, cost_s: float) -> None:
        self.cost_s = cost_s
        self.queue = LeanQueue()
        self.frames = 0

    def write_now(self, frames: list[bytes]) -> bool:
        until = time.perf_counter() + self.cost_s
        while time.perf_counter() < until:
            pass
        self.frames += 1
        return True


async def test_writing_a_tick_lets_the_loop_run_after_every_millisecond_of_writes() -> None:
    """A sender's message, its Redis calls and its ack each need loop iterations; a tick to a big room must not hold
    the loop for 64 slow writes at a time (old code: one yield per 64 recipients, here ~19 ms)."""
    manager = ShardedManager(RoomFanout("node-a"))
    sockets = {f"e{i}": SlowWire(0.0003) for i in range(64)}
    manager.server = SimpleNamespace(packet_class=sio_packet.Packet, eio=SimpleNamespace(sockets=sockets))
    manager.rooms = {"/live": {"s:1": {f"sid{i}": f"e{i}" for i in range(64)}}}
    turns = 0

    async def other_work() -> None:
        nonlocal turns
        while True:
            turns += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(other_work())
    await asyncio.sleep(0)
    before = turns
    await manager.deliver("/live", "s:1", "chat:message", {"text": "hi"})
    during = turns - before
    other.cancel()
    assert all(s.frames == 1 for s in sockets.values())
    assert during >= 6  # 64 writes of 0.3 ms: a turn for the rest of the loop every 8 writes (~2.4 ms); was 1
