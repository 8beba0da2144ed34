"""Viewer slots hold connected viewers only: WHEP and ``rtc:subscribe`` sessions that never complete ICE cannot fill a
stream. They are capped per client address and per socket, and closed after HUB_SFU_PENDING_TIMEOUT_S."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.ids import StreamId
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import create_stream, register
from tests.support.live import live_clients
from tests.support.servers import serve_asgi
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

pytestmark = pytest.mark.slow

SDP = {"Content-Type": "application/sdp"}


class Live:
    def __init__(self, hub: Hub, url: str, stream: dict[str, Any], publisher: Publisher) -> None:
        self.hub, self.url, self.stream, self.publisher = hub, url, stream, publisher
        self.whep = f"/api/v1/whep/{stream['id']}"

    def client_from(self, address: str) -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=create_app(self.hub, own_hub=False), client=(address, 40000))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def live(db_name: str, mongo_client: Any) -> AsyncIterator[Live]:
    settings = make_settings(
        db_name, sfu_max_viewers_per_stream=2, sfu_max_pending_per_client=2, sfu_pending_timeout_s=3.0
    )
    hub = Hub(settings, mongo_client=mongo_client)
    publisher = Publisher()
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url) as http:
        owner = await register(http, "Caster")
        stream = await create_stream(http, owner)
        r = await http.post(
            f"/api/v1/whip/{stream['id']}",
            content=await publisher.offer(),
            headers={**SDP, "Authorization": f"Bearer {stream['stream_key']}"},
        )
        assert r.status_code == 201, r.text
        await publisher.accept(r.text)

        async def is_live() -> bool:
            return (await hub.streams.get(StreamId(stream["id"]))).status.value == "live"

        assert await until(is_live, 10)
        try:
            yield Live(hub, url, stream, publisher)
        finally:
            await publisher.close()
    await mongo_client.drop_database(db_name)


async def _watch(client: httpx.AsyncClient, whep: str, viewer: Viewer) -> httpx.Response:
    return await client.post(whep, content=await viewer.offer(), headers=SDP)


async def test_never_connecting_whep_sessions_cannot_fill_a_stream(live: Live) -> None:
    idle = [Viewer(audio=False) for _ in range(6)]  # offers whose answers are never applied: ICE never completes
    real = [Viewer(audio=False) for _ in range(3)]
    try:
        async with live.client_from("203.0.113.66") as abuser:
            codes = [(await _watch(abuser, live.whep, v)).status_code for v in idle]
            assert codes == [201, 201, 429, 429, 429, 429]
            r = await _watch(abuser, live.whep, Viewer(audio=False))
            assert r.json()["code"] == "too_many_pending_sessions" and int(r.headers["Retry-After"]) >= 1
        # Real viewers from elsewhere still get in, up to the stream's two connected viewers.
        for i, viewer in enumerate(real[:2]):
            async with live.client_from(f"198.51.100.{i + 1}") as c:
                r = await _watch(c, live.whep, viewer)
                assert r.status_code == 201, r.text
                await viewer.accept(r.text)

        async def watching() -> bool:
            return all(v.video is not None and v.video.count >= 5 for v in real[:2])

        assert await until(watching, 15)
        # Now the stream is full of connected viewers.
        async with live.client_from("198.51.100.9") as c:
            r = await _watch(c, live.whep, real[2])
            assert r.status_code == 503 and r.json()["code"] == "stream_full"
    finally:
        for v in idle + real:
            await v.close()


async def test_a_guest_socket_cannot_hold_viewer_slots_with_sessions_that_never_connect(live: Live) -> None:
    sid = live.stream["id"]
    idle = [Viewer(audio=False) for _ in range(8)]
    real = Viewer(audio=False)
    try:
        async with live_clients() as open_client:
            guest = await open_client(live.url)
            acks = [await guest.call("rtc:subscribe", {"stream_id": sid, "sdp": await v.offer()}) for v in idle[:4]]
            assert [a["ok"] for a in acks] == [True, True, False, False]
            assert acks[2]["error"]["code"] == "too_many_pending_sessions"
            # A second socket from the same address is held by the per-address cap.
            other = await open_client(live.url)
            ack = await other.call("rtc:subscribe", {"stream_id": sid, "sdp": await idle[4].offer()})
            assert ack["ok"] is False and ack["error"]["code"] == "too_many_pending_sessions"
            # A real viewer elsewhere is not affected: the stream is not "full" of connecting sessions.
            async with live.client_from("192.0.2.10") as c:
                r = await _watch(c, live.whep, real)
                assert r.status_code == 201, r.text
                await real.accept(r.text)

            async def watching() -> bool:
                return real.video is not None and real.video.count >= 5

            assert await until(watching, 15)
            # The never-connecting sessions are closed after HUB_SFU_PENDING_TIMEOUT_S, and free their client.
            await asyncio.sleep(live.hub.settings.sfu.pending_timeout_s + 1.5)
            ack = await guest.call("rtc:subscribe", {"stream_id": sid, "sdp": await idle[5].offer()})
            assert ack["ok"] is True, ack
    finally:
        for v in [*idle, real]:
            await v.close()
