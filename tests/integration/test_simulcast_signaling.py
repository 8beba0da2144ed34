"""Simulcast offers over WHIP and the socket path, and the viewer's layer choice over WHEP and ``rtc:layer``, with
the hub's real HTTP API and SFU (the media itself: tests/integration/test_simulcast_browser.py)."""

from __future__ import annotations

import httpx
import pytest

from hub.wiring import Hub
from tests.support.api import create_stream, register
from tests.support.sdp_offers import chromium_simulcast
from tests.support.sfu_peers import Publisher, Viewer

pytestmark = pytest.mark.slow

SDP = {"Content-Type": "application/sdp"}


def video_section(sdp: str) -> list[str]:
    lines = sdp.split("\r\n")
    start = next(i for i, line in enumerate(lines) if line.startswith("m=video"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("m=")), len(lines))
    return lines[start:end]


async def test_a_simulcast_offer_over_whip_is_answered_with_simulcast_recv_and_one_producer_per_layer(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    owner = await register(client, "Simulcaster")
    stream = await create_stream(client, owner)
    key = {"Authorization": f"Bearer {stream['stream_key']}", **SDP}
    r = await client.post(f"/api/v1/whip/{stream['id']}", content=chromium_simulcast(), headers=key)
    assert r.status_code == 201, r.text
    video = video_section(r.text)
    assert [line for line in video if line.startswith(("a=rid:", "a=simulcast:"))] == [
        "a=rid:l recv",
        "a=rid:m recv",
        "a=rid:h recv",
        "a=simulcast:recv l;m;h",
    ]
    # the answer negotiates the RtpStreamId / RepairedRtpStreamId extensions with the offer's ids (RFC 8852)
    assert "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id" in video
    assert "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id" in video
    router = next(r for r in hub.sfu.stats()["routers"] if r["stream_id"] == stream["id"])
    assert sorted(p["rid"] or "" for p in router["producers"] if p["kind"] == "video") == ["h", "l", "m"]
    r = await client.delete(r.headers["location"])
    assert r.status_code == 200


@pytest.mark.parametrize(
    ("offer", "code"),
    [
        (chromium_simulcast(simulcast="send l;m;x"), "invalid_simulcast"),
        (chromium_simulcast(("l", "bad!rid")), "invalid_simulcast"),
        (chromium_simulcast(simulcast="recv l;m;h"), "invalid_simulcast"),
        (chromium_simulcast().replace("a=rid:m send", "a=rid:m send pt=abc"), "invalid_simulcast"),
    ],
)
async def test_a_malformed_simulcast_offer_gets_a_400_and_changes_nothing(
    client: httpx.AsyncClient, hub: Hub, offer: str, code: str
) -> None:
    owner = await register(client, "Broken")
    stream = await create_stream(client, owner)
    key = {"Authorization": f"Bearer {stream['stream_key']}", **SDP}
    r = await client.post(f"/api/v1/whip/{stream['id']}", content=offer, headers=key)
    assert r.status_code == 400 and r.json()["code"] == code, r.text
    assert not hub.sfu.is_live(stream["id"]) and hub.sfu.stats()["publishers"] == 0
    r = await client.post(f"/api/v1/whip/{stream['id']}", content=chromium_simulcast(), headers=key)
    assert r.status_code == 201, r.text  # the stream is as it was: a good offer goes through
    await client.delete(r.headers["location"])


async def test_whep_takes_a_layer_and_changes_it_and_refuses_bad_ones_without_changing_anything(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    owner = await register(client, "Single")
    stream = await create_stream(client, owner)
    publisher, viewer = Publisher(), Viewer()
    whep = f"/api/v1/whep/{stream['id']}"
    try:
        key = {"Authorization": f"Bearer {stream['stream_key']}", **SDP}
        r = await client.post(f"/api/v1/whip/{stream['id']}", content=await publisher.offer(), headers=key)
        assert r.status_code == 201
        await publisher.accept(r.text)
        offer = await viewer.offer()
        r = await client.post(f"{whep}?layer=best", content=offer, headers=SDP)
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "layer", r.text
        assert hub.sfu.stats()["viewers"] == 0
        r = await client.post(f"{whep}?layer=low", content=offer, headers=SDP)
        assert r.status_code == 201, r.text
        session = r.headers["location"]
        consumer = next(c for c in hub.sfu.stats()["consumers"] if c["kind"] == "video")
        assert consumer["preference"] == "low"
        r = await client.post(f"{session}/layer", json={"layer": "high", "width": 640, "height": 360})
        assert r.status_code == 200 and r.json() == {"layer": "high", "rid": None}  # one layer: no rid
        r = await client.post(f"{session}/layer", json={"layer": "huge"})
        assert r.status_code == 422
        r = await client.post(f"{session}/layer", json={"layer": "auto", "width": 0, "height": 10})
        assert r.status_code == 422
        consumer = next(c for c in hub.sfu.stats()["consumers"] if c["kind"] == "video")
        assert consumer["preference"] == "high"
        r = await client.post(f"{whep}/nosuchsession/layer", json={"layer": "low"})
        assert r.status_code == 404
    finally:
        await viewer.close()
        await publisher.close()


async def test_the_socket_path_takes_simulcast_and_rtc_layer_only_for_the_sockets_own_viewer_sessions(
    hub: Hub,
) -> None:
    from hub.app import create_app
    from tests.support.live import live_clients
    from tests.support.servers import serve_asgi

    viewer = Viewer()
    async with (
        serve_asgi(create_app(hub, own_hub=False)) as url,
        httpx.AsyncClient(base_url=url) as http,
        live_clients() as open_client,
    ):
        owner = await register(http, "SocketLayers")
        stream = await create_stream(http, owner)
        sid = stream["id"]
        studio = await open_client(url, owner["access_token"])
        bad = await studio.error("rtc:publish", {"stream_id": sid, "sdp": chromium_simulcast(simulcast="send l;q")})
        assert bad["code"] == "invalid_simulcast"
        ack = await studio.ok("rtc:publish", {"stream_id": sid, "sdp": chromium_simulcast()})
        assert "a=simulcast:recv l;m;h" in ack["sdp"].split("\r\n")
        guest, other = await open_client(url), await open_client(url)
        try:
            sub = await guest.ok("rtc:subscribe", {"stream_id": sid, "sdp": await viewer.offer()})
            session = sub["session_id"]
            assert (await other.error("rtc:layer", {"session_id": session, "layer": "low"}))["code"] == (
                "session_not_found"
            )
            assert (await studio.error("rtc:layer", {"session_id": ack["session_id"], "layer": "low"}))["code"] == (
                "session_not_found"
            )  # a publisher session is not a viewer's
            assert (await guest.error("rtc:layer", {"session_id": session, "layer": "best"}))["code"] == "invalid_input"
            done = await guest.ok("rtc:layer", {"session_id": session, "layer": "medium", "width": 640, "height": 360})
            assert done["layer"] == "medium"
            consumer = next(c for c in hub.sfu.stats()["consumers"] if c["kind"] == "video")
            assert consumer["preference"] == "medium"
        finally:
            await viewer.close()
