"""The transcoded ladder (issue 13): a publisher sending one layer gets lower layers made by a per-stream
transcoder; viewers pick them like rid layers; the forwarding path stays codec-free and the ladder's codec objects
are per stream (one decoder, one encoder per extra layer), never per viewer. Real aiortc publisher and viewers."""

from __future__ import annotations

from typing import Any

import pytest

from sfu import SfuService, SfuSettings, TranscodingFullError
from sfu.ladder import CODEC_OBJECTS
from tests.integration.test_cluster_media import FAST, SDP, live_on, publish
from tests.integration.test_sfu_forwarding import count_codec_work, encoders_created
from tests.support.api import auth, create_stream, register
from tests.support.nodes import Node, hub_nodes
from tests.support.sfu_peers import LOOPBACK, PatternTrack, Publisher, Viewer
from tests.support.waiting import until

pytestmark = pytest.mark.slow

SIZES = {"high": (640, 480), "medium": (320, 240), "low": (160, 120)}


async def _publish(service: SfuService, stream: str, track: Any) -> Publisher:
    publisher = Publisher(video=track, audio=False)
    _, answer = await service.publish(stream, await publisher.offer())
    await publisher.accept(answer)
    assert await until(lambda: service.is_live(stream), 10)
    return publisher


async def _watch(service: SfuService, stream: str) -> tuple[str, Viewer]:
    viewer = Viewer(audio=False)
    session, answer = await service.subscribe(stream, await viewer.offer())
    await viewer.accept(answer)
    return session, viewer


def _size(viewer: Viewer) -> tuple[int, int]:
    return viewer.video.last_size if viewer.video is not None else (0, 0)


async def test_a_single_layer_stream_gets_a_transcoded_ladder_each_viewer_on_its_layer_with_codecs_per_stream() -> None:
    service = SfuService(SfuSettings(announced_ips=LOOPBACK, max_transcoded_streams=1))
    peers: list[Any] = []
    try:
        publisher = await _publish(service, "lad", PatternTrack(640, 480))
        peers.append(publisher)
        watchers = {pref: await _watch(service, "lad") for pref in SIZES}
        peers.extend(viewer for _, viewer in watchers.values())
        codec_work = count_codec_work(service)
        assert await until(lambda: all(_size(v) == SIZES["high"] for _, v in watchers.values()), 15)

        before = dict(CODEC_OBJECTS)
        assert await service.set_ladder("lad", True) is True
        assert await service.set_ladder("lad", True) is True  # idempotent: still one ladder
        for pref, (session, _) in watchers.items():
            await service.set_layer(session, pref)

        async def each_on_its_layer() -> bool:
            return all(_size(viewer) == SIZES[pref] for pref, (_, viewer) in watchers.items())

        assert await until(each_on_its_layer, 20), {p: _size(v) for p, (_, v) in watchers.items()}
        for _, viewer in watchers.values():
            seen = viewer.video.count if viewer.video else 0
            assert await until(lambda v=viewer, s=seen: (v.video.count if v.video else 0) >= s + 20, 10)

        # Codec objects: one decoder and one encoder per extra layer for the stream, whatever the audience; the
        # SFU's own peers decode nothing and encode nothing (the publisher's packets reach 'high' untouched).
        assert CODEC_OBJECTS["decoders"] - before["decoders"] == 1
        assert CODEC_OBJECTS["encoders"] - before["encoders"] == 2
        assert codec_work["decoder_frames"] == 0
        assert encoders_created(service) == 0
        router = next(r for r in service.stats()["routers"] if r["stream_id"] == "lad")
        assert {p["rid"] for p in router["producers"] if p["kind"] == "video"} == {"h", "m", "l"}
        ladder = router["ladder"]
        assert ladder["frames_decoded"] > 0 and min(ladder["frames_encoded"].values()) > 0
        print(
            f"\nladder of 640x480@30 VP8 -> 320x240 + 160x120: {ladder['cpu_share'] * 100:.1f} % of a core ({ladder})"
        )

        # The cap: a second stream cannot start one; a stream that sends simulcast needs none.
        other = await _publish(service, "other", PatternTrack(320, 240))
        peers.append(other)
        with pytest.raises(TranscodingFullError):
            await service.set_ladder("other", True)

        # Off again: every viewer is back on the publisher's own layer, decoding on.
        assert await service.set_ladder("lad", False) is False
        assert await until(lambda: all(_size(v) == SIZES["high"] for _, v in watchers.values()), 15)
        router = next(r for r in service.stats()["routers"] if r["stream_id"] == "lad")
        assert router["ladder"] is None and [p["rid"] for p in router["producers"] if p["kind"] == "video"] == [None]
        assert await service.set_ladder("other", True) is True  # the slot is free again
    finally:
        for peer in peers:
            await peer.close()
        await service.close()


