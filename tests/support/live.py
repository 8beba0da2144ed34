"""Socket.IO test clients for the ``/live`` namespace: connect, call with an ack, and wait for pushed events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import socketio

NS = "/live"


class LiveClient:
    def __init__(self, serializer: str = "default") -> None:
        self.sio = socketio.AsyncClient(reconnection=False, serializer=serializer)
        self.events: list[tuple[str, Any]] = []
        self._changed = asyncio.Event()

        async def catch_all(event: str, *args: Any) -> None:
            data = args[0] if len(args) == 1 else list(args)
            self.events.append((event, data))
            if event == "room:batch":  # one packet per tick: its events follow it here, in order, as if sent alone
                self.events.extend((x["event"], x["data"]) for x in data["events"])
            self._changed.set()

        self.sio.on("*", catch_all, namespace=NS)

    async def connect(
        self, base_url: str, token: str | None = None, path: str = "socket.io", auth: dict[str, Any] | None = None
    ) -> None:
        """``auth`` replaces the token's ``{token}`` (e.g. an OBS overlay's ``{overlay: key}``)."""
        await self.sio.connect(
            base_url,
            namespaces=[NS],
            auth=auth if auth is not None else ({"token": token} if token else None),
            transports=["websocket"],
            socketio_path=path,
            wait_timeout=5,
        )

    async def call(self, event: str, data: Any = None, timeout: float = 5) -> Any:
        return await self.sio.call(event, data, namespace=NS, timeout=timeout)

    async def ok(self, event: str, data: Any = None) -> dict[str, Any]:
        ack = await self.call(event, data)
        assert ack["ok"] is True, ack
        return dict(ack)

    async def error(self, event: str, data: Any = None) -> dict[str, Any]:
        ack = await self.call(event, data)
        assert ack["ok"] is False, ack
        return dict(ack["error"])

    def received(self, event: str) -> list[Any]:
        return [d for e, d in self.events if e == event]

    def chat_texts(self) -> list[str]:
        """Every chat message received, in order, whether sent alone or in a ``room:batch``."""
        return [d["text"] for e, d in self.events if e == "chat:message"]

    async def wait_for(self, predicate: Callable[[], Any], timeout: float = 5.0) -> Any:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise AssertionError(f"timed out; events so far: {self.events[-10:]}")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))

    async def wait_event(self, event: str, timeout: float = 5.0, where: Callable[[Any], bool] | None = None) -> Any:
        def find() -> Any:
            for e, d in self.events:
                if e == event and (where is None or where(d)):
                    return d if d is not None else True
            return None

        return await self.wait_for(find, timeout)

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.sio.disconnect()


@contextlib.asynccontextmanager
async def live_clients() -> AsyncIterator[Callable[..., Any]]:
    """Yields ``open(base_url, token=None, path=...)``; closes every client at the end."""
    made: list[LiveClient] = []

    async def open_client(
        base_url: str,
        token: str | None = None,
        path: str = "socket.io",
        serializer: str = "default",
        auth: dict[str, Any] | None = None,
    ) -> LiveClient:
        c = LiveClient(serializer)
        await c.connect(base_url, token, path, auth)
        made.append(c)
        return c

    try:
        yield open_client
    finally:
        for c in made:
            await c.close()
