"""One stream lifecycle for both edges (``app/lifecycle.py``), with real aiortc peers: publish → live → publisher lost
→ one grace period → resumed or ended; end from anywhere stops the media."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from core.ids import StreamId
from hub.app import create_app
from hub.wiring import Hub
from sfu import PublisherStarted, SfuEvent
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.live import live_clients
from tests.support.servers import serve_asgi
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

pytestmark = pytest.mark.slow

GRACE_S = 1.5
SDP = {"Content-Type": "application/sdp"}


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub, Any]]:
    hub = Hub(make_settings(db_name, sfu_reconnect_grace_s=GRACE_S), mongo_client=mongo_client)
    async with (
        serve_asgi(create_app(hub)) as url,
        httpx.AsyncClient(base_url=url, timeout=20) as http,
        live_clients() as open_client,
    ):
        yield url, http, hub, open_client
    await mongo_client.drop_database(db_name)


async def status(hub: Hub, stream_id: str) -> str:
    return (await hub.streams.get(StreamId(stream_id))).status.value


async def test_a_socket_publisher_back_within_the_grace_period_continues_the_stream(node: Any) -> None:
    url, http, hub, open_client = node
    owner = await register(http, "Owner")
    sid = (await create_stream(http, owner))["id"]
    first, second, viewer = Publisher(audio=False), Publisher(audio=False), Viewer(audio=False)
    try:
        a = await open_client(url, owner["access_token"])
        ack = await a.ok("rtc:publish", {"stream_id": sid, "sdp": await first.offer()})
        await first.accept(ack["sdp"])
        guest = await open_client(url)
        sub = await guest.ok("rtc:subscribe", {"stream_id": sid, "sdp": await viewer.offer()})
        await viewer.accept(sub["sdp"])
        assert await until(lambda: _frames(viewer, 15), timeout=30)
        await a.close()  # the broadcaster's connection drops; the grace period runs
        await asyncio.sleep(GRACE_S / 3)
        b = await open_client(url, owner["access_token"])
        ack = await b.ok("rtc:publish", {"stream_id": sid, "sdp": await second.offer()})
        await second.accept(ack["sdp"])
        count = viewer.video.count if viewer.video else 0
        await asyncio.sleep(GRACE_S + 1.0)  # longer than the grace period of the dropped connection
        assert await status(hub, sid) == "live"
        assert await until(lambda: _frames(viewer, count + 10), timeout=30)  # the machine may be busy
        assert not guest.received("stream:ended")
    finally:
        for peer in (first, second, viewer):
            await peer.close()


async def test_a_socket_publisher_who_does_not_come_back_ends_the_stream_after_one_grace_period(node: Any) -> None:
    url, http, hub, open_client = node
    owner = await register(http, "Owner")
    sid = (await create_stream(http, owner))["id"]
    publisher = Publisher(audio=False)
    started = media_started(hub)
    try:
        a = await open_client(url, owner["access_token"])
        guest = await open_client(url)
        await guest.ok("stream:join", {"stream_id": sid})
        ack = await a.ok("rtc:publish", {"stream_id": sid, "sdp": await publisher.offer()})
        await publisher.accept(ack["sdp"])
        assert await until(lambda: started(sid), timeout=15)
        await a.close()
        left = time.monotonic()
        ended = await guest.wait_event("stream:ended", timeout=GRACE_S + 10)
        waited = time.monotonic() - left
        assert ended == {"stream_id": sid, "reason": "publisher_left"}
        assert GRACE_S * 0.8 <= waited < GRACE_S + 3.0, waited
        assert not hub.sfu.is_live(sid)
    finally:
        await publisher.close()


async def test_whip_goes_live_on_publish_like_the_socket_and_a_hang_up_before_media_ends_it(node: Any) -> None:
    _, http, hub, _ = node
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    publisher = Publisher(audio=False)
    try:
        r = await http.post(
            f"/api/v1/whip/{stream['id']}",
            content=await publisher.offer(),
            headers={**SDP, "Authorization": f"Bearer {stream['stream_key']}"},
        )
        assert r.status_code == 201, r.text
        assert await status(hub, stream["id"]) == "live"  # at once, as rtc:publish does
        r = await http.delete(r.headers["location"])  # never connected: it showed nothing to anyone
        assert r.status_code == 200
        assert await until(lambda: _status_is(hub, stream["id"], "ended"), timeout=5)
    finally:
        await publisher.close()


async def test_ending_from_anywhere_stops_the_media(node: Any) -> None:
    _, http, hub, _ = node
    owner = await register(http, "Owner")
    stream = await create_stream(http, owner)
    publisher, viewer = Publisher(audio=False), Viewer(audio=False)
    started = media_started(hub)
    try:
        r = await http.post(
            f"/api/v1/whip/{stream['id']}",
            content=await publisher.offer(),
            headers={**SDP, "Authorization": f"Bearer {stream['stream_key']}"},
        )
        await publisher.accept(r.text)
        assert await until(lambda: started(stream["id"]), timeout=15)
        w = await http.post(f"/api/v1/whep/{stream['id']}", content=await viewer.offer(), headers=SDP)
        assert w.status_code == 201, w.text
        r = await http.post(f"/api/v1/streams/{stream['id']}/end", headers=auth(owner))
        assert r.status_code == 200 and r.json()["status"] == "ended"
        assert await until(lambda: _sfu_gone(hub, stream["id"]), timeout=5)
        w = await http.post(f"/api/v1/whep/{stream['id']}", content=await Viewer(audio=False).offer(), headers=SDP)
        assert w.status_code == 404 and w.json()["code"] == "stream_not_live"
    finally:
        await publisher.close()
        await viewer.close()


async def _frames(viewer: Viewer, n: int) -> bool:
    return viewer.video is not None and viewer.video.count >= n


def media_started(hub: Hub) -> Callable[[str], Awaitable[bool]]:
    """A check: the SFU reported ``PublisherStarted`` for the stream (its media flows)."""
    started: set[str] = set()

    async def record(event: SfuEvent) -> None:
        if isinstance(event, PublisherStarted):
            started.add(event.stream_id)

    hub.sfu.add_listener(record)

    async def check(stream_id: str) -> bool:
        return stream_id in started

    return check


async def _status_is(hub: Hub, stream_id: str, value: str) -> bool:
    return await status(hub, stream_id) == value


async def _sfu_gone(hub: Hub, stream_id: str) -> bool:
    return not hub.sfu.is_live(stream_id)
