"""A leaner Engine.IO socket: the same protocol and behaviour as python-engineio's ``AsyncSocket``, less memory per
idle connection.

Measured per idle WebSocket connection (``scripts/bench_conn_memory.py``, tracemalloc), python-engineio 4.x keeps
five asyncio tasks (the ASGI handler, the writer, a ``wait_for`` task around each read, another around the writer's
queue read, and a ping task sleeping ``ping_interval``), an ``asyncio.Queue`` (four deques of 760 bytes each, empty),
and the request's ``wsgi.input`` reader, an instance of a class that the ASGI driver defines anew for every request
(~2.5 KB). Here:

- reads and the writer's wait happen in their own tasks with no deadline (python-engineio wraps each in a
  ``wait_for`` task with a timer): the server's service task already closes a socket whose client stops answering
  pings, and that close ends both waits;
- the next ping is a ``call_later`` timer handle, not a task;
- the send queue is ``LeanQueue``: a list and futures created only while someone waits (the ``asyncio.Queue``
  methods Engine.IO and the fan-out use: ``put``/``put_nowait``/``get``/``get_nowait``/``task_done``/``join``/
  ``qsize``/``empty``);
- the connect request's body reader is dropped once the socket is connected (a WebSocket never reads it; polling
  POSTs bring their own).

Two tasks per connection remain: the ASGI handler (reading) and the writer.

Writing straight to the wire (``LeanSocket.write_now``): the room fan-out sends one packet to thousands of sockets
per tick. Through Engine.IO each recipient costs a queue put, a wake-up and a step of its writer task, the packet's
encoding and uvicorn's ASGI send (a frame object, its serialisation). When the socket is idle — nothing queued, its
writer not in the middle of a send, uvicorn's transport not paused and its buffer empty, no close sent, no
per-message compression negotiated — the fan-out instead writes a WebSocket frame built once for every recipient
straight to uvicorn's transport (the same bytes uvicorn would write: a server frame is never masked). Anything else
(a socket that is behind, polling, a socket on another ASGI server) goes through the queue as before, so the order of
a socket's packets is kept: a direct write only happens when nothing is waiting ahead of it.
"""

from __future__ import annotations

import asyncio
import struct
import time
from typing import Any

import engineio
from engineio import async_socket, exceptions, packet


class LeanQueue:
    """An unbounded FIFO with ``asyncio.Queue``'s interface (the part Engine.IO uses), allocating waiters lazily."""

    __slots__ = ("_getters", "_items", "_joiners", "_unfinished", "wire", "writing")

    def __init__(self) -> None:
        self._items: list[Any] = []
        self._getters: list[asyncio.Future[None]] | None = None
        self._joiners: list[asyncio.Future[None]] | None = None
        self._unfinished = 0
        # The socket's state for ``LeanSocket.write_now``, kept here (slots) rather than as two more entries in every
        # socket's instance dict: the uvicorn protocol frames may be written to, and whether the writer task is
        # between taking packets from this queue and having written them.
        self.wire: Any = None
        self.writing = False

    def qsize(self) -> int:
        return len(self._items)

    def empty(self) -> bool:
        return not self._items

    def put_nowait(self, item: Any) -> None:
        self._items.append(item)
        self._unfinished += 1
        getters = self._getters
        if getters:
            for g in getters:
                if not g.done():
                    g.set_result(None)
                    break

    async def put(self, item: Any) -> None:
        self.put_nowait(item)

    def get_nowait(self) -> Any:
        if not self._items:
            raise asyncio.QueueEmpty
        return self._items.pop(0)

    async def get(self) -> Any:
        while not self._items:
            waiter = asyncio.get_running_loop().create_future()
            if self._getters is None:
                self._getters = []
            self._getters.append(waiter)
            try:
                await waiter
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and self._items:
                    self._wake_next_getter()  # the item this waiter was woken for goes to the next one
                raise
            finally:
                getters = self._getters
                if getters is not None:
                    getters.remove(waiter)
                    if not getters:
                        self._getters = None
        return self._items.pop(0)

    def _wake_next_getter(self) -> None:
        for g in self._getters or ():
            if not g.done():
                g.set_result(None)
                return

    def task_done(self) -> None:
        if self._unfinished <= 0:
            raise ValueError("task_done() called too many times")
        self._unfinished -= 1
        if self._unfinished == 0 and self._joiners is not None:
            joiners, self._joiners = self._joiners, None
            for j in joiners:
                if not j.done():
                    j.set_result(None)

    async def join(self) -> None:
        if self._unfinished == 0:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._joiners is None:
            self._joiners = []
        self._joiners.append(waiter)
        await waiter


