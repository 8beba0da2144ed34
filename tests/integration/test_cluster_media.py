"""Any node serves any stream: three nodes and one Redis on loopback, real aiortc publisher and viewers.

The publisher sends to node 1 (WHIP); viewers watch on nodes 2 and 3 (WHEP), each of which pulls one relayed copy
from node 1 and fans it out; ending on node 3 stops media everywhere; a full node redirects; the internal pipe
endpoint refuses unsigned callers; an edge node dying moves its viewers; a publisher reconnecting to node 3 keeps
node 2's viewers going.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urljoin

import aiohttp
import httpx
import pytest
import socketio

from cluster.origin_client import pipe_path
from cluster.signing import HEADER, RequestSigner
from core.ids import StreamId
from tests.integration.test_whip_whep_rfc9725 import FRAG, fragment, split_candidates
from tests.support.api import auth, create_stream, register
from tests.support.live import live_clients
from tests.support.nodes import Node, hub_nodes
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

SDP = {"Content-Type": "application/sdp"}
FAST = {
    "cluster_heartbeat_s": 0.2,
    "cluster_lease_s": 1.5,
    "sfu_gop_refresh_s": 60.0,  # keyframes only when asked: a late joiner's first frame must come from a cache
    "sfu_reconnect_grace_s": 8.0,
    "sfu_media_timeout_s": 2.0,
}

pytestmark = pytest.mark.slow


def frames(viewer: Viewer) -> int:
    return viewer.video.count if viewer.video is not None else 0


async def decodes(viewer: Viewer, count: int = 15, timeout: float = 15) -> bool:
    start = frames(viewer)

    async def enough() -> bool:
        return frames(viewer) >= start + count

    return await until(enough, timeout)


async def publish(node: Node, stream: dict[str, Any], publisher: Publisher) -> str:
    r = await node.http.post(
        f"/api/v1/whip/{stream['id']}",
        content=await publisher.offer(),
        headers={**SDP, "Authorization": f"Bearer {stream['stream_key']}"},
    )
    assert r.status_code == 201, r.text
    await publisher.accept(r.text)
    return str(r.headers["location"])


async def watch(node: Node, stream_id: str, viewer: Viewer) -> httpx.Response:
    r = await node.http.post(f"/api/v1/whep/{stream_id}", content=await viewer.offer(), headers=SDP)
    if r.status_code == 201:
        await viewer.accept(r.text)
    return r


async def live_on(node: Node, stream_id: str) -> bool:
    return (await node.hub.streams.get(StreamId(stream_id))).status.value == "live"


def origin_pipes(node: Node, stream_id: str) -> int:
    return sum(len(r["pipes"]) for r in node.hub.sfu.stats()["routers"] if r["stream_id"] == stream_id)


async def test_viewers_on_other_nodes_get_one_relayed_copy_per_node_and_an_end_on_any_node_stops_all(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher = Publisher()
        viewers = [Viewer() for _ in range(3)]
        late = Viewer()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n2, sid), 10)

            for viewer, node in zip(viewers, (n2, n2, n3), strict=True):
                r = await watch(node, sid, viewer)
                assert r.status_code == 201, r.text
            for viewer in viewers:
                assert await decodes(viewer), "a viewer on an edge node decodes the publisher's video"

            # One copy per edge node however many viewers it has: node 1 pipes to nodes 2 and 3 once each.
            assert origin_pipes(n1, sid) == 2
            assert n2.hub.sfu_wiring.cluster_media is not None
            assert n2.hub.sfu_wiring.cluster_media.relays_attached == 1
            assert n2.hub.sfu.stats()["viewers"] == 2 and n3.hub.sfu.stats()["viewers"] == 1

            # A late joiner on node 3 decodes from node 3's cache: no keyframe request reaches the publisher.
            asked = publisher.keyframe_requests
            assert (await watch(n3, sid, late)).status_code == 201
            assert await decodes(late, count=1)
            assert publisher.keyframe_requests == asked
            assert origin_pipes(n1, sid) == 2

            # Viewer counts are cluster-wide (WHEP viewers included).
            async def counted() -> bool:
                return await n1.hub.cluster.placement.stream_viewers(sid) == 4

            assert await until(counted, 5)

            # Ending on node 3 (not the origin) stops media on every node within a second.
            r = await n3.http.post(f"/api/v1/streams/{sid}/end", headers=auth(owner))
            assert r.status_code == 200, r.text
            started = time.monotonic()

            async def gone_everywhere() -> bool:
                return not any(n.hub.sfu.is_live(sid) for n in (n1, n2, n3))

            assert await until(gone_everywhere, 3)
            assert time.monotonic() - started < 1.5
            await asyncio.sleep(0.5)
            before = [frames(v) for v in viewers]
            await asyncio.sleep(1.0)
            assert [frames(v) for v in viewers] == before, "no media after the end"
        finally:
            for viewer in [*viewers, late]:
                await viewer.close()
            await publisher.close()


async def test_a_full_node_redirects_whep_to_a_node_with_room_and_the_socket_path_names_it(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, cluster_node_capacity=1, **FAST) as (n1, n2):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher, first, second = Publisher(), Viewer(), Viewer()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n1, sid), 10)
            assert (await watch(n1, sid, first)).status_code == 201
            # Only connected viewers fill a node (a viewer still connecting holds no slot): node 1 is full once
            # the first viewer decodes.
            assert await decodes(first)

            async def n2_registered() -> bool:
                return len(await n1.hub.cluster.placement.nodes()) == 2

            assert await until(n2_registered, 5)
            # The socket path: rtc:subscribe on the full node names the node to go to.
            async with live_clients() as open_client:
                guest = await open_client(n1.url)
                probe = Viewer()
                try:
                    error = await guest.error("rtc:subscribe", {"stream_id": sid, "sdp": await probe.offer()})
                finally:
                    await probe.close()
            assert error["code"] == "node_full" and error["url"] == n2.url

            r = await n1.http.post(f"/api/v1/whep/{sid}", content=await second.offer(), headers=SDP)
            assert r.status_code == 307
            assert r.headers["location"] == f"{n2.url}/api/v1/whep/{sid}"
            r = await n2.http.post(r.headers["location"], content=second.pc.localDescription.sdp, headers=SDP)
            assert r.status_code == 201, r.text
            await second.accept(r.text)
            assert await decodes(second)

            # Every node full: no redirect, a 503.
            late = Viewer()
            try:
                offer = await late.offer()

                # Node 2 counts as full once its connected viewer reaches the registry (its next heartbeat);
                # until then node 1 still redirects there (a 307 creates nothing, so asking again is harmless).
                async def cluster_full() -> bool:
                    r = await n1.http.post(f"/api/v1/whep/{sid}", content=offer, headers=SDP)
                    assert r.status_code in (307, 503), r.text
                    return r.status_code == 503 and r.json()["code"] == "cluster_full"

                assert await until(cluster_full, 5)
            finally:
                await late.close()
        finally:
            for peer in (first, second, publisher):
                await peer.close()


async def test_after_a_307_the_session_url_reaches_the_node_that_holds_the_session(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    """A WHEP client redirected from a full node trickles (PATCH) and hangs up (DELETE) on the node that answered
    201, whether it resolves ``Location`` against the URL it was redirected to (httpx) or against the URL it first
    POSTed to (medooze's whip-whep, Eyevinn's clients)."""
    async with hub_nodes(2, db_name, mongo_client, clean_redis, cluster_node_capacity=1, **FAST) as (n1, n2):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher, first = Publisher(), Viewer()
        redirected = [Viewer(), Viewer()]
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n1, sid), 10)
            assert (await watch(n1, sid, first)).status_code == 201
            assert await decodes(first)  # node 1 is full now

            async def n2_registered() -> bool:
                return len(await n1.hub.cluster.placement.nodes()) == 2

            assert await until(n2_registered, 5)
            endpoint = f"{n1.url}/api/v1/whep/{sid}"
            async with httpx.AsyncClient(follow_redirects=True) as client:
                for viewer, resolve_against_first in zip(redirected, (False, True), strict=True):
                    offer, candidates, mid, ufrag, pwd = split_candidates(await viewer.offer())
                    r = await client.post(endpoint, content=offer, headers=SDP)
                    assert r.status_code == 201, r.text
                    assert [h.status_code for h in r.history] == [307]
                    assert str(r.url).startswith(n2.url)
                    location = r.headers["location"]
                    assert location.startswith(f"{n2.url}/api/v1/whep/{sid}/"), location
                    session_url = urljoin(endpoint if resolve_against_first else str(r.url), location)
                    frag = {"Content-Type": FRAG}
                    r = await client.patch(session_url, content=fragment(ufrag, pwd, mid, candidates), headers=frag)
                    assert r.status_code == 204, r.text
                    session_id = location.rsplit("/", 1)[1]
                    assert n2.hub.sfu.session_stream(session_id) == sid
                    assert (await client.delete(session_url)).status_code == 200
                    assert (await client.delete(session_url)).status_code == 404
        finally:
            for peer in (first, *redirected, publisher):
                await peer.close()


async def test_every_node_lists_the_live_nodes_where_a_viewer_may_watch_and_a_stopped_node_drops_out(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):

        async def listed(node: Node) -> dict[str, Any]:
            r = await node.http.get("/api/v1/cluster/nodes")
            assert r.status_code == 200, r.text
            body: dict[str, Any] = r.json()
            return body

        async def all_three() -> bool:
            return len((await listed(n3))["nodes"]) == 3

        assert await until(all_three, 5)
        body = await listed(n3)
        assert body["node_id"] == n3.hub.settings.node_id
        assert {(n["node_id"], n["url"]) for n in body["nodes"]} == {
            (n.hub.settings.node_id, n.url) for n in (n1, n2, n3)
        }
        assert all(n["has_room"] for n in body["nodes"])
        assert n2.stop is not None
        await n2.stop()

        async def n2_dropped() -> bool:
            return n2.url not in {n["url"] for n in (await listed(n1))["nodes"]}

        assert await until(n2_dropped, 3)


async def test_with_cors_origins_set_a_node_takes_sockets_from_pages_of_every_node_and_the_listed_origins_only(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    """A viewer page moves its socket to another node (another origin): the configured origins must not lock the
    cluster's own pages out, nor let anyone else in."""
    app_origin = "https://app.example"
    async with hub_nodes(2, db_name, mongo_client, clean_redis, cors_origins=(app_origin,), **FAST) as (n1, n2):

        async def connects(origin: str) -> bool:
            async with aiohttp.ClientSession() as http:
                return await connects_with(http, origin)

        async def connects_with(http: aiohttp.ClientSession, origin: str) -> bool:
            client = socketio.AsyncClient(reconnection=False, http_session=http)
            try:
                await client.connect(
                    n2.url, namespaces=["/live"], transports=["websocket"], headers={"Origin": origin}, wait_timeout=5
                )
            except socketio.exceptions.ConnectionError:
                return False
            finally:
                await client.shutdown()
            return True

        async def n1_known() -> bool:
            return await connects(n1.url)

        assert await until(n1_known, 5), "a page loaded from node 1 may move its socket to node 2"
        assert await connects(app_origin)
        assert not await connects("https://elsewhere.example")


