"""Pieces the load benchmarks share: ports, /proc readings, and a raw Engine.IO/Socket.IO client cheap enough that
one load process can hold thousands of room members (it never parses frames)."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

NS = "/live"
TICK = os.sysconf("SC_CLK_TCK")
PING = b"\x81\x012"  # an unmasked server text frame holding the Engine.IO ping "2"


async def loop_lag(measuring: asyncio.Event, lags: list[float]) -> None:
    """How late a 10 ms timer fires while ``measuring`` is set (seconds): how long the loop was busy with other work
    before it got to the timer (a stall delays every ack and effect queued behind it)."""
    while True:
        await measuring.wait()
        t = time.monotonic()
        await asyncio.sleep(0.01)
        if measuring.is_set():
            lags.append(time.monotonic() - t - 0.01)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def ws_frame(text: str) -> bytes:
    """A masked client text frame (RFC 6455 5.2), payloads under 126 bytes."""
    payload = text.encode()
    assert len(payload) < 126
    mask = os.urandom(4)
    return bytes([0x81, 0x80 | len(payload)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawViewer(asyncio.Protocol):
    """Joins ``stream_id`` as a guest, then counts ``marker`` in the raw bytes (server frames are unmasked) and
    answers pings."""

    def __init__(
        self,
        host: str,
        port: int,
        stream_id: str,
        marker: bytes,
        joined: asyncio.Future[None],
        minus: bytes | None = None,
    ) -> None:
        self.host, self.port, self.stream_id, self.marker, self.joined = host, port, stream_id, marker, joined
        self.minus = minus  # counted and subtracted (e.g. a merged gift names its latest transfer twice)
        self.transport: Any = None
        self.state = "handshake"
        self.buf = b""
        self.tail = b""
        self.minus_tail = b""
        self.received = 0

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(
            (
                f"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                "Sec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        if self.state != "counting":
            self.buf += data
            if self.state == "handshake" and b"\r\n\r\n" in self.buf:
                self.state = "connecting"
                self.transport.write(ws_frame("40" + NS + ","))
            if self.state == "connecting" and (b"40" + NS.encode() + b",{") in self.buf:
                self.state = "joining"
                self.transport.write(ws_frame(f'42{NS},1["stream:join",{{"stream_id":"{self.stream_id}"}}]'))
            if self.state == "joining" and (b"43" + NS.encode() + b",1") in self.buf:
                self.state = "counting"
                self.buf = b""
                if not self.joined.done():
                    self.joined.set_result(None)
            return
        chunk = self.tail + data
        self.received += chunk.count(self.marker)
        if PING in chunk:
            self.transport.write(ws_frame("3"))
        self.tail = chunk[-(len(self.marker) - 1) :]
        if self.minus is not None:
            chunk = self.minus_tail + data
            self.received -= chunk.count(self.minus)
            self.minus_tail = chunk[-(len(self.minus) - 1) :]

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"closed before joining: {exc}"))


async def open_raw_viewer(base: str, stream_id: str, marker: bytes, minus: bytes | None = None) -> RawViewer:
    host, port = base.removeprefix("http://").split(":")
    loop = asyncio.get_running_loop()
    joined: asyncio.Future[None] = loop.create_future()
    _, proto = await loop.create_connection(
        lambda: RawViewer(host, int(port), stream_id, marker, joined, minus), host, int(port)
    )
    await asyncio.wait_for(joined, 30)
    return proto


async def eio_connect(session: Any, base: str, token: str | None, stream_id: str | None) -> Any:
    """An aiohttp WebSocket speaking Engine.IO 4 / Socket.IO 5 by hand, connected to ``/live`` and, with a
    ``stream_id``, joined to that stream's room (the join must succeed)."""
    ws = await session.ws_connect(f"{base.replace('http', 'ws')}/socket.io/?EIO=4&transport=websocket", compress=0)
    await ws.receive()  # "0{...}" the Engine.IO open packet
    await ws.send_str("40" + NS + "," + (json.dumps({"token": token}) if token else ""))
    while True:
        data = (await ws.receive(timeout=20)).data
        if data == "2":
            await ws.send_str("3")
        elif isinstance(data, str) and data.startswith("40" + NS):
            break
        elif isinstance(data, str) and data.startswith("44" + NS):
            raise RuntimeError("connection refused: " + data)
    if stream_id is None:
        return ws
    await ws.send_str(f'42{NS},1["stream:join",{{"stream_id":"{stream_id}"}}]')
    while True:
        data = (await ws.receive(timeout=20)).data
        if data == "2":
            await ws.send_str("3")
        elif isinstance(data, str) and data.startswith(f"43{NS},1"):
            if '"ok":true' not in data:
                raise RuntimeError("join failed: " + data[:200])
            return ws


async def seed_accounts_and_live_stream(hub: Any, stream_id: str, owner_id: str, user_ids: list[str]) -> None:
    """Users (with a session each, ``s-{id}``, for hand-issued tokens) and one live stream, written straight to the
    stores: benchmarks measure the live path, not registration's bcrypt."""
    old = datetime.now(UTC) - timedelta(days=365)
    for uid in [owner_id, *user_ids]:
        await hub.account_store.insert_user(
            {"_id": uid, "email": f"{uid}@bench.invalid", "nickname": uid[-12:], "role": "viewer", "created_at": old}
        )
        await hub.account_store.insert_session("s-" + uid, uid, old)
    await hub.stream_store.insert(
        {
            "_id": stream_id,
            "owner_id": owner_id,
            "title": "bench",
            "category": None,
            "tags": [],
            "status": "live",
            "stream_key": "sk_bench",
            "created_at": old,
            "started_at": old,
            "moderators": [],
            "stats": {},
        }
    )
