"""A whole hub served by uvicorn in a background thread with its own event loop, for synchronous
clients (schemathesis, subprocess-driven tools)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator

import uvicorn

from hub.app import create_app
from hub.serve_options import WEBSOCKET_OPTIONS
from hub.settings import Settings
from hub.wiring import Hub
from tests.support.servers import free_port


@contextlib.contextmanager
def hub_in_thread(settings: Settings) -> Iterator[str]:
    port = free_port()
    holder: dict[str, uvicorn.Server] = {}
    failure: list[BaseException] = []

    def run() -> None:
        async def main() -> None:
            hub = Hub(settings)
            config = uvicorn.Config(
                create_app(hub), host="127.0.0.1", port=port, log_level="warning", lifespan="on", **WEBSOCKET_OPTIONS
            )
            server = uvicorn.Server(config)
            holder["server"] = server
            await server.serve()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported to the test thread
            failure.append(exc)

    thread = threading.Thread(target=run, name="hub-under-test", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not (holder.get("server") and holder["server"].started):
        if failure:
            raise RuntimeError("the hub failed to start") from failure[0]
        if time.monotonic() > deadline:
            raise RuntimeError("the hub did not start in time")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        holder["server"].should_exit = True
        thread.join(15)
