"""WHIP and WHEP over the HTTP API with real aiortc peers: keys, status codes, Location, DELETE, stream lifecycle."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.ids import StreamId
from hub.wiring import Hub
from tests.support.api import create_stream, register
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

pytestmark = pytest.mark.slow

SDP = {"Content-Type": "application/sdp"}


async def test_whip_publish_and_whep_watch_drive_the_stream_lifecycle(client: httpx.AsyncClient, hub: Hub) -> None:
    owner = await register(client, "Broadcaster")
    stream = await create_stream(client, owner, "WHIP stream")
    whip = f"/api/v1/whip/{stream['id']}"
    whep = f"/api/v1/whep/{stream['id']}"
    publisher = Publisher()
    viewer = Viewer()
    try:
        offer = await publisher.offer()
        r = await client.post(whep, content=await viewer.offer(), headers=SDP)
        assert r.status_code == 404 and r.json()["code"] == "stream_not_live"
        r = await client.post(whip, content=offer, headers=SDP)
        assert r.status_code == 401
        r = await client.post(whip, content=offer, headers={**SDP, "Authorization": "Bearer sk_wrong"})
        assert r.status_code == 401 and r.json()["code"] == "invalid_stream_key"
        key = {"Authorization": f"Bearer {stream['stream_key']}"}
        r = await client.post(whip, content=offer, headers={"Content-Type": "text/plain", **key})
        assert r.status_code == 415
        r = await client.post(whip, content="v=0\r\nnonsense", headers={**SDP, **key})
        assert r.status_code == 400 and r.json()["code"] == "invalid_sdp"

        r = await client.post(whip, content=offer, headers={**SDP, **key})
        assert r.status_code == 201, r.text
        assert r.headers["content-type"].startswith("application/sdp")
        location = r.headers["location"]
        assert location.startswith(whip + "/")
        await publisher.accept(r.text)

        second = Publisher()
        r2 = await client.post(whip, content=await second.offer(), headers={**SDP, **key})
        assert r2.status_code == 409 and r2.json()["code"] == "already_publishing"
        await second.close()

        async def live() -> bool:
            return (await hub.streams.get(StreamId(stream["id"]))).status.value == "live"

        assert await until(live, timeout=10)
        r = await client.post(whep, content=await viewer.offer(), headers=SDP)
        assert r.status_code == 201, r.text
        viewer_location = r.headers["location"]
        await viewer.accept(r.text)

        async def decoding() -> bool:
            return viewer.video is not None and viewer.video.count >= 15

        assert await until(decoding, timeout=10)
        metrics = (await client.get("/metrics")).text
        assert f'hub_sfu_producer_packets_total{{kind="video",layer="",stream="{stream["id"]}"}}' in metrics
        assert "hub_sfu_viewers 1.0" in metrics

        assert (await client.delete(viewer_location)).status_code == 200
        assert (await client.delete(viewer_location)).status_code == 404
        assert (await client.delete(location)).status_code == 200

        async def ended() -> bool:
            return (await hub.streams.get(StreamId(stream["id"]))).status.value == "ended"

        assert await until(ended, timeout=5)
    finally:
        await viewer.close()
        await publisher.close()


async def test_whip_and_whep_are_in_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/api/v1/openapi.json")).json()["paths"]
    assert "post" in paths["/api/v1/whip/{stream_id}"]
    assert "delete" in paths["/api/v1/whip/{stream_id}/{session_id}"]
    assert "post" in paths["/api/v1/whep/{stream_id}"]


def test_ice_servers_are_offered_to_whip_clients_in_link_headers() -> None:
    from mobile_api.whip import _link_header

    link = _link_header(
        (
            {"urls": "stun:stun.example.net:3478"},
            {"urls": ["turn:turn.example.net:3478?transport=udp"], "username": "u", "credential": "p"},
        )
    )
    assert link == (
        '<stun:stun.example.net:3478>; rel="ice-server", '
        '<turn:turn.example.net:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"; '
        'credential-type="password"'
    )
    assert _link_header(()) is None


async def test_whip_and_whep_work_with_the_sfu_in_worker_processes(mongo_client: Any, db_name: str) -> None:
    from hub.app import create_app
    from tests.conftest import make_settings

    hub = Hub(make_settings(db_name, sfu_workers=2), mongo_client=mongo_client)
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False), client=("127.0.0.1", 50000))
    publisher, viewer = Publisher(), Viewer()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            owner = await register(client, "Workers")
            stream = await create_stream(client, owner, "Forwarded by a worker")
            headers = {**SDP, "Authorization": f"Bearer {stream['stream_key']}"}
            r = await client.post(f"/api/v1/whip/{stream['id']}", content=await publisher.offer(), headers=headers)
            assert r.status_code == 201, r.text
            await publisher.accept(r.text)

            async def live() -> bool:
                return (await hub.streams.get(StreamId(stream["id"]))).status.value == "live"

            assert await until(live, timeout=10)  # PublisherStarted crossed the process boundary
            r = await client.post(f"/api/v1/whep/{stream['id']}", content=await viewer.offer(), headers=SDP)
            assert r.status_code == 201, r.text
            await viewer.accept(r.text)

            async def decoding() -> bool:
                return viewer.video is not None and viewer.video.count >= 15

            assert await until(decoding, timeout=10)
            assert (await client.delete(r.headers["location"])).status_code == 200
    finally:
        await viewer.close()
        await publisher.close()
        await hub.close()
        await mongo_client.drop_database(hub.settings.mongo_db)
