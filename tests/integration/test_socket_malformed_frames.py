"""Frames that do not decode (Engine.IO or Socket.IO level, JSON or msgpack server) cost one short log line, not a
traceback each, and a connection that keeps sending them is closed; the hub keeps serving everyone else."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import websockets

from hub.app import create_app
from hub.wiring import Hub
from tests.support.live import LiveClient
from tests.support.servers import serve_asgi


@pytest.fixture
async def served(hub: Hub) -> AsyncIterator[str]:
    async with serve_asgi(create_app(hub, own_hub=False)) as base:
        yield base


async def _open(base: str, path: str = "socket.io") -> websockets.ClientConnection:
    ws = await websockets.connect(base.replace("http://", "ws://") + f"/{path}/?EIO=4&transport=websocket")
    opened = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(opened, str) and opened.startswith("0{")
    return ws


async def _closed_within(ws: websockets.ClientConnection, seconds: float) -> bool:
    try:
        async with asyncio.timeout(seconds):
            while True:
                await ws.recv()
    except websockets.ConnectionClosed:
        return True
    except TimeoutError:
        return False


def _log_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    lines: list[str] = []
    for record in caplog.records:
        if record.levelno >= logging.WARNING:
            text = record.getMessage() + ("\n" + record.exc_text if record.exc_text else "")
            if record.exc_info:
                text += "\nTraceback"
            lines.extend(text.splitlines())
    return lines


@pytest.mark.parametrize(
    ("path", "frame"),
    [
        ("socket.io", "42/live,["),  # a Socket.IO event whose JSON is cut off
        ("socket.io", "4abcdefgh"),  # a Socket.IO packet of no known type
        ("socket.io", "9abcdefgh"),  # not an Engine.IO packet at all
        ("socket.io-msgpack", b"\xc1\x00\xff\x92\x01\x02\x03\x04\x05"),  # msgpack that does not decode
    ],
)
async def test_fifty_malformed_frames_log_a_few_short_lines_and_close_the_connection(
    served: str, caplog: pytest.LogCaptureFixture, path: str, frame: str | bytes
) -> None:
    assert len(frame) == 9
    ws = await _open(served, path)
    if path == "socket.io":
        await ws.send("40/live,")
        assert (await asyncio.wait_for(ws.recv(), 5)).startswith("40/live,")
    caplog.clear()
    caplog.set_level(logging.INFO)
    sent = 0
    try:
        for _ in range(50):
            await ws.send(frame)
            sent += 1
    except websockets.ConnectionClosed:
        pass
    assert await _closed_within(ws, 5), "the connection stayed open after 50 malformed frames"
    await asyncio.sleep(0.2)  # frames queued behind the last straw are handled (quietly)
    lines = _log_lines(caplog)
    assert 1 <= len(lines) <= 3, lines
    assert not any("Traceback" in line for line in lines), lines

    # Everyone else is still served.
    fresh = LiveClient()
    try:
        await fresh.connect(served)
        assert fresh.sio.connected
    finally:
        await fresh.close()


async def test_one_malformed_frame_does_not_cost_a_good_client_its_connection(
    served: str, caplog: pytest.LogCaptureFixture
) -> None:
    ws = await _open(served)
    await ws.send("40/live,")
    assert (await asyncio.wait_for(ws.recv(), 5)).startswith("40/live,")
    caplog.set_level(logging.INFO)
    await ws.send("42/live,[")
    await ws.send('42/live,1["stream:join",{"stream_id":"nope"}]')
    ack = await asyncio.wait_for(ws.recv(), 5)
    assert isinstance(ack, str) and ack.startswith("43/live,1[") and '"ok":false' in ack.replace(" ", "")
    await ws.close()
    assert len(_log_lines(caplog)) == 1
