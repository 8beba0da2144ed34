"""How long edge viewers freeze through the cluster's failures: three nodes, one Redis, real aiortc peers.

Each test records every decoded frame's arrival at an aiortc viewer on an edge node and measures the longest
inter-frame gap through one failure: the publisher reconnecting to another node, the origin node dying with the
publisher back on another node within the grace (measured from the publisher's resume), and the edge node dying with
its viewer watching again on another node (as the pages do; the browser side is tested with the pages). The bound is
one GOP: the SFU's keyframe refresh, ``sfu_gop_refresh_s`` (4 s by default; the aiortc publisher itself sends a
keyframe only when asked). Run with ``-s`` to see the measured gaps (one ``freeze`` JSON line per test).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any

import pytest

from core.ids import StreamId
from tests.support.api import create_stream, register
from tests.support.nodes import Node, hub_nodes
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

SDP = {"Content-Type": "application/sdp"}
GOP_S = 4.0
SETTINGS = {
    "cluster_heartbeat_s": 0.2,
    "cluster_lease_s": 1.5,
    "sfu_gop_refresh_s": GOP_S,
    "sfu_reconnect_grace_s": 8.0,
    "sfu_media_timeout_s": 2.0,
}

pytestmark = pytest.mark.slow


def times(viewer: Viewer) -> list[float]:
    return list(viewer.video.times) if viewer.video is not None else []


async def frames_after(viewer: Viewer, moment: float, count: int, timeout: float) -> bool:
    async def enough() -> bool:
        return sum(1 for t in times(viewer) if t > moment) >= count

    return await until(enough, timeout)


def longest_gap(stamps: list[float], start: float, end: float) -> float:
    """The longest interval without a frame between ``start`` and ``end`` (the edges count as gaps too)."""
    inside = [start, *(t for t in stamps if start < t < end), end]
    return max(b - a for a, b in itertools.pairwise(inside))


def first_after(stamps: list[float], moment: float) -> float:
    return next(t for t in stamps if t > moment) - moment


async def publish(node: Node, stream: dict[str, Any], publisher: Publisher) -> None:
    r = await node.http.post(
        f"/api/v1/whip/{stream['id']}",
        content=await publisher.offer(),
        headers={**SDP, "Authorization": f"Bearer {stream['stream_key']}"},
    )
    assert r.status_code == 201, r.text
    await publisher.accept(r.text)


async def watch(node: Node, stream_id: str, viewer: Viewer) -> None:
    r = await node.http.post(f"/api/v1/whep/{stream_id}", content=await viewer.offer(), headers=SDP)
    assert r.status_code == 201, r.text
    await viewer.accept(r.text)


async def live_on(node: Node, stream_id: str) -> bool:
    return (await node.hub.streams.get(StreamId(stream_id))).status.value == "live"


def report(name: str, **figures: float) -> None:
    print(json.dumps({"freeze": name, "gop_s": GOP_S, **{k: round(v, 3) for k, v in figures.items()}}))


async def test_a_publisher_reconnecting_to_another_node_freezes_edge_viewers_for_less_than_one_gop(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **SETTINGS) as (n1, n2, n3):
        stream = await create_stream(n1.http, await register(n1.http, "Caster"))
        sid = stream["id"]
        first, second, viewer = Publisher(), Publisher(), Viewer()
        try:
            await publish(n1, stream, first)
            assert await until(lambda: live_on(n2, sid), 10)
            await watch(n2, sid, viewer)
            assert await frames_after(viewer, 0, 30, 20)
            steady_from = time.monotonic()
            await asyncio.sleep(2)
            dropped = time.monotonic()
            await first.close()  # the broadcaster's connection drops, and it comes back at once on node 3
            resumed = time.monotonic()
            await publish(n3, stream, second)
            assert await frames_after(viewer, resumed, 30, 20), "the edge viewer continues on the same connection"
            end = time.monotonic()
            stamps = times(viewer)
            steady, freeze = longest_gap(stamps, steady_from, dropped), longest_gap(stamps, dropped, end)
            from_resume = first_after(stamps, resumed)
            report("publisher_moved", steady_gap_s=steady, longest_gap_s=freeze, first_frame_after_resume_s=from_resume)
            assert freeze <= GOP_S and from_resume <= GOP_S
        finally:
            for peer in (viewer, first, second):
                await peer.close()


async def test_an_origin_node_dying_freezes_edge_viewers_for_less_than_one_gop_after_the_publisher_is_back(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **SETTINGS) as (n1, n2, n3):
        stream = await create_stream(n1.http, await register(n1.http, "Caster"))
        sid = stream["id"]
        first, second, viewer = Publisher(), Publisher(), Viewer()
        try:
            await publish(n1, stream, first)
            assert await until(lambda: live_on(n2, sid), 10)
            await watch(n2, sid, viewer)
            assert await frames_after(viewer, 0, 30, 20)
            assert n1.stop is not None
            died = time.monotonic()
            await n1.stop()  # the origin node goes away with the publisher's connection
            await asyncio.sleep(2)  # the broadcaster's app notices and reconnects (to node 3) within the grace
            resumed = time.monotonic()
            await publish(n3, stream, second)
            assert await frames_after(viewer, resumed, 30, 20), "node 2's viewer resumes from the new origin"
            end = time.monotonic()
            stamps = times(viewer)
            outage = longest_gap(stamps, died, end)
            from_resume = first_after(stamps, resumed)
            after = longest_gap(stamps, resumed + from_resume, end)
            report(
                "origin_died", longest_gap_s=outage, first_frame_after_resume_s=from_resume, gap_after_resume_s=after
            )
            assert viewer.pc.connectionState == "connected"
            assert from_resume <= GOP_S and after <= GOP_S
        finally:
            for peer in (viewer, first, second):
                await peer.close()


async def test_an_edge_node_dying_freezes_its_moved_viewer_for_less_than_one_gop(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(3, db_name, mongo_client, clean_redis, **SETTINGS) as (n1, n2, n3):
        stream = await create_stream(n1.http, await register(n1.http, "Caster"))
        sid = stream["id"]
        publisher, viewer, moved = Publisher(), Viewer(), Viewer()
        try:
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n2, sid), 10)
            await watch(n2, sid, viewer)
            assert await frames_after(viewer, 0, 30, 20)
            assert n2.stop is not None
            died = time.monotonic()
            await n2.stop()
            await watch(n3, sid, moved)  # as a page does when its node goes away: watch again on another node
            assert await frames_after(moved, died, 30, 20)
            last_old = max(times(viewer))
            first_new = min(t for t in times(moved) if t > died)
            gap = max(0.0, first_new - last_old)  # from the old connection's last frame to the new one's first
            report("edge_died", gap_to_first_frame_on_new_node_s=gap, node_stop_to_first_frame_s=first_new - died)
            assert gap <= GOP_S
        finally:
            for peer in (viewer, moved, publisher):
                await peer.close()
