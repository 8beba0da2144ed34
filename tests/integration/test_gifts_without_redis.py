"""Money lives in MongoDB, not in Redis: when Redis goes away a node keeps taking gifts (rate limits per node, no
combo, no live leaderboard) and their effects still reach the viewers on that node."""

from __future__ import annotations

from typing import Any

import httpx

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.coins import give_coins, verify_at_rest
from tests.support.live import live_clients
from tests.support.servers import redis_server, serve_asgi


async def test_gifts_keep_working_when_redis_goes_away(db_name: str, mongo_client: Any) -> None:
    with redis_server() as (redis_url, redis_proc):
        hub = Hub(make_settings(db_name, redis_url=redis_url, gift_burst=100), mongo_client=mongo_client)
        async with (
            serve_asgi(create_app(hub)) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as http,
            live_clients() as open_client,
        ):
            owner = await register(http, "Owner")
            fan = await register(http, "Fan")
            stream = await create_stream(http, owner)
            await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(owner))
            await give_coins(http, hub, fan["user"]["id"], 20)
            viewer = await open_client(url, owner["access_token"])
            await viewer.ok("stream:join", {"stream_id": stream["id"]})
            sender = await open_client(url, fan["access_token"])
            body = {"stream_id": stream["id"], "gift_id": "rose", "count": 1}
            first = await sender.ok("gift:send", {**body, "idempotency_key": "a"})
            assert first["combo"] == 1
            redis_proc.terminate()
            redis_proc.wait(5)
            second = await sender.ok("gift:send", {**body, "idempotency_key": "b"})
            assert second["balance"] == 18 and second["combo"] == 1  # no combo state without Redis
            got = await viewer.wait_event("gift:received", where=lambda p: p["transfer_id"] == second["transfer_id"])
            assert got["gift"]["id"] == "rose"
            again = await sender.ok("gift:send", {**body, "idempotency_key": "b"})
            assert again == second
            report = await verify_at_rest(hub)
            assert report.ok, report.problems
    await mongo_client.drop_database(db_name)
