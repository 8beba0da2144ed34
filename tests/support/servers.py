"""Real servers for tests: redis-server on a free loopback port, and the hub under uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import uvicorn

from hub.serve_options import WEBSOCKET_OPTIONS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start the installed ``redis-server`` on 127.0.0.1 with no persistence; yield its URL and process."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: run ./scripts/test, which installs it (apt-get install redis-server)"
        )
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="hub-redis-")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            workdir,
            "--protected-mode",
            "yes",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.02)
    else:
        proc.kill()
        raise RuntimeError("redis-server did not start")
    try:
        yield f"redis://127.0.0.1:{port}/0", proc
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


@contextlib.asynccontextmanager
async def serve_asgi(app: Any, port: int | None = None, **uvicorn_options: Any) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 inside the current event loop; yield its base URL. ``uvicorn_options``
    change ``hub serve``'s WebSocket settings (no per-message compression, no uvicorn pings), which tests get."""
    port = port or free_port()
    options = {**WEBSOCKET_OPTIONS, **uvicorn_options}
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 10
    while not server.started:
        if task.done():
            task.result()
        if time.monotonic() > deadline:
            raise RuntimeError("the hub did not start")
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
