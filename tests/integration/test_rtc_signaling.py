"""``rtc:*`` over Socket.IO against the real SFU with aiortc peers: only the owner publishes, publishing goes live,
viewers subscribe, and a publisher who leaves ends the stream after the grace period (``stream:ended``)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import create_stream, register
from tests.support.live import live_clients
from tests.support.servers import serve_asgi
from tests.support.sfu_peers import Publisher, Viewer


@pytest.mark.slow
async def test_owner_publishes_viewer_subscribes_and_leaving_ends_the_stream(db_name: str, mongo_client: Any) -> None:
    hub = Hub(make_settings(db_name, sfu_reconnect_grace_s=0.5), mongo_client=mongo_client)
    publisher, viewer_peer = Publisher(audio=False), Viewer(audio=False)
    try:
        async with (
            serve_asgi(create_app(hub)) as url,
            httpx.AsyncClient(base_url=url) as http,
            live_clients() as open_client,
        ):
            owner = await register(http, "Owner")
            other = await register(http, "Other")
            stream = await create_stream(http, owner)
            sid = stream["id"]
            a = await open_client(url, owner["access_token"])
            intruder = await open_client(url, other["access_token"])
            guest = await open_client(url)
            await guest.ok("stream:join", {"stream_id": sid})

            offer = await publisher.offer()
            assert (await intruder.error("rtc:publish", {"stream_id": sid, "sdp": offer}))["code"] == "not_owner"
            guest_pub = await guest.error("rtc:publish", {"stream_id": sid, "sdp": offer})
            assert guest_pub["code"] == "unauthenticated"
            ack = await a.ok("rtc:publish", {"stream_id": sid, "sdp": offer})
            assert ack["sdp"].startswith("v=0") and ack["stream"]["status"] == "live"
            await publisher.accept(ack["sdp"])
            assert (await http.get(f"/api/v1/streams/{sid}")).json()["status"] == "live"

            sub = await guest.ok("rtc:subscribe", {"stream_id": sid, "sdp": await viewer_peer.offer()})
            await viewer_peer.accept(sub["sdp"])
            bad = await guest.error("rtc:subscribe", {"stream_id": sid, "sdp": ""})
            assert bad["code"] == "invalid_input"

            await a.close()  # the publisher's connection goes away; the grace period runs
            ended = await guest.wait_event("stream:ended", timeout=10)
            assert ended["stream_id"] == sid
            assert (await http.get(f"/api/v1/streams/{sid}")).json()["status"] == "ended"
    finally:
        await publisher.close()
        await viewer_peer.close()
        await asyncio.sleep(0)
