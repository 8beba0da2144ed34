"""A relay hop carries the simulcast layers its node's viewers need, only those (issue 13): headless Chromium
publishes three layers on node 1; aiortc viewers watch on node 2 through the relay pipe. The pipe's per-layer
packet counts show what crosses: viewers asking Low -> only l; one asking High -> h added, and its first bigger frame
arrives; that viewer leaving -> h dropped again after the linger. Real nodes (Redis, placement, WHIP/WHEP)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from sfu import SfuService
from sfu.pipe import LAYER_LINGER_S
from tests.integration.test_cluster_media import FAST, SDP, live_on
from tests.integration.test_simulcast_browser import ENCODINGS
from tests.support.api import auth, create_stream, register
from tests.support.nodes import Node, hub_nodes
from tests.support.sfu_browser import chromium, open_page
from tests.support.sfu_peers import Viewer
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def local_sfu(node: Node) -> SfuService:
    service = node.hub.sfu_wiring.local_sfu
    assert isinstance(service, SfuService)
    return service


def pipe_tracks(node: Node, stream_id: str) -> dict[str, dict[str, Any]]:
    """The origin's pipe to the other node: its video tracks by rid (packets/bytes carried, parked or not)."""
    for router in local_sfu(node).stats()["routers"]:
        if router["stream_id"] == stream_id and router["pipes"]:
            return {t["rid"]: t for t in router["pipes"][0]["tracks"] if t["kind"] == "video"}
    return {}


def carried(node: Node, stream_id: str) -> dict[str, int]:
    return {rid: track["packets"] for rid, track in pipe_tracks(node, stream_id).items()}


def width(viewer: Viewer) -> int:
    return viewer.video.last_size[0] if viewer.video is not None and viewer.video.count else 0


async def flows_during(node: Node, stream_id: str, seconds: float) -> dict[str, int]:
    """Packets each layer's pipe track carried over ``seconds``."""
    before = carried(node, stream_id)
    deadline = time.monotonic() + seconds
    await until(lambda: time.monotonic() >= deadline, seconds + 1)
    after = carried(node, stream_id)
    return {rid: after[rid] - before.get(rid, 0) for rid in after}


async def test_a_relay_pipe_carries_only_the_layers_the_far_nodes_viewers_are_on(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **FAST) as (n1, n2):
        owner = await register(n1.http, "Layers")
        stream = await create_stream(n1.http, owner, "Across nodes")
        sid = stream["id"]
        viewers = [Viewer(audio=False), Viewer(audio=False)]
        high = Viewer(audio=False)
        try:
            async with chromium() as browser:
                page = await open_page(browser, n1.url)
                await page.evaluate(
                    "([u, k, e]) => window.publish(u, k, 'video/VP8', e)",
                    [f"{n1.url}/api/v1/whip/{sid}", stream["stream_key"], ENCODINGS],
                )

                def three_layers() -> bool:
                    routers = [r for r in local_sfu(n1).stats()["routers"] if r["stream_id"] == sid]
                    live = [p for r in routers for p in r["producers"] if p["kind"] == "video" and p["keyframes"]]
                    return len({p["width"] for p in live if p["width"]}) >= 3

                assert await until(three_layers, 30), local_sfu(n1).stats()["routers"]
                assert await until(lambda: live_on(n2, sid), 10)

                for viewer in viewers:
                    r = await n2.http.post(f"/api/v1/whep/{sid}?layer=low", content=await viewer.offer(), headers=SDP)
                    assert r.status_code == 201, r.text
                    await viewer.accept(r.text)
                assert await until(lambda: all(v.video is not None and v.video.count >= 10 for v in viewers), 20)
                low_width = width(viewers[0])

                # Only l crosses while node 2's viewers all watch Low.
                assert await until(lambda: pipe_tracks(n1, sid).get("h", {}).get("parked") is True, 5), pipe_tracks(
                    n1, sid
                )
                flows = await flows_during(n1, sid, 2.0)
                print("viewers on Low, packets over 2 s per layer:", flows)
                assert flows["l"] > 0 and flows["m"] == 0 and flows["h"] == 0, flows

                # A viewer asking High: h is added to the pipe and that viewer's first (bigger) frame arrives.
                asked = time.monotonic()
                r = await n2.http.post(f"/api/v1/whep/{sid}?layer=high", content=await high.offer(), headers=SDP)
                assert r.status_code == 201, r.text
                await high.accept(r.text)
                assert await until(lambda: width(high) > low_width, 15), (width(high), pipe_tracks(n1, sid))
                print(f"High viewer's first frame {time.monotonic() - asked:.2f} s after its WHEP POST")
                flows = await flows_during(n1, sid, 1.5)
                print("a viewer on High, packets over 1.5 s per layer:", flows)
                assert flows["h"] > 0 and flows["l"] > 0 and flows["m"] == 0, flows
                assert all(v.video is not None and width(v) == low_width for v in viewers)  # they stay on Low

                # The High viewer leaves: h is dropped from the pipe once the linger ran out; Low goes on.
                await high.close()
                left = time.monotonic()
                assert await until(lambda: pipe_tracks(n1, sid)["h"]["parked"], LAYER_LINGER_S + 10)
                assert time.monotonic() - left >= LAYER_LINGER_S - 1.0  # not before the linger (hysteresis)
                flows = await flows_during(n1, sid, 1.5)
                print("viewers back on Low only, packets over 1.5 s per layer:", flows)
                assert flows["h"] == 0 and flows["m"] == 0 and flows["l"] > 0, flows
                counts = [v.video.count if v.video is not None else 0 for v in viewers]
                assert await until(
                    lambda: all(
                        v.video is not None and v.video.count > c + 5 for v, c in zip(viewers, counts, strict=True)
                    ),
                    10,
                )
                # the moderator console's API on each node: the origin's pipe per layer, the edge's demand
                r = await n1.http.get(f"/api/v1/streams/{sid}/media", headers=auth(owner))
                assert r.status_code == 200, r.text
                tracks = {t["rid"]: t for t in r.json()["pipes"][0]["tracks"] if t["kind"] == "video"}
                assert tracks["h"]["parked"] and tracks["m"]["parked"] and not tracks["l"]["parked"], tracks
                r = await n2.http.get(f"/api/v1/streams/{sid}/media", headers=auth(owner))
                assert r.status_code == 200, r.text
                assert len(r.json()["relay"]["demand"]) == 1 and r.json()["viewers_total"] == 2, r.json()
                edge = next(r for r in local_sfu(n2).stats()["routers"] if r["stream_id"] == sid)
                assert edge["relay"]["layers_added"] >= 1 and edge["relay"]["layers_dropped"] >= 3, edge["relay"]
        finally:
            for viewer in (*viewers, high):
                await viewer.close()
