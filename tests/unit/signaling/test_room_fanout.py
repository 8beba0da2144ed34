"""RoomFanout without sockets: a recording manager and link stand in at our own seams."""

from __future__ import annotations

import asyncio
from typing import Any

import msgpack

from signaling.fanout import RoomFanout


class RecordingManager:
    def __init__(self) -> None:
        self.delivered: list[tuple[str, str, Any]] = []

    async def deliver(self, namespace: str, room: str, event: str, data: Any, skip: list[str] | None = None) -> Any:
        self.delivered.append((room, event, data))
        await asyncio.sleep(0.01)  # writing takes a while: more messages gather meanwhile
        return None


class RecordingLink:
    def __init__(self, node_channel: str, on_message: Any) -> None:
        self.node_channel = node_channel
        self.on_message = on_message
        self.subscribed: list[str] = []
        self.published: list[tuple[str, bytes]] = []
        self.connected = True

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
    assert links[0].subscribed == ["sio:r:s:1"]
    await fanout.room_closed("s:1")
    assert links[0].subscribed == ["sio:r:s:1"]
    await fanout.room_closed("s:1")
    assert links[0].subscribed == []
    await fanout.emit("1", "viewers:count", {"count": 1})  # no local members: nothing delivered, still published
    assert len(links[0].published) == 1


async def test_chat_is_batched_in_order_while_a_batch_is_in_flight() -> None:
    links: list[RecordingLink] = []
    fanout, manager = fanout_with(links)
    await fanout.room_opened("s:1")
    for i in range(50):
        await fanout.chat("1", {"text": str(i)})
        if i % 10 == 0:
            await asyncio.sleep(0.002)
    for _ in range(100):
        got = [m for _, e, d in manager.delivered for m in (d["messages"] if e == "chat:batch" else [d])]
        if len(got) == 50:
            break
        await asyncio.sleep(0.01)
    assert [m["text"] for m in got] == [str(i) for i in range(50)]
    assert len(manager.delivered) < 50  # batched
    assert {e for _, e, _ in manager.delivered} <= {"chat:message", "chat:batch"}
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


async def test_other_room_events_keep_their_place_between_chat_batches() -> None:
    links: list[RecordingLink] = []
    fanout, manager = fanout_with(links)
    await fanout.room_opened("s:1")
    await fanout.chat("1", {"text": "a"})
    await fanout.chat("1", {"text": "b"})
    await fanout.emit("1", "chat:deleted", {"message_id": "a"})
    await fanout.chat("1", {"text": "c"})
    for _ in range(100):
        if len(manager.delivered) == 3:
            break
        await asyncio.sleep(0.01)
    assert [(e, d) for _, e, d in manager.delivered] == [
        ("chat:batch", {"stream_id": "1", "messages": [{"text": "a"}, {"text": "b"}]}),
        ("chat:deleted", {"message_id": "a"}),
        ("chat:message", {"text": "c"}),
    ]
    await fanout.close()
