"""Directory thumbnails: two nodes on one real Redis, a real aiortc VP8 publisher and viewers.

The node holding the publisher decodes one cached keyframe per interval (never per viewer, never in the forwarding
path); every node serves the picture with an entity tag (304 on a match) and the directory links it; when the
publisher moves to another node, that node makes the next pictures.
"""

from __future__ import annotations

import time
from typing import Any

import av
import pytest

import sfu.thumbnail
from tests.integration.test_cluster_media import FAST, decodes, live_on, publish, watch
from tests.integration.test_sfu_forwarding import count_codec_work, encoders_created
from tests.support.api import auth, create_stream, register
from tests.support.nodes import Node, hub_nodes
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

pytestmark = pytest.mark.slow

INTERVAL_S = 2.0
THUMBS = {**FAST, "sfu_gop_refresh_s": 1.0, "thumbnail_interval_s": INTERVAL_S, "thumbnail_width": 160}


def image_size(data: bytes) -> tuple[int, int]:
    frames = av.CodecContext.create("mjpeg", "r").decode(av.Packet(data))
    return frames[0].width, frames[0].height


async def thumbnail(node: Node, stream_id: str) -> Any:
    return await node.http.get(f"/api/v1/streams/{stream_id}/thumbnail")


async def test_the_publishers_node_makes_a_thumbnail_every_node_serves_with_an_etag_and_a_304_on_refetch(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **THUMBS) as (n1, n2):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        assert (await thumbnail(n2, sid)).status_code == 404  # nothing before the stream sends a picture
        publisher = Publisher()
        viewers = [Viewer() for _ in range(3)]
        try:
            started = time.monotonic()
            await publish(n1, stream, publisher)
            assert await until(lambda: live_on(n2, sid), 10)

            async def served_by_the_other_node() -> bool:
                return (await thumbnail(n2, sid)).status_code == 200

            assert await until(served_by_the_other_node, INTERVAL_S + 8)
            first_after_s = time.monotonic() - started
            r = await thumbnail(n2, sid)
            assert r.headers["content-type"] == "image/jpeg"
            assert image_size(r.content) == (160, 120)  # the 320x240 stream, 160 wide
            etag = r.headers["etag"]
            assert "max-age=2" in r.headers["cache-control"] and "public" in r.headers["cache-control"]

            # The same picture again: 304 without a body, from either node.
            for node in (n2, n1):
                again = await node.http.get(f"/api/v1/streams/{sid}/thumbnail", headers={"If-None-Match": etag})
                assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag

            # The directory links it, on the other node too.
            page = (await n2.http.get("/api/v1/streams")).json()
            item = next(i for i in page["items"] if i["id"] == sid)
            assert item["thumbnail_url"].startswith(f"/api/v1/streams/{sid}/thumbnail?v=")
            assert (await n2.http.get(item["thumbnail_url"])).status_code == 200

            # Viewers change nothing of the codec work: the forwarding path decodes and encodes nothing, and
            # pictures cost one decoder each, at most one per interval for the one stream, however many watch.
            local = n1.hub.sfu_wiring.cluster_media.local if n1.hub.sfu_wiring.cluster_media else n1.hub.sfu
            made_before, decoders_before = n1.hub.thumbnail_maker.made, sfu.thumbnail.DECODERS_MADE
            watched_from = time.monotonic()
            for viewer in viewers:
                assert (await watch(n1, sid, viewer)).status_code == 201
            codec_work = count_codec_work(local)  # type: ignore[arg-type]
            for viewer in viewers:
                assert await decodes(viewer)

            async def a_newer_picture() -> bool:
                fresh = await n2.http.get(f"/api/v1/streams/{sid}/thumbnail", headers={"If-None-Match": etag})
                return fresh.status_code == 200

            assert await until(a_newer_picture, INTERVAL_S * 3 + 5), "the picture is renewed with new keyframes"
            watched_s = time.monotonic() - watched_from
            made = n1.hub.thumbnail_maker.made - made_before
            assert 1 <= made <= watched_s / INTERVAL_S + 1
            assert sfu.thumbnail.DECODERS_MADE - decoders_before == made  # one decoder per picture, none per viewer
            assert codec_work["decoder_frames"] == 0
            assert encoders_created(local) == 0  # type: ignore[arg-type]
            assert n2.hub.thumbnail_maker.made == 0  # only the publisher's node makes pictures
            metrics = (await n1.http.get("/metrics", headers=auth(owner))).text
            made_line = next(line for line in metrics.splitlines() if line.startswith("hub_thumbnails_made_total "))
            assert float(made_line.split()[1]) == n1.hub.thumbnail_maker.made
            assert "hub_thumbnail_render_cpu_seconds_total " in metrics
            stored = await n1.hub.thumbnails.get(sid)
            assert stored is not None
            print(
                f"\nfirst thumbnail {first_after_s:.2f} s after the publish; "
                f"{n1.hub.thumbnail_maker.render_cpu_s / n1.hub.thumbnail_maker.made * 1e3:.2f} ms CPU per picture "
                f"({n1.hub.thumbnail_maker.made} pictures, {len(stored.image)} bytes)"
            )
        finally:
            for peer in (*viewers, publisher):
                await peer.close()


async def test_when_the_publisher_moves_to_another_node_that_node_makes_the_next_pictures(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **THUMBS) as (n1, n2):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        first, second = Publisher(), Publisher()
        try:
            await publish(n1, stream, first)

            async def made_on(node: Node) -> bool:
                stored = await node.hub.thumbnails.get(sid)
                return stored is not None and node.hub.thumbnail_maker.made > 0

            assert await until(lambda: made_on(n1), INTERVAL_S + 8)
            version = (await n2.hub.thumbnails.get(sid)).version  # type: ignore[union-attr]
            await first.close()  # the broadcaster's connection drops; it comes back on node 2
            await publish(n2, stream, second)
            assert await until(lambda: made_on(n2), INTERVAL_S + 8)
            stored = await n1.hub.thumbnails.get(sid)
            assert stored is not None and stored.version > version
            made_on_n1 = n1.hub.thumbnail_maker.made
            assert await until(lambda: n2.hub.thumbnail_maker.made >= 2, INTERVAL_S * 3 + 5)
            assert n1.hub.thumbnail_maker.made == made_on_n1  # node 1 stopped once the publisher left it

            # The stream ends: its picture goes.
            r = await n2.http.post(f"/api/v1/streams/{sid}/end", headers=auth(owner))
            assert r.status_code in (200, 204), r.text

            async def gone() -> bool:
                return (await thumbnail(n1, sid)).status_code == 404

            assert await until(gone, 10)
        finally:
            for peer in (first, second):
                await peer.close()
