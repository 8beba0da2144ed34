"""A Redis that hangs (paused with SIGSTOP: connections are accepted, nothing is answered) must not stall the hot
path for the client's 5 s socket timeout: one short deadline opens the node's breaker, then chat, login and room
joins use the node's own limiter and presence at once; when Redis answers again (SIGCONT) the breaker closes and
cross-node behaviour resumes. The redis-server here is this test's own process; only it is signalled."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import time
from asyncio.subprocess import PIPE
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx
import redis.asyncio as aioredis

from hub.keys import RATE_LIMIT
from tests.support.api import auth, create_stream, register
from tests.support.live import live_clients
from tests.support.nodes import Node, hub_nodes
from tests.support.servers import redis_server
from tests.support.waiting import until

T = TypeVar("T")
QUICK_S = 2.0  # generous (busy CI machines): the deadline is HUB_REDIS_CALL_TIMEOUT_S, 0.5 s; a hung call took 5 s


async def timed(call: Callable[[], Awaitable[T]]) -> tuple[T, float]:
    start = time.monotonic()
    result = await call()
    return result, time.monotonic() - start


async def breaker_open(node: Node) -> float:
    text = (await node.http.get("/metrics")).text
    line = next(ln for ln in text.splitlines() if ln.startswith("hub_redis_breaker_open "))
    return float(line.split()[1])


async def test_a_hung_redis_costs_one_short_deadline_then_nodes_fall_back_and_resume_when_it_answers(
    db_name: str, mongo_client: Any
) -> None:
    with redis_server() as (url, proc):
        overrides: dict[str, Any] = {"redis_probe_interval_s": 0.3, "chat_burst": 3, "chat_per_second": 0.01}
        async with (
            hub_nodes(2, db_name, mongo_client, url, **overrides) as (n1, n2),
            live_clients() as open_client,
        ):
            owner = await register(n1.http, "Owner")
            viewer = await register(n2.http, "Viewer")
            stream = await create_stream(n1.http, owner)
            sid = stream["id"]
            a = await open_client(n1.url, owner["access_token"])
            b = await open_client(n2.url, viewer["access_token"])
            await a.ok("stream:join", {"stream_id": sid})
            await b.ok("stream:join", {"stream_id": sid})
            await a.ok("chat:send", {"stream_id": sid, "text": "before"})
            await b.wait_for(lambda: "before" in b.chat_texts())
            assert await until(lambda: _both_closed(n1, n2), 10.0), "the breakers did not close"

            os.kill(proc.pid, signal.SIGSTOP)
            try:
                login = {"login": viewer["email"], "password": viewer["password"]}
                r, took = await timed(lambda: n2.http.post("/api/v1/auth/login", json=login))
                assert r.status_code == 200, r.text
                assert took < QUICK_S, f"login took {took:.2f} s while Redis hung"

                ack, took = await timed(lambda: a.call("chat:send", {"stream_id": sid, "text": "during"}, timeout=10))
                assert ack["ok"] is True, ack
                assert took < QUICK_S, f"chat:send took {took:.2f} s while Redis hung"
                # Limits still hold while Redis is away, counted by the node in a bucket of its own (burst 3).
                acks = [await a.call("chat:send", {"stream_id": sid, "text": f"d{i}"}, timeout=10) for i in range(4)]
                assert not acks[-1]["ok"] and acks[-1]["error"]["code"] == "rate_limited"

                guest = await open_client(n2.url)
                _, took = await timed(lambda: guest.ok("stream:join", {"stream_id": sid}))
                assert took < QUICK_S, f"stream:join took {took:.2f} s while Redis hung"
                assert await breaker_open(n1) == 1.0 and await breaker_open(n2) == 1.0
            finally:
                os.kill(proc.pid, signal.SIGCONT)

            assert await until(lambda: _both_closed(n1, n2), 10.0), "the breakers did not close"
            # Shared again: the guest who joined on node 2 during the pause is counted on node 1 too ...
            await a.wait_event("viewers:count", where=lambda d: d["count"] == 3)
            # ... chat crosses nodes, and the rate limit is the shared one in Redis again.
            client = aioredis.Redis.from_url(url)
            try:
                await client.delete(RATE_LIMIT + f"chat:{viewer['user']['id']}")
                await b.ok("chat:send", {"stream_id": sid, "text": "after"})
                await a.wait_for(lambda: "after" in a.chat_texts())
                assert await client.exists(RATE_LIMIT + f"chat:{viewer['user']['id']}") == 1
            finally:
                await client.aclose()
            r = await n1.http.get("/readyz")
            assert r.status_code == 200
            # the breaker's families, populated by the outage, pass Prometheus's linter
            metrics = (await n1.http.get("/metrics")).text
            assert _value(metrics, "hub_redis_breaker_trips_total") >= 1
            assert 'hub_redis_call_failures_total{reason="timeout"}' in metrics
            assert _value(metrics, "hub_redis_breaker_short_circuited_total") > 0  # answered without waiting for Redis
            promtool = shutil.which("promtool")
            assert promtool is not None, "promtool is not installed (Debian's prometheus; ./scripts/test installs it)"
            lint = await asyncio.create_subprocess_exec(
                promtool, "check", "metrics", stdin=PIPE, stdout=PIPE, stderr=subprocess.STDOUT
            )
            out, _ = await asyncio.wait_for(lint.communicate(metrics.encode()), 30)
            assert lint.returncode == 0, out.decode()


def _value(metrics: str, name: str) -> float:
    return float(next(ln for ln in metrics.splitlines() if ln.startswith(name + " ")).split()[1])


async def _both_closed(*nodes: Node) -> bool:
    return all([await breaker_open(n) == 0.0 for n in nodes])


async def test_a_node_with_a_hung_redis_reports_unready_at_once_and_still_opens_new_rooms(
    db_name: str, mongo_client: Any
) -> None:
    with redis_server() as (url, proc):
        async with (
            hub_nodes(1, db_name, mongo_client, url, redis_probe_interval_s=0.3) as (n1,),
            live_clients() as open_client,
        ):
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                r, took = await timed(lambda: n1.http.get("/readyz"))
                assert r.status_code == 503 and took < QUICK_S
                owner = await register(n1.http, "Owner")
                stream = await create_stream(n1.http, owner)
                sid = stream["id"]
                # a room nobody on this node was in yet: its Redis channel cannot be subscribed now
                a, took = await timed(lambda: open_client(n1.url, owner["access_token"]))
                assert took < QUICK_S, f"connecting took {took:.2f} s while Redis hung"
                join, took = await timed(lambda: a.ok("stream:join", {"stream_id": sid}))
                assert took < QUICK_S, f"joining a new room took {took:.2f} s while Redis hung"
                assert join["leaderboard"] is None and join["viewers"] == 1
                ack, took = await timed(lambda: a.call("chat:send", {"stream_id": sid, "text": "hi"}, timeout=10))
                assert ack["ok"] is True and took < QUICK_S
                r, took = await timed(lambda: n1.http.get(f"/api/v1/streams/{sid}/viewers", headers=auth(owner)))
                assert r.status_code == 200 and took < QUICK_S
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            assert await until(lambda: _ready(n1.http), 10.0), "the node did not become ready"


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200
