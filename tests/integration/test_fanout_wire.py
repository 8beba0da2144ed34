"""Room packets written straight to an idle socket's wire (signaling/lean_socket.py ``write_now``): one frame built
for every recipient, the Engine.IO queue only when something is ahead of it; on a real node with real clients."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
import msgpack  # type: ignore[import-untyped]
import pytest
from engineio import packet as eio_packet
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from hub.app import create_app
from hub.wiring import Hub
from signaling.lean_socket import LeanQueue, LeanSocket, ws_frame
from tests.conftest import make_settings
from tests.support.api import create_stream, register
from tests.support.live import live_clients
from tests.support.servers import serve_asgi
from tests.support.waiting import until

NS = "/live"


@pytest.fixture
async def hub_factory(db_name: str, mongo_client: Any) -> AsyncIterator[Any]:
    """``start(**uvicorn_options)`` -> (url, http, hub): one embedded node (no Redis), torn down at the end."""
    async with contextlib.AsyncExitStack() as stack:

        async def start(**uvicorn_options: Any) -> tuple[str, httpx.AsyncClient, Hub]:
            settings = make_settings(db_name, chat_burst=200, chat_per_second=200.0)
            hub = Hub(settings, mongo_client=mongo_client)
            url = await stack.enter_async_context(serve_asgi(create_app(hub), **uvicorn_options))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=url))
            return url, http, hub

        yield start
    await mongo_client.drop_database(db_name)


def _parse(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    parser = Frame.parse(reader.read_exact, mask=False)  # the websockets library's own frame parser
    try:
        next(parser)
    except StopIteration as done:
        frame: Frame = done.value
        return frame
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_a_room_frame_is_what_a_websocket_parser_reads_back_at_every_length_encoding(size: int) -> None:
    text = "x" * size
    frame = _parse(ws_frame(text))
    assert frame.opcode is Opcode.TEXT and frame.fin and frame.data == text.encode()
    binary = _parse(ws_frame(b"\x00" * size))
    assert binary.opcode is Opcode.BINARY and binary.data == b"\x00" * size


async def test_chat_reaches_json_and_msgpack_viewers_in_order_written_straight_to_their_wire(hub_factory: Any) -> None:
    url, http, hub = await hub_factory()
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    async with live_clients() as open_client:
        sender = await open_client(url, owner["access_token"])
        viewer = await open_client(url)
        mobile = await open_client(url, path="socket.io-msgpack", serializer="msgpack")
        for c in (sender, viewer, mobile):
            await c.ok("stream:join", {"stream_id": stream["id"]})
        texts = [f"m{i}" for i in range(40)]
        for t in texts:
            await sender.ok("chat:send", {"stream_id": stream["id"], "text": t})
        for c in (viewer, mobile):
            await c.wait_for(lambda c=c: len(c.chat_texts()) >= len(texts))
            assert c.chat_texts() == texts
    json_manager, msgpack_manager = hub.signaling.server.manager, hub.signaling.msgpack_server.manager
    assert json_manager.written_direct > 0 and msgpack_manager.written_direct > 0
    assert hub.signaling.fanout.written_direct == json_manager.written_direct + msgpack_manager.written_direct
    metrics = (await http.get("/metrics")).text
    assert f'hub_fanout_packets_total{{path="direct"}} {float(hub.signaling.fanout.written_direct)}' in metrics


async def test_a_node_that_compresses_frames_queues_room_packets_and_every_viewer_still_gets_everything(
    hub_factory: Any,
) -> None:
    """With per-message compression negotiated, every frame depends on the connection's compressor: no shared frame.
    `hub serve` declines compression (a browser offers it): the same client then gets plain frames, written direct."""
    for deflate in (True, False):
        url, http, hub = await hub_factory(ws_per_message_deflate=deflate)
        owner = await register(http, "Owner")
        stream = await create_stream(http, owner)
        async with aiohttp.ClientSession() as session:
            viewer = await _raw_viewer(session, url, stream["id"], "socket.io", compress=15)
            assert bool(viewer.compress) is deflate  # what was negotiated (uvicorn: 12 window bits)
            direct0 = hub.signaling.fanout.written_direct
            for i in range(10):  # what chat:send broadcasts once a message is stored (the viewer is alone in the room)
                await hub.signaling.fanout.chat(stream["id"], {"text": f"z{i}"})
            got: list[str] = []
            while len(got) < 10:
                for event, data in await _events(viewer, 1):
                    batch = data["events"] if event == "room:batch" else [{"event": event, "data": data}]
                    got.extend(e["data"]["text"] for e in batch if e["event"] == "chat:message")
            assert got == [f"z{i}" for i in range(10)]
            await viewer.close()
        direct = hub.signaling.fanout.written_direct - direct0
        assert (direct == 0) if deflate else (direct > 0)


async def _raw_viewer(session: aiohttp.ClientSession, url: str, stream_id: str, path: str, compress: int = 0) -> Any:
    ws = await session.ws_connect(f"{url.replace('http', 'ws')}/{path}/?EIO=4&transport=websocket", compress=compress)
    await ws.receive()  # the Engine.IO open packet
    if path == "socket.io":
        await ws.send_str("40" + NS + ",")
        while not str((await ws.receive(timeout=5)).data).startswith("40" + NS):
            pass
        await ws.send_str(f'42{NS},1["stream:join",{{"stream_id":"{stream_id}"}}]')
    else:  # python-socketio's msgpack packets: binary frames
        await ws.send_bytes(msgpack.packb({"type": 0, "nsp": NS}))
        while not isinstance(data := (await ws.receive(timeout=5)).data, bytes) or msgpack.unpackb(data)["type"]:
            pass
        join = {"type": 2, "nsp": NS, "id": 1, "data": ["stream:join", {"stream_id": stream_id}]}
        await ws.send_bytes(msgpack.packb(join))
    while True:
        msg = await ws.receive(timeout=5)
        data = msg.data
        if (isinstance(data, str) and data.startswith(f"43{NS},1")) or (
            isinstance(data, bytes) and msgpack.unpackb(data).get("type") == 3
        ):
            return ws


async def _events(ws: Any, n: int) -> list[Any]:
    """The next ``n`` Socket.IO events on a raw WebSocket (pings answered), as (event, data)."""
    out: list[Any] = []
    while len(out) < n:
        data = (await ws.receive(timeout=5)).data
        if data == "2":
            await ws.send_str("3")
        elif isinstance(data, str) and data.startswith(f"42{NS},"):
            out.append(tuple(json.loads(data[len(NS) + 3 :])))
        elif isinstance(data, bytes):
            decoded = msgpack.unpackb(data)
            if decoded.get("type") == 2:
                out.append(tuple(decoded["data"]))
    return out


@pytest.mark.parametrize("path", ["socket.io", "socket.io-msgpack"])
async def test_a_tick_for_a_socket_with_packets_waiting_is_queued_behind_them_and_the_next_goes_straight(
    hub_factory: Any, path: str
) -> None:
    url, http, hub = await hub_factory()
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    fanout = hub.signaling.fanout
    server = hub.signaling.server if path == "socket.io" else hub.signaling.msgpack_server
    async with aiohttp.ClientSession() as session:
        ws = await _raw_viewer(session, url, stream["id"], path)
        (sock,) = server.eio.sockets.values()
        assert isinstance(sock, LeanSocket)
        room = f"s:{stream['id']}"
        ahead = server.packet_class(2, namespace=NS, data=["ahead", {"n": 0}]).encode()
        direct0, queued0 = fanout.written_direct, fanout.queued
        # In one step (nothing else runs): a packet waits in the socket's queue, then the room's tick comes.
        sock.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, ahead))
        await server.manager.deliver(NS, room, "viewers:count", {"n": 1})
        assert (fanout.written_direct, fanout.queued) == (direct0, queued0 + 1)
        assert await _events(ws, 2) == [("ahead", {"n": 0}), ("viewers:count", {"n": 1})]
        # the writer sent both in the step that took them from the queue; once that step has ended (the client may
        # read both frames before the writer task runs again: under load it did) the socket is idle again
        assert await until(lambda: sock.write_now([]), 5), "the socket never became idle"
        await server.manager.deliver(NS, room, "viewers:count", {"n": 2})
        assert (fanout.written_direct, fanout.queued) == (direct0 + 1, queued0 + 1)
        assert await _events(ws, 1) == [("viewers:count", {"n": 2})]
        await ws.close()


@pytest.mark.parametrize("path", ["socket.io", "socket.io-msgpack"])
async def test_an_ack_to_an_idle_socket_goes_straight_to_its_wire_and_one_behind_waiting_packets_is_queued(
    hub_factory: Any, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Acks (and events to one socket) skip the writer task's loop iteration when nothing is ahead of them."""
    url, http, hub = await hub_factory()
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    server = hub.signaling.server if path == "socket.io" else hub.signaling.msgpack_server
    queued: list[Any] = []
    put = LeanQueue.put

    async def recording_put(self: LeanQueue, item: Any) -> None:
        queued.append(item)
        await put(self, item)

    monkeypatch.setattr(LeanQueue, "put", recording_put)
    async with aiohttp.ClientSession() as session:
        ws = await _raw_viewer(session, url, stream["id"], path)
        (sock,) = server.eio.sockets.values()
        queued.clear()
        if path == "socket.io":  # joining again is answered with an ack like the first time
            await ws.send_str(f'42{NS},2["stream:join",{{"stream_id":"{stream["id"]}"}}]')
            data = (await ws.receive(timeout=5)).data
            assert isinstance(data, str) and data.startswith(f"43{NS},2[") and '"ok":true' in data
        else:
            join = {"type": 2, "nsp": NS, "id": 2, "data": ["stream:join", {"stream_id": stream["id"]}]}
            await ws.send_bytes(msgpack.packb(join))
            ack = msgpack.unpackb((await ws.receive(timeout=5)).data)
            assert ack["type"] == 3 and ack["id"] == 2 and ack["data"][0]["ok"] is True
        assert [p for p in queued if p is not None and p.packet_type == eio_packet.MESSAGE] == []
        # In one step: a packet waits in the queue, then one more for this socket: it must not overtake.
        ahead = server.packet_class(2, namespace=NS, data=["ahead", {"n": 0}]).encode()
        behind = server.packet_class(2, namespace=NS, data=["behind", {"n": 1}]).encode()
        sock.queue.put_nowait(eio_packet.Packet(eio_packet.MESSAGE, ahead))
        await sock.send(eio_packet.Packet(eio_packet.MESSAGE, behind))
        assert len(queued) == 1
        assert await _events(ws, 2) == [("ahead", {"n": 0}), ("behind", {"n": 1})]
        await ws.close()
