"""How every node is served by uvicorn (a module of its own: tests and tools import it without the hub)."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.protocols.websockets.wsproto_impl import WSProtocol

from signaling.lean_socket import LeanEvent, LeanQueue


class LeanWSProtocol(WSProtocol):
    """uvicorn's wsproto WebSocket with its receive queue and its "writable" event lean (signaling/lean_socket.py):
    an ``asyncio.Queue`` holds three deques and an ``asyncio.Event`` one, ~3 KB per idle connection in all."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()


class LeanSansIOProtocol(WebSocketsSansIOProtocol):
    """The same for uvicorn's websockets-sansio WebSocket."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = LeanQueue()  # type: ignore[assignment]
        self.writable = LeanEvent()  # type: ignore[assignment]
        self.writable.set()


#: ``--ws`` names the benchmarks accept: uvicorn's own implementations and the lean ones above.
WS_IMPLEMENTATIONS: dict[str, Any] = {
    "lean-wsproto": LeanWSProtocol,
    "lean-websockets-sansio": LeanSansIOProtocol,
    "wsproto": "wsproto",
    "websockets-sansio": "websockets-sansio",
}
DEFAULT_WS = "lean-wsproto"

#: uvicorn's WebSocket settings for every node (``hub serve``, ``hub cluster``, the tests' and benchmarks' nodes):
#: - no uvicorn keepalive pings: Engine.IO pings every client already; uvicorn's would add a timer per connection;
#: - no per-message compression: with it uvicorn compresses every frame for every recipient separately and keeps a
#:   compressor and a decompressor per connection, and a room tick could not be written to the wire as one frame
#:   built for everyone (signaling/lean_socket.py). Engine.IO packets are small; browsers offer it, we decline.
#: See docs/BENCHMARKS.md "Chat" for the measurements.
WEBSOCKET_OPTIONS: dict[str, Any] = {
    "ws": WS_IMPLEMENTATIONS[DEFAULT_WS],
    "ws_ping_interval": None,
    "ws_ping_timeout": None,
    "ws_per_message_deflate": False,
}
