"""WHIP/WHEP as RFC 9725 has it, beyond POST: OPTIONS and CORS preflights, trickle ICE over PATCH (RFC 8840
fragments, If-Match), ICE restart refused with 422, and DELETE that ends a session whatever its peer's state."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.ids import StreamId
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import create_stream, register
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

pytestmark = pytest.mark.slow

SDP = {"Content-Type": "application/sdp"}
FRAG = "application/trickle-ice-sdpfrag"
ORIGIN = "http://player.example:8080"


def split_candidates(sdp: str) -> tuple[str, list[str], str, str, str]:
    """An aiortc offer as a trickling browser sends it: (offer without candidates, the candidate lines, the first
    mid, ufrag, pwd)."""
    lines = sdp.split("\r\n")
    candidates = list(dict.fromkeys(line[2:] for line in lines if line.startswith("a=candidate:")))
    kept = [line for line in lines if not line.startswith(("a=candidate:", "a=end-of-candidates"))]
    mid = next(line[6:] for line in lines if line.startswith("a=mid:"))
    ufrag = next(line[12:] for line in lines if line.startswith("a=ice-ufrag:"))
    pwd = next(line[10:] for line in lines if line.startswith("a=ice-pwd:"))
    return "\r\n".join(kept), candidates, mid, ufrag, pwd


def fragment(ufrag: str, pwd: str, mid: str, candidates: list[str], *, end: bool = False) -> str:
    body = f"a=ice-ufrag:{ufrag}\r\na=ice-pwd:{pwd}\r\nm=audio 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:{mid}\r\n"
    body += "".join(f"a={c}\r\n" for c in candidates)
    return body + ("a=end-of-candidates\r\n" if end else "")


def remote_candidates(hub: Hub, session_id: str) -> list[str]:
    """What the SFU's ICE agent holds for the session (in-process SFU only)."""
    session = hub.sfu_wiring.local_sfu._sessions[session_id]  # type: ignore[attr-defined]
    ice = session.pc.getTransceivers()[0].receiver.transport.transport
    return [f"{c.ip}:{c.port}" for c in ice.getRemoteCandidates()]