def ws_frame(payload: str | bytes) -> bytes:
    """One unfragmented, unmasked (server-to-client) WebSocket frame holding ``payload`` (RFC 6455 5.2): a text
    frame for a ``str``, a binary frame for ``bytes``."""
    if isinstance(payload, str):
        opcode, data = 0x81, payload.encode()
    else:
        opcode, data = 0x82, payload
    n = len(data)
    if n < 126:
        return bytes((opcode, n)) + data
    if n < 65536:
        return struct.pack("!BBH", opcode, 126, n) + data
    return struct.pack("!BBQ", opcode, 127, n) + data


#: uvicorn's WebSocket protocols whose state ``write_now`` knows how to read (websockets-sansio, wsproto).
_WIRE_PROTOCOLS = ("WebSocketsSansIOProtocol", "WSProtocol")


def _wire_of(ws: Any) -> Any:
    """The uvicorn WebSocket protocol behind python-engineio's ASGI ``WebSocket`` wrapper, when frames may be written
    to its transport directly: a known implementation serving without per-message compression (with it, a frame
    depends on each connection's compressor). None otherwise."""
    proto = getattr(getattr(ws, "asgi_send", None), "__self__", None)
    known = any(c.__name__ in _WIRE_PROTOCOLS for c in type(proto).__mro__)
    if not known or getattr(proto, "transport", None) is None:
        return None
    if getattr(getattr(proto, "config", None), "ws_per_message_deflate", True):
        return None  # compression may have been negotiated (whether it was is the implementation's private state)
    return proto


