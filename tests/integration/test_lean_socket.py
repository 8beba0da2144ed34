"""The leaner Engine.IO socket (signaling/lean_socket.py): the same protocol with two tasks per idle connection and a
bound on memory per idle connection, measured on a real node."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import socketio

from hub.serve_options import WEBSOCKET_OPTIONS, LeanWSProtocol
from signaling.lean_socket import LeanEngineServer, LeanEvent, LeanQueue, LeanSocket
from tests.support.servers import serve_asgi

ROOT = Path(__file__).resolve().parents[2]


async def test_the_lean_queue_is_fifo_wakes_a_waiting_getter_and_joins_when_every_item_is_done() -> None:
    q = LeanQueue()
    getter = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("a")
    await q.put("b")
    assert await asyncio.wait_for(getter, 1) == "a"
    assert q.qsize() == 1 and not q.empty()
    assert q.get_nowait() == "b"
    with pytest.raises(asyncio.QueueEmpty):
        q.get_nowait()
    joined = asyncio.create_task(q.join())
    await asyncio.sleep(0)
    q.task_done()
    await asyncio.sleep(0)
    assert not joined.done()  # one of the two items is not done yet
    q.task_done()
    await asyncio.wait_for(joined, 1)
    with pytest.raises(ValueError):
        q.task_done()


async def test_a_lean_queue_getter_cancelled_after_being_woken_leaves_the_item_to_the_next_getter() -> None:
    q = LeanQueue()
    first = asyncio.create_task(q.get())
    second = asyncio.create_task(q.get())
    await asyncio.sleep(0)
    q.put_nowait("x")  # wakes `first`...
    first.cancel()  # ...which is cancelled before it runs
    assert await asyncio.wait_for(second, 1) == "x"


async def test_a_lean_event_wakes_every_waiter_when_set_and_waits_again_after_clear() -> None:
    e = LeanEvent()
    assert not e.is_set()
    waiters = [asyncio.create_task(e.wait()) for _ in range(3)]
    await asyncio.sleep(0)
    assert not any(w.done() for w in waiters)
    e.set()
    assert await asyncio.wait_for(asyncio.gather(*waiters), 1) == [True, True, True]
    assert await e.wait() is True  # set: returns at once
    e.clear()
    late = asyncio.create_task(e.wait())
    cancelled = asyncio.create_task(e.wait())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.sleep(0)
    assert not late.done()
    e.set()
    assert await asyncio.wait_for(late, 1) is True


class _Server(socketio.AsyncServer):  # type: ignore[misc]
    def _engineio_server_class(self) -> type[LeanEngineServer]:
        return LeanEngineServer


async def test_a_lean_socket_keeps_a_client_that_answers_pings_and_drops_one_that_does_not() -> None:
    sio = _Server(async_mode="asgi", ping_interval=0.3, ping_timeout=0.5)
    gone: list[str] = []

    @sio.event  # type: ignore[untyped-decorator]
    async def disconnect(sid: str, reason: Any = None) -> None:
        gone.append(sid)

    @sio.event  # type: ignore[untyped-decorator]
    async def echo(sid: str, data: Any) -> Any:
        return data

    async with serve_asgi(socketio.ASGIApp(sio)) as url:
        client = socketio.AsyncClient()
        await client.connect(url, transports=["websocket"])
        try:
            eio_socket = next(iter(sio.eio.sockets.values()))
            assert type(eio_socket) is LeanSocket
            # `hub serve`'s uvicorn WebSocket (served so here too): its receive queue and "writable" event are lean
            assert WEBSOCKET_OPTIONS["ws"] is LeanWSProtocol
            wire = eio_socket.queue.wire
            assert isinstance(wire, LeanWSProtocol)
            assert isinstance(wire.queue, LeanQueue) and isinstance(wire.writable, LeanEvent)
            await asyncio.sleep(1.5)  # several ping intervals: the client answers each ping
            assert client.connected and not gone
            assert await client.call("echo", {"n": 1}, timeout=5) == {"n": 1}
        finally:
            await client.disconnect()
        async with asyncio.timeout(5):
            while len(gone) < 1:
                await asyncio.sleep(0.05)

        # A raw client that connects and then never answers a ping is closed by the server.
        async with aiohttp.ClientSession() as session:
            ws = await session.ws_connect(url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket")
            await ws.receive()  # the Engine.IO open packet
            await ws.send_str("40")
            async with asyncio.timeout(5):  # pings arrive, unanswered; then the server closes the WebSocket
                while True:
                    msg = await ws.receive()
                    if msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                        break
            await ws.close()
        assert len(gone) == 2
        assert not sio.eio.sockets


@pytest.mark.slow
def test_an_idle_connection_holds_two_tasks_and_at_most_30_kb_of_python_objects() -> None:
    """``scripts/bench_conn_memory.py`` on a real node with 200 idle viewers, served as `hub serve` serves (tracemalloc;
    python-engineio's own socket measured ~40 KB and five tasks per connection, the lean one ~29 KB and two with
    uvicorn's wsproto WebSocket, ~26 KB with its queue and event lean too)."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_conn_memory.py"), "--clients", "200"],
        capture_output=True,
        text=True,
        timeout=240,
        check=True,
    ).stdout
    result = json.loads(out[out.index("{") :])
    assert result["sockets"] == 200
    assert sum(result["tasks_per_connection"].values()) <= 2.05, result["tasks_per_connection"]
    assert result["traced_kb_per_connection"] <= 30, result