@pytest.fixture
async def cors_client(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Hub]]:
    hub = Hub(make_settings(db_name, cors_origins=(ORIGIN,)), mongo_client=mongo_client)
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False), client=("127.0.0.1", 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, hub
    finally:
        await hub.close()
        await mongo_client.drop_database(hub.settings.mongo_db)


async def live_stream(client: httpx.AsyncClient, hub: Hub, publisher: Publisher) -> tuple[dict[str, Any], str]:
    owner = await register(client, "Rfc9725")
    stream = await create_stream(client, owner, "RFC 9725")
    headers = {**SDP, "Authorization": f"Bearer {stream['stream_key']}"}
    r = await client.post(f"/api/v1/whip/{stream['id']}", content=await publisher.offer(), headers=headers)
    assert r.status_code == 201, r.text
    await publisher.accept(r.text)

    assert await until(lambda: _receiving(hub, stream["id"]), timeout=15), "no media reached the SFU"
    return stream, r.headers["location"]


async def test_whip_and_whep_endpoints_and_sessions_answer_options(client: httpx.AsyncClient, hub: Hub) -> None:
    publisher = Publisher()
    try:
        stream, location = await live_stream(client, hub, publisher)
        for endpoint in (f"/api/v1/whip/{stream['id']}", f"/api/v1/whep/{stream['id']}"):
            r = await client.options(endpoint)
            assert r.status_code == 204, r.text
            assert {m.strip() for m in r.headers["allow"].split(",")} == {"OPTIONS", "POST"}
            assert r.headers["accept-post"] == "application/sdp"
        r = await client.options(location)
        assert r.status_code == 204
        assert {m.strip() for m in r.headers["allow"].split(",")} == {"OPTIONS", "PATCH", "DELETE"}
        assert r.headers["accept-patch"] == FRAG
        r = await client.options(f"/api/v1/whip/{stream['id']}/no-such-session")
        assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    finally:
        await publisher.close()


async def test_cors_preflights_from_allowed_origins_pass_for_every_whip_method(
    cors_client: tuple[httpx.AsyncClient, Hub],
) -> None:
    client, hub = cors_client
    publisher = Publisher()
    try:
        stream, location = await live_stream(client, hub, publisher)
        endpoint = f"/api/v1/whip/{stream['id']}"
        for url, method, headers in (
            (endpoint, "POST", "authorization, content-type"),
            (endpoint, "OPTIONS", "authorization"),
            (location, "PATCH", "authorization, content-type, if-match"),
            (location, "DELETE", "authorization"),
        ):
            preflight = {
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": headers,
            }
            r = await client.options(url, headers=preflight)
            assert r.status_code == 200, (method, r.text)
            assert r.headers["access-control-allow-origin"] == ORIGIN
            assert method in r.headers["access-control-allow-methods"]
            r = await client.options(url, headers={**preflight, "Origin": "http://evil.example"})
            assert r.status_code == 400 and "access-control-allow-origin" not in r.headers

        # The actual requests: what a cross-origin client must be able to read is exposed to it.
        r = await client.options(endpoint, headers={"Origin": ORIGIN})
        assert r.status_code == 204 and r.headers["access-control-allow-origin"] == ORIGIN
        assert "PATCH" in r.headers["access-control-allow-methods"]  # how Eyevinn's client decides to trickle
        viewer = Viewer()
        try:
            r = await client.post(
                f"/api/v1/whep/{stream['id']}", content=await viewer.offer(), headers={**SDP, "Origin": ORIGIN}
            )
            assert r.status_code == 201, r.text
            exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
            assert {"location", "link", "etag", "accept-patch"} <= exposed
            assert r.headers["accept-patch"] == FRAG and r.headers["etag"]
            r = await client.delete(r.headers["location"], headers={"Origin": ORIGIN})
            assert r.status_code == 200 and r.headers["access-control-allow-origin"] == ORIGIN
        finally:
            await viewer.close()
    finally:
        await publisher.close()


async def test_a_trickling_publisher_and_viewer_get_their_candidates_added_with_patch(
    client: httpx.AsyncClient, hub: Hub
) -> None:
    owner = await register(client, "Trickler")
    stream = await create_stream(client, owner, "Trickled")
    publisher, viewer = Publisher(), Viewer()
    try:
        offer, candidates, mid, ufrag, pwd = split_candidates(await publisher.offer())
        assert candidates, "aiortc gathered no candidates to trickle"
        key = {"Authorization": f"Bearer {stream['stream_key']}"}
        r = await client.post(f"/api/v1/whip/{stream['id']}", content=offer, headers={**SDP, **key})
        assert r.status_code == 201, r.text
        location, etag, answer = r.headers["location"], r.headers["etag"], r.text
        session_id = location.rsplit("/", 1)[1]
        assert remote_candidates(hub, session_id) == []

        patch = {"Content-Type": FRAG, "If-Match": etag}
        body = fragment(ufrag, pwd, mid, candidates)
        # Refusals change nothing.
        r = await client.patch(location, content=body, headers={**patch, "If-Match": '"another-ice-session"'})
        assert r.status_code == 412 and r.json()["code"] == "precondition_failed"
        r = await client.patch(location, content=body, headers={"Content-Type": "application/sdp", "If-Match": etag})
        assert r.status_code == 415
        r = await client.patch(location, content=body.replace(" typ ", " type "), headers=patch)
        assert r.status_code == 400 and r.json()["code"] == "invalid_sdp"
        r = await client.patch(location, content=fragment(ufrag, pwd, "no-such-mid", candidates), headers=patch)
        assert r.status_code == 400 and r.json()["code"] == "invalid_sdp"
        r = await client.patch(f"/api/v1/whip/{stream['id']}/nope", content=body, headers=patch)
        assert r.status_code == 404
        assert remote_candidates(hub, session_id) == []

        r = await client.patch(location, content=body, headers=patch)
        assert r.status_code == 204, r.text
        assert r.headers["etag"] == etag
        assert len(remote_candidates(hub, session_id)) == len(candidates)
        # End of candidates (twice, as clients with several m= sections send it) is fine too.
        r = await client.patch(location, content=fragment(ufrag, pwd, mid, [], end=True), headers=patch)
        assert r.status_code == 204
        r = await client.patch(location, content=fragment(ufrag, pwd, mid, [], end=True), headers=patch)
        assert r.status_code == 204

        # An ICE restart (new credentials, If-Match: *) is refused as RFC 9725 asks; the session carries on.
        restart = fragment("newufrag", "newpassword0123456789abcd", mid, candidates)
        r = await client.patch(location, content=restart, headers={"Content-Type": FRAG, "If-Match": "*"})
        assert r.status_code == 422 and r.json()["code"] == "ice_restart_unsupported"
        await publisher.accept(answer)

        async def live() -> bool:
            return (await hub.streams.get(StreamId(stream["id"]))).status.value == "live"

        assert await until(live, timeout=10)

        # A WHEP viewer trickles the same way, with no If-Match at all (as medooze's and Eyevinn's clients do).
        offer, candidates, mid, ufrag, pwd = split_candidates(await viewer.offer())
        r = await client.post(f"/api/v1/whep/{stream['id']}", content=offer, headers=SDP)
        assert r.status_code == 201, r.text
        viewer_location = r.headers["location"]
        r2 = await client.patch(
            viewer_location, content=fragment(ufrag, pwd, mid, candidates, end=True), headers={"Content-Type": FRAG}
        )
        assert r2.status_code == 204, r2.text
        assert len(remote_candidates(hub, viewer_location.rsplit("/", 1)[1])) == len(candidates)
        await viewer.accept(r.text)

        async def decoding() -> bool:
            return viewer.video is not None and viewer.video.count >= 15

        assert await until(decoding, timeout=10)
    finally:
        await viewer.close()
        await publisher.close()


async def test_delete_after_the_peer_closed_its_connection_ends_the_session_and_the_stream_at_once(
    db_name: str, mongo_client: Any
) -> None:
    # A long grace, so that "ended at once" cannot be the grace running out.
    hub = Hub(make_settings(db_name, sfu_reconnect_grace_s=60.0), mongo_client=mongo_client)
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False), client=("127.0.0.1", 50000))
    publisher, viewer = Publisher(), Viewer()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            stream, location = await live_stream(client, hub, publisher)
            r = await client.post(f"/api/v1/whep/{stream['id']}", content=await viewer.offer(), headers=SDP)
            assert r.status_code == 201, r.text
            viewer_location = r.headers["location"]
            await viewer.accept(r.text)
            assert await until(lambda: _decoding(viewer), timeout=10)

            # The viewer closes its peer connection first (medooze's WHEPClient.stop() does), then DELETEs.
            await viewer.close()
            assert await until(lambda: _viewers(hub, 0), timeout=10), "the SFU never noticed the viewer leave"
            assert (await client.delete(viewer_location)).status_code == 200
            r = await client.delete(viewer_location)
            assert r.status_code == 404 and r.json()["code"] == "session_not_found"

            # The publisher does the same: its stream is waiting out the 60 s grace when the DELETE comes.
            await publisher.close()
            assert await until(lambda: _no_publisher(hub, stream["id"]), timeout=10)
            assert hub.sfu.is_live(stream["id"])
            assert (await client.delete(location)).status_code == 200

            async def ended() -> bool:
                return (await hub.streams.get(StreamId(stream["id"]))).status.value == "ended"

            assert await until(ended, timeout=5), "the stream stayed live after DELETE"
            assert not hub.sfu.is_live(stream["id"])
            assert (await client.delete(location)).status_code == 404
            assert (await client.delete(f"/api/v1/whip/{stream['id']}/never-was")).status_code == 404
    finally:
        await viewer.close()
        await publisher.close()
        await hub.close()
        await mongo_client.drop_database(hub.settings.mongo_db)