class LeanEvent:
    """``asyncio.Event``'s interface (``set``/``clear``/``is_set``/``wait``) with the waiters' list made only while
    someone waits (``asyncio.Event`` allocates a deque per instance; uvicorn keeps one per WebSocket)."""

    __slots__ = ("_value", "_waiters")

    def __init__(self) -> None:
        self._value = False
        self._waiters: list[asyncio.Future[bool]] | None = None

    def is_set(self) -> bool:
        return self._value

    def set(self) -> None:
        if not self._value:
            self._value = True
            waiters, self._waiters = self._waiters, None
            for w in waiters or ():
                if not w.done():
                    w.set_result(True)

    def clear(self) -> None:
        self._value = False

    async def wait(self) -> bool:
        if self._value:
            return True
        waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
            return True
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class LeanSocket(async_socket.AsyncSocket):  # type: ignore[misc]
    """``AsyncSocket`` with the waits done in place and the ping on a timer (see the module's docstring)."""

    last_ping: float | None
    connected: bool
    queue: LeanQueue

    def write_now(self, frames: list[bytes]) -> bool:
        """Write these WebSocket frames to the client now if nothing would be overtaken (see the module's
        docstring); False: nothing was written, queue the packets instead."""
        queue = self.queue
        wire = queue.wire
        if wire is None or queue.writing or queue.qsize() or self.closed or wire.close_sent:
            return False
        transport = wire.transport
        if transport.is_closing() or transport.get_write_buffer_size() or not wire.writable.is_set():
            return False
        for frame in frames:
            transport.write(frame)
        return True

    async def send(self, pkt: Any) -> None:
        """Send a packet to the client (as ``AsyncSocket.send``). A message (an ack, an event to this socket alone)
        is written straight to the wire when the socket is idle, like a room tick (``write_now``): its writer task
        would otherwise need a loop iteration of its own to pick it up, and under a big room's tick each iteration
        waits for a slice of that tick being written. Anything ahead of it in the queue keeps it there."""
        if not await self.check_ping_timeout():
            return
        direct = pkt.packet_type == packet.MESSAGE and self.queue.wire is not None
        if direct and self.write_now([ws_frame(pkt.encode())]):
            return
        await self.queue.put(pkt)

    async def poll(self) -> list[Any]:
        """Wait for packets to send to the client (as ``AsyncSocket.poll``, without a task around the wait)."""
        try:
            async with asyncio.timeout(self.server.ping_interval + self.server.ping_timeout):
                first = await self.queue.get()
            self.queue.task_done()
        except (TimeoutError, asyncio.CancelledError):
            raise exceptions.QueueEmpty() from None
        if first is None:
            return []
        packets = [first]
        while True:
            try:
                pkt = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)  # leave the end marker for the next poll
                break
            packets.append(pkt)
        return packets

    async def _next_packets(self) -> list[Any]:
        """The WebSocket writer's wait: like ``poll`` with no deadline of its own. A client that stops answering
        pings is closed by the server's service task (``check_ping_timeout``), and ``close`` ends this wait."""
        first = await self.queue.get()
        self.queue.task_done()
        if first is None:
            return []
        packets = [first]
        while True:
            try:
                pkt = self.queue.get_nowait()
            except asyncio.QueueEmpty:
                break
            self.queue.task_done()
            if pkt is None:
                self.queue.put_nowait(None)
                break
            packets.append(pkt)
        return packets

    async def close(self, wait: bool = True, abort: bool = False, reason: Any = None) -> None:
        was_closed = self.closed
        await super().close(wait=wait, abort=abort, reason=reason)
        if self.closed and not was_closed:
            # End the writer's wait: a close for a missed ping queues no CLOSE packet (AsyncSocket.send refuses on
            # a timed-out socket), and this writer has no deadline of its own.
            self.queue.put_nowait(None)

    def schedule_ping(self) -> None:
        # Only after the previous ping was answered (as AsyncSocket); a timer handle instead of a sleeping task.
        if self.last_ping:
            self.last_ping = None
            asyncio.get_running_loop().call_later(self.server.ping_interval, self._ping_due)

    def _ping_due(self) -> None:
        if self.closing or self.closed:
            return
        self.last_ping = time.time()
        self.queue.put_nowait(packet.Packet(packet.PING))

    async def _websocket_handler(self, ws: Any) -> None:
        """Engine.IO over a WebSocket: the same steps as ``AsyncSocket._websocket_handler``, reads in this task."""
        limit = self.server.max_http_buffer_size

        async def read() -> Any:
            data = await ws.wait()
            if data and len(data) > limit:
                raise ValueError("packet is too large")
            return data

        if self.connected:  # an upgrade from polling: probe, then UPGRADE
            self.upgrading = True
            try:
                pkt = await read()
            except OSError:
                return
            probe = packet.Packet(encoded_packet=pkt)
            if probe.packet_type != packet.PING or probe.data != "probe":
                self.server.logger.info("%s: Failed websocket upgrade, no PING packet", self.sid)
                self.upgrading = False
                return
            await ws.send(packet.Packet(packet.PONG, data="probe").encode())
            await self.queue.put(packet.Packet(packet.NOOP))  # ends the pending poll
            try:
                pkt = await read()
            except OSError:
                self.upgrading = False
                return
            if packet.Packet(encoded_packet=pkt).packet_type != packet.UPGRADE:
                self.upgraded = False
                self.server.logger.info("%s: Failed websocket upgrade, expected UPGRADE packet", self.sid)
                self.upgrading = False
                return
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        async def writer() -> None:
            while True:
                packets = await self._next_packets()
                if not packets:
                    break  # the end marker: the connection is closing
                self.queue.writing = True
                try:
                    for p in packets:
                        await ws.send(p.encode())
                except Exception:
                    break
                finally:
                    self.queue.writing = False
            self.queue.wire = None
            await ws.close()

        writer_task = asyncio.ensure_future(writer())
        self.queue.wire = _wire_of(ws)
        self.server.logger.info("%s: Upgrade to websocket successful", self.sid)
        while True:
            try:
                p = await read()
            except asyncio.CancelledError:
                break
            except Exception:
                break
            if p is None:
                break  # closed by the client
            try:
                await self.receive(packet.Packet(encoded_packet=p))
            except exceptions.UnknownPacketError:
                pass
            except exceptions.SocketIsClosedError:
                self.server.logger.info("Receive error -- socket is closed")
                break
            except Exception:
                self.server.logger.exception("Unknown receive error")

        self.queue.wire = None
        await self.queue.put(None)  # the writer ends
        await asyncio.wait([writer_task])
        await self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)


class LeanEngineServer(engineio.AsyncServer):  # type: ignore[misc]
    """python-engineio's server with ``LeanQueue`` send queues and ``LeanSocket`` sockets."""

    def create_queue(self, *args: Any, **kwargs: Any) -> Any:
        return LeanQueue()

    async def _trigger_event(self, event: str, *args: Any, **kwargs: Any) -> Any:
        if event == "connect":
            sock = self.sockets.get(args[0])
            if sock is not None and type(sock) is async_socket.AsyncSocket:
                sock.__class__ = LeanSocket  # created by the stock server a moment ago; nothing has run on it yet
            environ = args[1] if len(args) > 1 else None
            result = await super()._trigger_event(event, *args, **kwargs)
            if isinstance(environ, dict):
                environ.pop("wsgi.input", None)  # the connect request's body reader (a class per request)
            return result
        return await super()._trigger_event(event, *args, **kwargs)