def _ladder_of(node: Node, stream_id: str) -> Any:
    routers = node.hub.sfu.stats()["routers"]
    return next((r["ladder"] for r in routers if r["stream_id"] == stream_id), None)


async def test_the_owner_turns_the_ladder_on_over_http_and_it_starts_again_when_the_publisher_reconnects(
    db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(1, db_name, mongo_client, None, sfu_max_transcoded_streams=1) as (node,):
        owner = await register(node.http, "Caster")
        stream = await create_stream(node.http, owner)
        sid = stream["id"]
        first = Publisher(video=PatternTrack(640, 480), audio=False)
        second = Publisher(video=PatternTrack(640, 480), audio=False)
        viewer = Viewer(audio=False)
        try:
            path = f"/api/v1/streams/{sid}/transcoding"
            stranger = await register(node.http, "Stranger")
            r = await node.http.put(path, json={"enabled": True}, headers=auth(stranger))
            assert r.status_code == 403, r.text
            r = await node.http.put(path, json={"enabled": True}, headers=auth(owner))
            assert r.status_code == 200 and r.json() == {"enabled": True, "running": False}  # stored, not live yet

            await publish(node, stream, first)  # the stream's option starts the ladder with the publisher
            assert await until(lambda: _ladder_of(node, sid) is not None, 10)
            r = await node.http.post(f"/api/v1/whep/{sid}?layer=low", content=await viewer.offer(), headers=SDP)
            assert r.status_code == 201, r.text
            await viewer.accept(r.text)
            assert await until(lambda: _size(viewer) == SIZES["low"], 20)
            metrics = (await node.http.get("/metrics", headers=auth(owner))).text
            assert "hub_sfu_transcoded_ladders 1.0" in metrics
            assert f'hub_sfu_ladder_cpu_seconds_total{{stream="{sid}"}}' in metrics
            assert f'hub_sfu_producer_packets_total{{kind="video",layer="l",stream="{sid}"}}' in metrics

            await first.close()  # the broadcaster's connection drops; it comes back within the grace
            await publish(node, stream, second)
            seen = viewer.video.count if viewer.video else 0

            async def low_again() -> bool:
                return _ladder_of(node, sid) is not None and _size(viewer) == SIZES["low"]

            assert await until(low_again, 20)
            assert await until(lambda: (viewer.video.count if viewer.video else 0) >= seen + 20, 10)

            r = await node.http.put(path, json={"enabled": False}, headers=auth(owner))
            assert r.status_code == 200 and r.json() == {"enabled": False, "running": False}
            assert _ladder_of(node, sid) is None
            assert await until(lambda: _size(viewer) == SIZES["high"], 15)  # back on the publisher's layer
        finally:
            for peer in (viewer, first, second):
                await peer.close()


async def test_the_transcoded_layers_reach_viewers_on_another_node_through_the_relay(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **FAST) as (n1, n2):
        owner = await register(n1.http, "Caster")
        stream = await create_stream(n1.http, owner)
        sid = stream["id"]
        publisher = Publisher(video=PatternTrack(640, 480), audio=False)
        viewer = Viewer(audio=False)
        try:
            r = await n1.http.put(f"/api/v1/streams/{sid}/transcoding", json={"enabled": True}, headers=auth(owner))
            assert r.status_code == 200, r.text
            await publish(n1, stream, publisher)
            assert await until(lambda: _ladder_of(n1, sid) is not None, 10)
            assert await until(lambda: live_on(n2, sid), 10)
            r = await n2.http.post(f"/api/v1/whep/{sid}?layer=low", content=await viewer.offer(), headers=SDP)
            assert r.status_code == 201, r.text
            await viewer.accept(r.text)
            # Node 2 relays every layer (one pipe track each) and places its viewer on the quarter-size one; only
            # node 1 transcodes.
            assert await until(lambda: _size(viewer) == SIZES["low"], 20), _size(viewer)
            assert _ladder_of(n2, sid) is None
            edge = next(r for r in n2.hub.sfu.stats()["routers"] if r["stream_id"] == sid)
            assert {p["rid"] for p in edge["producers"] if p["kind"] == "video"} == {"h", "m", "l"}
        finally:
            for peer in (viewer, publisher):
                await peer.close()
