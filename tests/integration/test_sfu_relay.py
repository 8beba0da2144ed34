"""The relay pipe between two SFUs (an origin and an edge, as two nodes would be) with real aiortc peers on loopback:
one copy per edge, the edge's own keyframe cache, loss repaired across the hop, the origin moving, the stream ending,
forged offers refused. Zero codec work on either side."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfu import (
    InvalidRelayOfferError,
    PublisherStarted,
    RelayStarted,
    RelayStopped,
    SessionClosed,
    SfuService,
    SfuSettings,
    StreamNotLiveError,
)
from sfu.pipe import PipeOut, decode_offer, encode_offer
from tests.integration.test_sfu_forwarding import count_codec_work, encoders_created
from tests.support.sfu_events import SfuEvents
from tests.support.sfu_peers import Publisher, Viewer, assert_keeping_up, keeps_up
from tests.support.waiting import until

pytestmark = pytest.mark.slow

SECRET = "test-cluster-secret"


def settings(**overrides: Any) -> SfuSettings:
    values: dict[str, Any] = {
        "announced_ips": ("127.0.0.1",),
        "reconnect_grace_s": 5.0,
        "gop_refresh_s": 60.0,
        "relay_secret": SECRET,
    }
    values.update(overrides)
    return SfuSettings(**values)


@pytest.fixture
async def nodes() -> AsyncIterator[tuple[SfuService, SfuService, SfuEvents]]:
    origin = SfuService(settings())
    edge = SfuService(settings())
    recorder = SfuEvents()
    edge.add_listener(recorder)
    yield origin, edge, recorder
    await edge.close()
    await origin.close()


async def publish(service: SfuService, stream: str, audio: bool = True) -> Publisher:
    publisher = Publisher(audio=audio)
    _, answer = await service.publish(stream, await publisher.offer())
    await publisher.accept(answer)
    return publisher


async def watch(service: SfuService, stream: str, audio: bool = True) -> Viewer:
    viewer = Viewer(audio=audio)
    _, answer = await service.subscribe(stream, await viewer.offer())
    await viewer.accept(answer)
    return viewer


def pipes(service: SfuService) -> list[PipeOut]:
    return list(service._pipes.values())


def video_producer(service: SfuService, stream: str) -> Any:
    return service._routers[stream].producers["video"]


async def test_edge_viewers_decode_from_one_relayed_copy_with_zero_codec_work(
    nodes: tuple[SfuService, SfuService, SfuEvents],
) -> None:
    origin, edge, recorder = nodes
    publisher = await publish(origin, "r-1")
    relay_id = await edge.attach_relay("r-1", await origin.open_origin_pipe("r-1"), {"from": "origin"})
    assert edge.is_live("r-1") and edge.has_relay("r-1") and not edge.has_publisher("r-1")
    viewers = [await watch(edge, "r-1") for _ in range(3)]
    codec_work = [count_codec_work(origin), count_codec_work(edge)]
    try:
        assert await until(lambda: all(v.video and v.video.count >= 60 for v in viewers), timeout=15)
        assert_keeping_up(await keeps_up(publisher, viewers))
        for viewer in viewers:
            assert viewer.video is not None and viewer.audio is not None
            assert viewer.video.sizes == {(320, 240)}
            assert viewer.audio.count > 50
        assert [c["decoder_frames"] for c in codec_work] == [0, 0]
        assert encoders_created(origin) == 0 and encoders_created(edge) == 0
        # one copy: one pipe at the origin, and the edge received each packet once whatever its audience
        assert len(pipes(origin)) == 1 and origin.stats()["viewers"] == 0
        source = video_producer(origin, "r-1")
        relayed = video_producer(edge, "r-1")
        assert relayed.consumer_count == 3
        assert 0.9 * source.packets <= relayed.packets <= source.packets
        pipe = pipes(origin)[0]
        assert pipe.sent <= source.packets + origin._routers["r-1"].producers["audio"].packets
        assert [e.relay_id for e in recorder.of(RelayStarted)] == [relay_id]
        assert recorder.of(PublisherStarted) == []  # the edge never claims the publisher
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_a_late_joiner_on_the_edge_gets_its_first_frame_from_the_edge_cache_without_a_pli(
    nodes: tuple[SfuService, SfuService, SfuEvents],
) -> None:
    origin, edge, _ = nodes
    publisher = await publish(origin, "r-2", audio=False)
    await edge.attach_relay("r-2", await origin.open_origin_pipe("r-2"))
    first = await watch(edge, "r-2", audio=False)
    try:
        assert await until(lambda: first.video is not None and first.video.count > 45, timeout=15)
        requests_before = publisher.keyframe_requests
        plis_before = pipes(origin)[0].plis
        started = time.monotonic()
        late = await watch(edge, "r-2", audio=False)
        assert await until(lambda: late.video is not None and late.video.count > 0, timeout=3)
        assert late.video is not None
        first_frame_s = late.video.times[0] - started
        await asyncio.sleep(1.0)
        assert publisher.keyframe_requests == requests_before, "a PLI reached the publisher"
        assert pipes(origin)[0].plis == plis_before, "a PLI crossed the hop"
        assert first_frame_s < 1.0
        assert_keeping_up(await keeps_up(publisher, [late]))
        assert video_producer(edge, "r-2").cache_hits >= 1
        await late.close()
    finally:
        await first.close()
        await publisher.close()


async def test_two_percent_loss_on_the_hop_is_repaired_from_the_origin_history(
    nodes: tuple[SfuService, SfuService, SfuEvents], caplog: pytest.LogCaptureFixture
) -> None:
    origin, edge, _ = nodes
    publisher = await publish(origin, "r-3", audio=False)
    await edge.attach_relay("r-3", await origin.open_origin_pipe("r-3"))
    pipe = pipes(origin)[0]
    seen: set[int] = set()

    def drop(data: bytes) -> bool:
        """Every 50th new video packet (2 %); retransmissions (a sequence number seen before) pass."""
        seq = int.from_bytes(data[2:4], "big")
        if seq in seen:
            return False
        seen.add(seq)
        return len(seen) > 100 and len(seen) % 50 == 0

    pipe.drop = drop
    viewer = await watch(edge, "r-3", audio=False)
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    try:
        assert await until(lambda: pipe.dropped >= 6, timeout=20)
        await asyncio.sleep(0.5)
        relay = edge._routers["r-3"].relay
        assert relay is not None
        assert relay.pipe.repaired >= pipe.dropped - 1
        assert relay.pipe.unrepaired == 0
        assert pipe.stats()["retransmits"] >= pipe.dropped - 1
        assert_keeping_up(await keeps_up(publisher, [viewer]))
        assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
        assert publisher.retransmissions == 0  # repaired by the origin's history, not by the publisher
    finally:
        await viewer.close()
        await publisher.close()


async def test_edge_viewers_continue_without_renegotiating_when_the_origin_moves(
    nodes: tuple[SfuService, SfuService, SfuEvents],
) -> None:
    origin, edge, recorder = nodes
    other_origin = SfuService(settings())
    first = await publish(origin, "r-4")
    await edge.attach_relay("r-4", await origin.open_origin_pipe("r-4"))
    viewers = [await watch(edge, "r-4") for _ in range(2)]
    second: Publisher | None = None
    try:
        assert await until(lambda: all(v.video and v.video.count >= 30 for v in viewers), timeout=15)
        remote_before = [v.pc.remoteDescription.sdp for v in viewers]
        await first.close()  # the broadcaster drops off the origin ...
        await origin.end_stream("r-4", "moved")  # ... and the cluster moves the stream (a non-final reason)
        assert await until(lambda: bool(recorder.of(RelayStopped)), timeout=3)
        assert edge.is_live("r-4") and not edge.has_relay("r-4")  # in grace, viewers kept
        counts = [v.video.count for v in viewers if v.video]
        second = await publish(other_origin, "r-4")  # ... and publishes again elsewhere
        await edge.attach_relay("r-4", await other_origin.open_origin_pipe("r-4"))
        assert await until(
            lambda: all(v.video and v.video.count >= c + 45 for v, c in zip(viewers, counts, strict=True)), 15
        )
        assert_keeping_up(await keeps_up(second, viewers))
        for viewer, remote in zip(viewers, remote_before, strict=True):
            assert viewer.pc.connectionState == "connected"
            assert viewer.pc.remoteDescription.sdp == remote
        assert recorder.of(RelayStopped)[0].reason == "origin_closed:moved"
        assert not any(e.role == "viewer" for e in recorder.of(SessionClosed))
    finally:
        for viewer in viewers:
            await viewer.close()
        if second is not None:
            await second.close()
        await other_origin.close()


async def test_ending_the_stream_at_the_origin_ends_it_on_the_edge_within_a_second(
    nodes: tuple[SfuService, SfuService, SfuEvents],
) -> None:
    origin, edge, recorder = nodes
    publisher = await publish(origin, "r-5", audio=False)
    await edge.attach_relay("r-5", await origin.open_origin_pipe("r-5"))
    viewer = await watch(edge, "r-5", audio=False)
    try:
        assert await until(lambda: viewer.video is not None and viewer.video.count > 10, timeout=15)
        ended = time.monotonic()
        await origin.end_stream("r-5", "stream_ended")
        assert await until(lambda: not edge.is_live("r-5"), timeout=1.0)
        assert time.monotonic() - ended < 1.0
        assert await until(lambda: any(e.role == "viewer" for e in recorder.of(SessionClosed)), timeout=2)
        with pytest.raises(StreamNotLiveError):
            await edge.subscribe("r-5", await Viewer().offer())
        assert pipes(origin) == []
    finally:
        await viewer.close()
        await publisher.close()


async def test_forged_expired_or_misdirected_offers_are_refused_and_change_nothing(
    nodes: tuple[SfuService, SfuService, SfuEvents],
) -> None:
    origin, edge, _ = nodes
    stranger = SfuService(settings(relay_secret="another-cluster"))
    publisher = await publish(origin, "r-6", audio=False)
    try:
        offer = await origin.open_origin_pipe("r-6")
        with pytest.raises(InvalidRelayOfferError) as forged:
            await stranger.attach_relay("r-6", offer)
        assert forged.value.status == 400 and forged.value.code == "invalid_relay_offer"
        with pytest.raises(InvalidRelayOfferError):
            await edge.attach_relay("another-stream", offer)
        parsed = decode_offer(offer, SECRET)
        with pytest.raises(InvalidRelayOfferError):
            decode_offer(encode_offer(parsed, SECRET), SECRET, now=parsed.expires_at + 1)
        tampered = offer[:-4] + ("AAAA" if not offer.endswith("AAAA") else "BBBB")
        for bad in (tampered, "v1.x.y", "", "garbage"):
            with pytest.raises(InvalidRelayOfferError):
                await edge.attach_relay("r-6", bad)
        assert not edge.is_live("r-6") and not stranger.is_live("r-6") and edge.stats()["streams"] == 0
        with pytest.raises(StreamNotLiveError):
            await origin.open_origin_pipe("nothing-here")
        # a packet from someone without the keys does not latch the pipe
        pipe = pipes(origin)[0]
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            asyncio.DatagramProtocol, remote_addr=("127.0.0.1", pipe.port)
        )
        transport.sendto(bytes((0x80, 201, 0, 1)) + bytes(20))
        await asyncio.sleep(0.2)
        transport.close()
        assert not pipe.connected and pipe.rejected == 1
    finally:
        await publisher.close()
        await stranger.close()


async def test_a_silent_origin_keeps_edge_viewers_in_grace_until_the_publisher_comes_back_on_the_edge() -> None:
    origin = SfuService(settings())
    edge = SfuService(settings(media_timeout_s=1.0))
    recorder = SfuEvents()
    edge.add_listener(recorder)
    first = await publish(origin, "r-7", audio=False)
    await edge.attach_relay("r-7", await origin.open_origin_pipe("r-7"))
    viewer = await watch(edge, "r-7", audio=False)
    second: Publisher | None = None
    try:
        assert await until(lambda: viewer.video is not None and viewer.video.count > 30, timeout=15)
        remote_before = viewer.pc.remoteDescription.sdp
        pipes(origin)[0]._transport.close()  # the origin node dies: no goodbye, the media just stops
        assert await until(lambda: bool(recorder.of(RelayStopped)), timeout=4)
        assert recorder.of(RelayStopped)[0].reason == "origin_silent"
        assert edge.is_live("r-7") and not edge.has_relay("r-7")  # viewers kept through the grace period
        count = viewer.video.count if viewer.video else 0
        second = await publish(edge, "r-7", audio=False)  # the broadcaster reconnects, to the edge node this time
        assert edge.has_publisher("r-7")
        assert await until(lambda: viewer.video is not None and viewer.video.count > count + 45, timeout=15)
        assert viewer.pc.remoteDescription.sdp == remote_before and viewer.pc.connectionState == "connected"
        assert [e.reconnected for e in recorder.of(PublisherStarted)] == [True]  # not a new stream
        assert not any(e.role == "viewer" for e in recorder.of(SessionClosed))
    finally:
        await viewer.close()
        await first.close()
        if second is not None:
            await second.close()
        await edge.close()
        await origin.close()