async def test_late_delete_and_trickle_reach_the_sfu_in_worker_processes(db_name: str, mongo_client: Any) -> None:
    hub = Hub(make_settings(db_name, sfu_workers=1, sfu_reconnect_grace_s=60.0), mongo_client=mongo_client)
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False), client=("127.0.0.1", 50000))
    publisher = Publisher()
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            owner = await register(client, "Workers")
            stream = await create_stream(client, owner, "Worker trickle")
            offer, candidates, mid, ufrag, pwd = split_candidates(await publisher.offer())
            key = {"Authorization": f"Bearer {stream['stream_key']}"}
            r = await client.post(f"/api/v1/whip/{stream['id']}", content=offer, headers={**SDP, **key})
            assert r.status_code == 201, r.text
            location = r.headers["location"]
            patch = {"Content-Type": FRAG, "If-Match": r.headers["etag"]}
            assert (
                await client.patch(location, content=fragment(ufrag, pwd, mid, candidates), headers=patch)
            ).status_code == 204
            restart = fragment("other", "otherpassword0123456789ab", mid, [])
            r2 = await client.patch(location, content=restart, headers={"Content-Type": FRAG, "If-Match": "*"})
            assert r2.status_code == 422 and r2.json()["code"] == "ice_restart_unsupported"
            await publisher.accept(r.text)
            assert await until(lambda: _receiving(hub, stream["id"]), timeout=15), "no media reached the SFU"
            await publisher.close()
            assert await until(lambda: _no_publisher(hub, stream["id"]), timeout=10)
            assert (await client.delete(location)).status_code == 200

            async def ended() -> bool:
                return (await hub.streams.get(StreamId(stream["id"]))).status.value == "ended"

            assert await until(ended, timeout=5)
            assert (await client.delete(location)).status_code == 404
    finally:
        await publisher.close()
        await hub.close()
        await mongo_client.drop_database(hub.settings.mongo_db)


async def _decoding(viewer: Viewer) -> bool:
    return viewer.video is not None and viewer.video.count >= 10


async def _viewers(hub: Hub, count: int) -> bool:
    return bool(hub.sfu.stats()["viewers"] == count)


async def _no_publisher(hub: Hub, stream_id: str) -> bool:
    return not hub.sfu.has_publisher(stream_id)


async def _receiving(hub: Hub, stream_id: str) -> bool:
    """The publisher's peer connection is up and its video reaches the SFU (the stream itself is live as soon as the
    SFU accepted the offer, before any media)."""
    for router in hub.sfu.stats()["routers"]:
        if router["stream_id"] == stream_id:
            return any(p["kind"] == "video" and p["packets"] > 10 for p in router["producers"])
    return False
