"""Go-live notification benchmark: a streamer with many followers goes live; how long does going live take, and
how long until every follower's notification is written, sent in-app and pushed?

One process: a real ``Hub`` (embedded: in-process MongoDB stand-in, no Redis) under uvicorn, K followers online on
real Socket.IO clients, P followers with a Web Push subscription on a local push sink (127.0.0.1, answers 201; the
tests verify the VAPID signature and decrypt the payload, the sink only counts), the other followers offline and
without push. Measured:

- going live (``POST /streams/{id}/live`` through the HTTP edge): the median and max of 20 go-lives of streams whose
  owner has no followers before, the go-live of the streamer with N followers, and 20 more zero-follower go-lives
  while that fan-out runs (what other streamers see meanwhile);
- the fan-out: from the go-live until the job is done (every notification written, every in-app event emitted, every
  push answered), until the last online follower received ``notification:new``, and until the last push arrived.

    .venv/bin/python scripts/bench_notify.py --followers 100000 --online 100 --push 1000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import socketio  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from hub.app import create_app  # noqa: E402
from hub.settings import Settings  # noqa: E402
from hub.wiring import Hub  # noqa: E402
from tests.support.push_service import b64url  # noqa: E402
from tests.support.servers import serve_asgi  # noqa: E402


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


async def go_live(http: httpx.AsyncClient, token: str, stream_id: str) -> float:
    t0 = time.perf_counter()
    r = await http.post(f"/api/v1/streams/{stream_id}/live", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return (time.perf_counter() - t0) * 1000


async def register(http: httpx.AsyncClient, nick: str) -> dict[str, Any]:
    body = {"email": f"{nick}@bench.example", "password": "correct horse battery", "nickname": nick}
    r = await http.post("/api/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def new_stream(http: httpx.AsyncClient, token: str, title: str) -> str:
    r = await http.post("/api/v1/streams", json={"title": title}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def main(args: argparse.Namespace) -> None:
    env = {
        "HUB_JWT_SECRET": "bench-secret-" + "n" * 40,
        "HUB_BCRYPT_ROUNDS": "4",
        "HUB_REGISTER_BURST": "100000",
        "HUB_PUSH_ALLOW_LOOPBACK": "1",
        "HUB_NOTIFY_BATCH": str(args.batch),
        "HUB_ICE_SERVERS": "[]",
    }
    hub = Hub(Settings.from_env(env))
    pushed: list[float] = []

    async def sink(request: Request) -> Response:
        await request.body()
        pushed.append(time.perf_counter())
        return Response(status_code=201)

    push_app = Starlette(routes=[Route("/push/{token}", sink, methods=["POST"])])
    async with serve_asgi(push_app) as push_url, serve_asgi(create_app(hub)) as url:
        # No keep-alive: a connection idle while the stand-in blocks the loop may be closed just as it is reused.
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=url, timeout=60, limits=no_reuse) as http:
            streamer = await register(http, "streamer")
            others = [await register(http, f"other{i}") for i in range(40)]
            online = [await register(http, f"online{i}") for i in range(args.online)]
            pushers = [await register(http, f"pusher{i}") for i in range(args.push)]
            sid = streamer["user"]["id"]
            # Followers: the online and push ones are real accounts; the rest are follow documents only.
            follower_ids = [u["user"]["id"] for u in online + pushers]
            follower_ids += [f"f{i:07d}" for i in range(args.followers - len(follower_ids))]
            now = datetime.now(UTC)
            follows = hub.db["follows"]
            t0 = time.perf_counter()
            for i in range(0, len(follower_ids), 10_000):
                chunk = follower_ids[i : i + 10_000]
                await follows.insert_many(
                    [{"_id": f"{f}:{sid}", "follower": f, "followee": sid, "at": now} for f in chunk]
                )
            print(f"seeded {len(follower_ids)} follows in {time.perf_counter() - t0:.1f} s", flush=True)
            for i, u in enumerate(pushers):
                key = ec.generate_private_key(ec.SECP256R1()).public_key()
                point = key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
                body = {
                    "endpoint": f"{push_url}/push/{i}",
                    "keys": {"p256dh": b64url(point), "auth": b64url(os.urandom(16))},
                }
                r = await http.post(
                    "/api/v1/notifications/push/subscriptions",
                    json=body,
                    headers={"Authorization": f"Bearer {u['access_token']}"},
                )
                assert r.status_code == 201, r.text
            got: list[float] = []
            clients = []
            for u in online:
                c = socketio.AsyncClient(reconnection=False)

                async def on_note(data: Any) -> None:
                    got.append(time.perf_counter())

                c.on("notification:new", on_note, namespace="/live")
                await c.connect(url, namespaces=["/live"], auth={"token": u["access_token"]}, transports=["websocket"])
                clients.append(c)

            streams = [await new_stream(http, o["access_token"], "quiet") for o in others]
            big = await new_stream(http, streamer["access_token"], "the big one")
            before = [await go_live(http, o["access_token"], s) for o, s in zip(others[:20], streams[:20], strict=True)]
            print(f"load before: {load()}", flush=True)
            t_live = time.perf_counter()
            big_ms = await go_live(http, streamer["access_token"], big)
            during = []
            for o, s in zip(others[20:], streams[20:], strict=True):
                during.append(await go_live(http, o["access_token"], s))
                await asyncio.sleep(0.05)
            deadline = time.perf_counter() + args.timeout
            job: dict[str, Any] | None = None
            while time.perf_counter() < deadline:
                job = await hub.notification_store.get_job(f"live:{big}")
                if job and job["done"]:
                    break
                await asyncio.sleep(0.1)
            t_done = time.perf_counter()
            load_after = load()
            # A client the stand-in's blocking kept from its pings longer than the ping timeout was dropped: wait
            # a little for the others, then report how many were still there to hear it.
            settle = time.perf_counter() + 5
            while len(got) < args.online and time.perf_counter() < settle:
                await asyncio.sleep(0.05)
            for c in clients:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(c.disconnect(), 2)
        await hub.close()

    def ms(xs: list[float]) -> str:
        return f"median {statistics.median(xs):.1f} ms, max {max(xs):.1f} ms"

    assert job is not None
    print(f"go-live, zero followers, before: {ms(before)}")
    print(f"go-live, {args.followers} followers: {big_ms:.1f} ms")
    print(f"go-live, zero followers, during the fan-out: {ms(during)}")
    print(
        f"fan-out done: {t_done - t_live:.1f} s after the go-live (job done={job['done']}, "
        f"notified={job['notified']}, pushed={job['pushed']}, push_failed={job['push_failed']}); "
        f"{args.followers / (t_done - t_live):.0f} followers/s"
    )
    if got:
        print(f"in-app: {len(got)}/{args.online} online followers, last {max(got) - t_live:.2f} s after the go-live")
    if pushed:
        print(f"push: {len(pushed)}/{args.push} delivered, last {max(pushed) - t_live:.2f} s after the go-live")
    print(f"load average after: {load_after}; batch {args.batch}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--followers", type=int, default=100_000)
    p.add_argument("--online", type=int, default=100)
    p.add_argument("--push", type=int, default=1000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=600)
    import logging

    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(p.parse_args()))
