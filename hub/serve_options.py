"""How every node is served by uvicorn (a module of its own: tests and tools import it without the hub)."""

from __future__ import annotations

from typing import Any

#: uvicorn's WebSocket settings for every node (``hub serve``, ``hub cluster``, the tests' and benchmarks' nodes):
#: - no uvicorn keepalive pings: Engine.IO pings every client already; uvicorn's would add a timer per connection;
#: - no per-message compression: with it uvicorn compresses every frame for every recipient separately and keeps a
#:   compressor and a decompressor per connection, and a room tick could not be written to the wire as one frame
#:   built for everyone (signaling/lean_socket.py). Engine.IO packets are small; browsers offer it, we decline.
#: See docs/BENCHMARKS.md "Chat" for the measurements.
WEBSOCKET_OPTIONS: dict[str, Any] = {
    "ws": "websockets-sansio",
    "ws_ping_interval": None,
    "ws_ping_timeout": None,
    "ws_per_message_deflate": False,
}
