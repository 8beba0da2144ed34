"""Redis going away and coming back: nodes keep their local rooms working, reconnect and resubscribe.

The real redis-server process is stopped and started again on the same port.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from signaling.store_redis import RedisRoomLink
from tests.support.api import create_stream, register
from tests.support.live import live_clients
from tests.support.nodes import hub_nodes
from tests.support.servers import free_port
from tests.support.waiting import until


@contextlib.contextmanager
def redis_on(port: int) -> Iterator[subprocess.Popen[bytes]]:
    binary = shutil.which("redis-server")
    assert binary is not None
    workdir = tempfile.mkdtemp(prefix="hub-redis-restart-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            break
        time.sleep(0.02)
    else:
        proc.kill()
        raise RuntimeError("redis-server did not start")
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(5)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.mark.slow
async def test_local_rooms_work_while_redis_is_down_and_nodes_resubscribe_when_it_returns(
    db_name: str, mongo_client: Any
) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    first = redis_on(port)
    first.__enter__()
    try:
        async with hub_nodes(2, db_name, mongo_client, url) as (n1, n2), live_clients() as open_client:
            owner = await register(n1.http, "Owner")
            viewer = await register(n1.http, "Viewer")
            stream = await create_stream(n1.http, owner)
            sid = stream["id"]
            a = await open_client(n1.url, owner["access_token"])  # node 1
            b = await open_client(n1.url, viewer["access_token"])  # node 1
            c = await open_client(n2.url, viewer["access_token"])  # node 2
            for client in (a, b, c):
                await client.ok("stream:join", {"stream_id": sid})
            await a.ok("chat:send", {"stream_id": sid, "text": "one"})
            await c.wait_for(lambda: c.chat_texts() == ["one"])

            first.__exit__(None, None, None)  # Redis goes away
            link1 = n1.hub.broadcaster.link
            assert link1 is not None
            await a.wait_for(lambda: not link1.connected, timeout=10)
            ack = await a.call("chat:send", {"stream_id": sid, "text": "two"})
            assert ack["ok"] is True, ack
            await b.wait_for(lambda: b.chat_texts() == ["one", "two"])  # same node: still delivered

            with redis_on(port):  # Redis comes back on the same port (empty)
                link2 = n2.hub.broadcaster.link
                assert link2 is not None
                await a.wait_for(lambda: link1.connected and link2.connected, timeout=15)
                assert link1.reconnects >= 1 and link2.reconnects >= 1
                deadline = asyncio.get_running_loop().time() + 10
                n = 0
                while "three" not in " ".join(c.chat_texts()):
                    # The first publish may race the resubscription; keep sending until one arrives (bounded).
                    assert asyncio.get_running_loop().time() < deadline, c.chat_texts()
                    n += 1
                    await a.ok("chat:send", {"stream_id": sid, "text": f"three {n}"})
                    await asyncio.sleep(0.2)
                await c.ok("chat:send", {"stream_id": sid, "text": "four"})
                await a.wait_for(lambda: "four" in a.chat_texts())
                metrics = (await n1.http.get("/metrics")).text
                assert "hub_fanout_redis_connected 1.0" in metrics
                reconnects = [ln for ln in metrics.splitlines() if ln.startswith("hub_fanout_redis_reconnects_total")]
                assert reconnects and float(reconnects[0].split()[-1]) >= 1
    finally:
        first.__exit__(None, None, None)


async def test_the_first_message_after_redis_restarts_reaches_the_other_nodes() -> None:
    """The publisher's pooled connection died with the old server: its first use fails once. That first message
    used to be dropped, so a chat line sent right after Redis came back reached only its own node."""
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    heard: list[bytes] = []

    async def hear(data: bytes) -> None:
        heard.append(data)

    sender_redis, receiver_redis = aioredis.Redis.from_url(url), aioredis.Redis.from_url(url)
    sender = RedisRoomLink(sender_redis, "node:a", hear)
    receiver = RedisRoomLink(receiver_redis, "node:b", hear)
    first = redis_on(port)
    first.__enter__()
    try:
        for link in (sender, receiver):
            link.start()
        await receiver.subscribe("room:x")
        assert await until(lambda: sender.connected and receiver.connected, 5)
        await asyncio.sleep(0.2)  # the receiver's SUBSCRIBE is on the wire
        sender.publish("room:x", b"before")
        assert await until(lambda: heard == [b"before"], 5)

        first.__exit__(None, None, None)
        assert await until(lambda: not receiver.connected, 10)
        with redis_on(port):
            assert await until(lambda: sender.connected and receiver.connected, 10)
            await asyncio.sleep(0.2)  # resubscribed
            sender.publish("room:x", b"after")
            assert await until(lambda: heard == [b"before", b"after"], 5), (heard, sender.dropped)
            assert sender.dropped == 0
    finally:
        for link in (sender, receiver):
            await link.close()
        for client in (sender_redis, receiver_redis):
            await client.aclose()
        first.__exit__(None, None, None)