async def test_the_internal_pipe_endpoint_serves_only_signed_requests_from_the_cluster(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(1, db_name, mongo_client, clean_redis, **FAST) as (n1,):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        publisher = Publisher()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n1, stream["id"]), 10)
            path = pipe_path(stream["id"])
            assert (await n1.http.post(path, content=b"{}")).status_code == 401
            stranger = RequestSigner("another-cluster-secret-xx", "node-x")
            r = await n1.http.post(path, content=b"{}", headers={HEADER: stranger.sign("POST", path, b"{}")})
            assert r.status_code == 401 and r.json()["code"] == "bad_cluster_signature"
            member = RequestSigner(FAST_SECRET, "node-x")
            r = await n1.http.post(path, content=b"{}", headers={HEADER: member.sign("POST", path, b"{}")})
            assert r.status_code == 200 and isinstance(r.json()["offer"], str)
            other = pipe_path("no-such-stream")
            r = await n1.http.post(other, content=b"{}", headers={HEADER: member.sign("POST", other, b"{}")})
            assert r.status_code == 404
        finally:
            await publisher.close()


async def test_a_publisher_reconnecting_to_another_node_resumes_the_edge_viewers_without_renegotiating(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        first, second, viewer = Publisher(), Publisher(), Viewer()
        try:
            await publish(n1, stream, first)
            assert await until(lambda: live_on(n2, sid), 10)
            assert (await watch(n2, sid, viewer)).status_code == 201
            assert await decodes(viewer)
            await first.close()  # the broadcaster's connection drops (no DELETE): node 1 starts the grace
            await publish(n3, stream, second)  # ... and the broadcaster comes back on node 3

            assert await decodes(viewer, timeout=15), "node 2's viewer continues on the same connection"
            origin = await n2.hub.cluster.placement.origin(sid)
            assert origin is not None and origin.node_id == n3.hub.settings.node_id
            # Node 1's grace runs out: the publisher is elsewhere, so the stream goes on.
            await asyncio.sleep(FAST["sfu_reconnect_grace_s"] + 1)
            assert await live_on(n1, sid)
            assert await decodes(viewer, timeout=10)
            assert viewer.pc.connectionState == "connected"
        finally:
            for peer in (viewer, first, second):
                await peer.close()


async def test_an_origin_node_going_away_keeps_edge_viewers_until_the_publisher_is_back_on_another_node(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        first, second, viewer = Publisher(), Publisher(), Viewer()
        try:
            await publish(n1, stream, first)
            assert await until(lambda: live_on(n2, sid), 10)
            assert (await watch(n2, sid, viewer)).status_code == 201
            assert await decodes(viewer)
            assert n1.stop is not None
            await n1.stop()  # the origin node goes away
            await asyncio.sleep(2)
            assert await live_on(n2, sid), "the stream is not ended by its origin node going away"
            assert viewer.pc.connectionState == "connected"
            await publish(n3, stream, second)
            assert await decodes(viewer, timeout=15), "node 2's viewer resumes from the new origin"
        finally:
            for peer in (viewer, first, second):
                await peer.close()


async def test_a_socket_publishers_node_stopping_does_not_end_a_stream_other_nodes_relay(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    """A stopping node closes its sockets before it drains, so a socket publisher (the studio) is already in its
    grace when the node decides what to leave to the nodes relaying the stream: the stream must not end there (the
    studio publishes again on another node within the grace)."""
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        first, second, viewer = Publisher(), Publisher(), Viewer()
        try:
            async with live_clients() as open_client:
                studio = await open_client(n1.url, owner["access_token"])
                ack = await studio.ok("rtc:publish", {"stream_id": sid, "sdp": await first.offer()})
                await first.accept(ack["sdp"])
                assert await until(lambda: live_on(n2, sid), 10)
                assert (await watch(n2, sid, viewer)).status_code == 201
                assert await decodes(viewer)
                assert n1.stop is not None
                await n1.stop()
                await asyncio.sleep(0.5)
                assert await live_on(n2, sid), "the stopping node ended a stream node 2 relays"
                moved = await open_client(n3.url, owner["access_token"])
                ack = await moved.ok("rtc:publish", {"stream_id": sid, "sdp": await second.offer()})
                await second.accept(ack["sdp"])
                assert await decodes(viewer, timeout=15), "node 2's viewer continues on the same connection"
                assert await live_on(n3, sid)
        finally:
            for peer in (viewer, first, second):
                await peer.close()


async def test_an_edge_node_stopping_does_not_end_the_stream_it_relayed(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    """A stopping edge node closes its relay copy with everything else; that says nothing about the publisher. (It
    used to start a re-pipe there that, finding no copy left to feed, reported the origin gone, and the stream ended
    for every node while its publisher was still sending, when the registry was already closed at that moment: a race
    that tests/unit/cluster/test_cluster_media_rules.py pins down.)"""
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **FAST) as (n1, n2):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher, viewer, later = Publisher(), Viewer(), Viewer()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n2, sid), 10)
            assert (await watch(n2, sid, viewer)).status_code == 201
            assert await decodes(viewer)
            assert n2.stop is not None
            await n2.stop()
            await asyncio.sleep(1.0)  # what the stopped node's leftover tasks would do, they have done by now
            assert await live_on(n1, sid), "the stopped edge node ended a stream whose publisher is still sending"
            assert (await watch(n1, sid, later)).status_code == 201
            assert await decodes(later, count=5)
        finally:
            for peer in (viewer, later, publisher):
                await peer.close()


async def test_an_edge_node_dying_moves_its_viewers_to_another_node_within_five_seconds(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **FAST) as (n1, n2, n3):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher, viewer, moved = Publisher(), Viewer(), Viewer()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n2, sid), 10)
            assert (await watch(n2, sid, viewer)).status_code == 201
            assert await decodes(viewer)
            assert n2.stop is not None
            await n2.stop()
            started = time.monotonic()

            async def n2_gone() -> bool:
                nodes = await n1.hub.cluster.placement.nodes()
                return n2.hub.settings.node_id not in {n.node_id for n in nodes}

            assert await until(n2_gone, 3), "a node that left is gone from the registry"
            # The viewer (as the pages do) watches again on a node the registry names.
            assert (await watch(n3, sid, moved)).status_code == 201
            assert await decodes(moved, count=1, timeout=5)
            assert time.monotonic() - started < 5
        finally:
            for peer in (viewer, moved, publisher):
                await peer.close()


FAST_SECRET = "test-cluster-secret-" + "c" * 16
