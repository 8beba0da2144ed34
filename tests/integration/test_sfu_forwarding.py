"""The SFU with real aiortc peers over loopback: forwarding, instant join, loss recovery, reconnect, bad input."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from sfu import (
    AlreadyPublishingError,
    InvalidSdpError,
    PublisherStarted,
    PublisherStopped,
    SessionClosed,
    SfuService,
    SfuSettings,
    StreamNotLiveError,
    StreamStatsSampled,
)
from sfu.session import Session
from tests.support.sdp_offers import offer as chromium_offer
from tests.support.sfu_events import SfuEvents
from tests.support.sfu_peers import Publisher, Viewer, assert_keeping_up, drop_every, keeps_up
from tests.support.waiting import until

pytestmark = pytest.mark.slow


@pytest.fixture
async def sfu() -> AsyncIterator[tuple[SfuService, SfuEvents]]:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), reconnect_grace_s=5.0, gop_refresh_s=60.0))
    recorder = SfuEvents()
    service.add_listener(recorder)
    yield service, recorder
    await service.close()


async def publish(service: SfuService, stream: str, codec: str = "video/VP8", audio: bool = True) -> Publisher:
    publisher = Publisher(codec, audio=audio)
    _, answer = await service.publish(stream, await publisher.offer(), {"who": "publisher"})
    await publisher.accept(answer)
    return publisher


async def watch(service: SfuService, stream: str) -> Viewer:
    viewer = Viewer()
    _, answer = await service.subscribe(stream, await viewer.offer(), {"who": "viewer"})
    await viewer.accept(answer)
    return viewer


def sessions(service: SfuService) -> list[Session]:
    return list(service._sessions.values())


def count_codec_work(service: SfuService) -> dict[str, int]:
    """Instrument the SFU's own receivers and senders: frames handed to a decoder, encoders created."""
    counts = {"decoder_frames": 0}
    for session in sessions(service):
        for transceiver in session.pc.getTransceivers():
            decoder_queue = transceiver.receiver._RTCRtpReceiver__decoder_queue  # type: ignore[attr-defined]
            put = decoder_queue.put

            def counting_put(item: Any, *args: Any, _put: Any = put, **kwargs: Any) -> None:
                if item is not None:
                    counts["decoder_frames"] += 1
                _put(item, *args, **kwargs)

            decoder_queue.put = counting_put
    return counts


def encoders_created(service: SfuService) -> int:
    return sum(
        t.sender._RTCRtpSender__encoder is not None  # type: ignore[attr-defined]
        for session in sessions(service)
        for t in session.pc.getTransceivers()
    )


@pytest.mark.parametrize("codec", ["video/VP8", "video/H264"])
async def test_every_viewer_decodes_at_the_publisher_rate_with_zero_codec_work(
    sfu: tuple[SfuService, SfuEvents], codec: str
) -> None:
    service, recorder = sfu
    publisher = await publish(service, "live-1", codec)
    viewers = [await watch(service, "live-1") for _ in range(3)]
    codec_work = count_codec_work(service)
    try:
        assert await until(lambda: all(v.video and v.video.count >= 60 for v in viewers), timeout=10)
        assert_keeping_up(await keeps_up(publisher, viewers))  # the publisher's rate, whatever the machine's load
        for viewer in viewers:
            assert viewer.video is not None and viewer.audio is not None
            assert viewer.video.sizes == {(320, 240)}
            assert viewer.audio.count > 50  # 20 ms Opus frames decoded
        assert codec_work["decoder_frames"] == 0
        assert encoders_created(service) == 0
        assert [type(e) for e in recorder.of(PublisherStarted)] == [PublisherStarted]
        stats = service.stats()
        video = next(p for p in stats["routers"][0]["producers"] if p["kind"] == "video")
        assert video["mime_type"].lower() == codec.lower()
        assert video["consumers"] == 3 and video["packets"] > 100
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()


async def test_a_late_viewer_decodes_its_first_frame_from_the_cache_without_a_pli(
    sfu: tuple[SfuService, SfuEvents],
) -> None:
    service, _ = sfu
    publisher = await publish(service, "live-2")
    first = await watch(service, "live-2")
    try:
        assert await until(lambda: first.video is not None and first.video.count > 45, timeout=10)
        requests_before = publisher.keyframe_requests
        started = time.monotonic()
        late = await watch(service, "live-2")
        assert await until(lambda: late.video is not None and late.video.count > 0, timeout=3)
        assert late.video is not None
        first_frame_s = late.video.times[0] - started
        await asyncio.sleep(1.0)
        assert publisher.keyframe_requests == requests_before, "a PLI reached the publisher"
        assert first_frame_s < 1.0
        assert_keeping_up(await keeps_up(publisher, [late]))
        producer = next(p for p in service.stats()["routers"][0]["producers"] if p["kind"] == "video")
        assert producer["cache_hits"] >= 1
        await late.close()
    finally:
        await first.close()
        await publisher.close()


async def test_loss_toward_a_viewer_is_repaired_by_rtx_from_history(
    sfu: tuple[SfuService, SfuEvents], caplog: pytest.LogCaptureFixture
) -> None:
    service, _ = sfu
    publisher = await publish(service, "live-3", audio=False)
    viewer = await watch(service, "live-3")
    dropped = drop_every(viewer.pc, inbound=True, period=50)  # 2 % of the viewer's video packets
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    try:
        assert await until(lambda: dropped() >= 6, timeout=15)
        await asyncio.sleep(0.5)
        consumer = next(c for c in service.stats()["consumers"] if c["kind"] == "video")
        assert consumer["retransmits"] >= dropped() - 1
        assert consumer["nack_misses"] == 0
        assert_keeping_up(await keeps_up(publisher, [viewer]))
        assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
        assert publisher.retransmissions == 0  # answered by the SFU, not by the publisher
    finally:
        await viewer.close()
        await publisher.close()


async def test_upstream_loss_is_repaired_by_nack_and_forwarded_in_order(
    sfu: tuple[SfuService, SfuEvents], caplog: pytest.LogCaptureFixture
) -> None:
    service, _ = sfu
    publisher = await publish(service, "live-4", audio=False)
    viewer = await watch(service, "live-4")
    dropped = drop_every(publisher.pc, inbound=False, period=50)  # 2 % of the publisher's video packets
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    try:
        assert await until(lambda: dropped() >= 6, timeout=15)
        await asyncio.sleep(0.5)
        producer = next(p for p in service.stats()["routers"][0]["producers"] if p["kind"] == "video")
        assert producer["nacks_sent"] >= dropped() - 1
        assert publisher.retransmissions >= dropped() - 1
        assert_keeping_up(await keeps_up(publisher, [viewer]))
        assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
    finally:
        await viewer.close()
        await publisher.close()


async def test_viewers_resume_without_renegotiating_when_the_publisher_reconnects_within_grace(
    sfu: tuple[SfuService, SfuEvents],
) -> None:
    service, recorder = sfu
    first = await publish(service, "live-5")
    viewers = [await watch(service, "live-5") for _ in range(2)]
    second: Publisher | None = None
    try:
        assert await until(lambda: all(v.video and v.video.count >= 30 for v in viewers), timeout=10)
        with pytest.raises(AlreadyPublishingError) as conflict:
            await service.publish("live-5", await Publisher().offer())
        assert conflict.value.status == 409
        remote_before = [v.pc.remoteDescription.sdp for v in viewers]
        await first.close()  # the broadcaster drops
        assert await until(lambda: not service.has_publisher("live-5"), timeout=5)
        assert service.is_live("live-5")  # within grace
        counts = [v.video.count for v in viewers if v.video]
        await asyncio.sleep(0.5)
        second = await publish(service, "live-5")
        assert await until(
            lambda: all(v.video and v.video.count >= c + 45 for v, c in zip(viewers, counts, strict=True)), 10
        )
        for viewer, remote in zip(viewers, remote_before, strict=True):
            assert viewer.pc.connectionState == "connected"
            assert viewer.pc.remoteDescription.sdp == remote
        assert second is not None
        assert_keeping_up(await keeps_up(second, viewers))
        started = recorder.of(PublisherStarted)
        assert [e.reconnected for e in started] == [False, True]
        assert recorder.of(PublisherStopped) == []
    finally:
        for viewer in viewers:
            await viewer.close()
        if second is not None:
            await second.close()


async def test_the_stream_ends_and_viewers_are_closed_when_the_grace_period_runs_out() -> None:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), reconnect_grace_s=0.5))
    recorder = SfuEvents()
    service.add_listener(recorder)
    publisher = await publish(service, "live-6")
    viewer = await watch(service, "live-6")
    try:
        assert await until(lambda: viewer.video is not None and viewer.video.count > 5, timeout=10)
        await publisher.close()
        assert await until(lambda: bool(recorder.of(PublisherStopped)), timeout=5)
        stopped = recorder.of(PublisherStopped)[0]
        assert stopped.stream_id == "live-6" and stopped.reason == "publisher_gone"
        assert stopped.app_data == {"who": "publisher"}
        assert not service.is_live("live-6")
        assert await until(lambda: any(e.role == "viewer" for e in recorder.of(SessionClosed)), timeout=3)
        with pytest.raises(StreamNotLiveError) as not_live:
            await service.subscribe("live-6", await Viewer().offer())
        assert not_live.value.status == 404
    finally:
        await viewer.close()
        await service.close()


async def test_bad_offers_get_a_clear_4xx_and_the_sfu_keeps_serving(sfu: tuple[SfuService, SfuEvents]) -> None:
    service, _ = sfu
    publisher = await publish(service, "live-7")
    viewer = await watch(service, "live-7")
    try:
        for bad in ("", "not sdp", "v=0\r\ngarbage", (await Viewer(audio=False).offer()).replace("VP8", "VP9")):
            with pytest.raises(InvalidSdpError) as error:
                await service.publish("other", bad)
            assert error.value.status == 400
        # The BUNDLE group's first m-line carries the shared transport; one of a kind aiortc ignores left the video
        # section with no transport at all (a 500 found by tests/integration/test_sdp_fuzz_http.py)
        odd_tag = chromium_offer("chromium", "sendonly").replace("m=audio", "m=:audio", 1)
        assert "a=group:BUNDLE 0 1" in odd_tag and "a=mid:0\r\n" in odd_tag.split("m=video")[0]
        with pytest.raises(InvalidSdpError, match="BUNDLE"):
            await service.publish("other", odd_tag)
        h264_only = (await Viewer().offer()).replace("VP8/90000", "XX8/90000")
        with pytest.raises(InvalidSdpError):
            await service.subscribe("live-7", h264_only)  # the stream is VP8; this viewer cannot receive it
        with pytest.raises(StreamNotLiveError):
            await service.subscribe("nobody-here", await Viewer().offer())
        assert viewer.video is not None and await until(lambda: viewer.video is not None and viewer.video.count > 5, 5)
        assert_keeping_up(await keeps_up(publisher, [viewer]))  # and the SFU kept serving
    finally:
        await viewer.close()
        await publisher.close()


async def test_closing_the_publisher_session_cascades_to_viewers(sfu: tuple[SfuService, SfuEvents]) -> None:
    service, recorder = sfu
    publisher = Publisher()
    session_id, answer = await service.publish("live-8", await publisher.offer(), "app")
    await publisher.accept(answer)
    viewer = await watch(service, "live-8")
    try:
        assert await until(lambda: viewer.video is not None and viewer.video.count > 5, timeout=10)
        await service.close_session(session_id)  # WHIP DELETE: ends at once, no grace
        assert not service.is_live("live-8")
        assert await until(lambda: len(recorder.of(SessionClosed)) == 2, timeout=3)
        assert recorder.of(PublisherStopped)[0].reason == "unpublished"
        assert service.stats()["viewers"] == 0
        await service.close()
        await service.close()  # idempotent
    finally:
        await viewer.close()
        await publisher.close()


async def test_viewer_keyframe_requests_reach_the_publisher_at_most_once_per_interval() -> None:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), pli_interval_s=1.0, gop_refresh_s=60.0))
    publisher = await publish(service, "live-9", audio=False)
    viewers = [await watch(service, "live-9") for _ in range(3)]
    try:
        assert await until(lambda: all(v.video and v.video.count > 10 for v in viewers), timeout=10)
        await asyncio.sleep(1.1)  # past any join-time request
        before = publisher.keyframe_requests
        for _ in range(5):  # 15 PLIs from three viewers within half a second
            for viewer in viewers:
                receiver = viewer.pc.getTransceivers()[0].receiver
                ssrc = next(iter(receiver._RTCRtpReceiver__remote_streams))  # type: ignore[attr-defined]
                await receiver._send_rtcp_pli(ssrc)
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
        assert publisher.keyframe_requests == before + 1
        producer = next(p for p in service.stats()["routers"][0]["producers"] if p["kind"] == "video")
        assert producer["plis_suppressed"] >= 14
    finally:
        for viewer in viewers:
            await viewer.close()
        await publisher.close()
        await service.close()


async def test_a_peer_that_never_connects_is_closed_after_the_connect_timeout() -> None:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), connect_timeout_s=0.5, pending_timeout_s=0.5))
    recorder = SfuEvents()
    service.add_listener(recorder)
    publisher = await publish(service, "live-10", audio=False)
    ghost = Viewer()
    try:
        await service.subscribe("live-10", await ghost.offer())  # the answer is never applied
        assert await until(lambda: any(e.reason == "connect_timeout" for e in recorder.of(SessionClosed)), 5)
        assert service.stats()["viewers"] == 0
        assert service.has_publisher("live-10")
    finally:
        await ghost.close()
        await publisher.close()
        await service.close()


async def test_stats_events_report_each_stream_periodically() -> None:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), stats_interval_s=0.5))
    recorder = SfuEvents()
    service.add_listener(recorder)
    publisher = await publish(service, "live-11")
    viewer = await watch(service, "live-11")
    try:
        assert await until(lambda: len(recorder.of(StreamStatsSampled)) >= 2, timeout=5)
        sample = recorder.of(StreamStatsSampled)[-1]
        assert sample.stream_id == "live-11"
        assert {p["kind"] for p in sample.stats["producers"]} == {"audio", "video"}
        assert len(sample.stats["consumer_stats"]) == 2
    finally:
        await viewer.close()
        await publisher.close()
        await service.close()


async def test_a_publisher_whose_media_stops_is_dropped_and_the_stream_ends_after_grace() -> None:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), media_timeout_s=1.0, reconnect_grace_s=0.5))
    recorder = SfuEvents()
    service.add_listener(recorder)
    publisher = await publish(service, "live-12", audio=False)
    viewer = await watch(service, "live-12")
    try:
        assert await until(lambda: viewer.video is not None and viewer.video.count > 5, timeout=10)
        publisher.video.sender.replaceTrack(None)  # the connection stays up, the media stops
        assert await until(lambda: bool(recorder.of(PublisherStopped)), timeout=6)
        closed = [e for e in recorder.of(SessionClosed) if e.role == "publisher"]
        assert closed and closed[0].reason == "media_timeout"
        assert recorder.of(PublisherStopped)[0].reason == "publisher_gone"
    finally:
        await viewer.close()
        await publisher.close()
        await service.close()


async def test_a_publisher_that_never_connects_does_not_start_or_end_the_stream() -> None:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), connect_timeout_s=0.5, reconnect_grace_s=0.3))
    recorder = SfuEvents()
    service.add_listener(recorder)
    ghost = Publisher()
    try:
        await service.publish("live-13", await ghost.offer())  # the answer is never applied
        assert await until(lambda: any(e.reason == "connect_timeout" for e in recorder.of(SessionClosed)), 5)
        assert await until(lambda: not service.is_live("live-13"), 3)
        await asyncio.sleep(0.3)
        assert recorder.of(PublisherStarted) == [] and recorder.of(PublisherStopped) == []
    finally:
        await ghost.close()
        await service.close()


async def test_dropping_a_publisher_keeps_its_viewers_for_the_next_one(sfu: tuple[SfuService, SfuEvents]) -> None:
    service, recorder = sfu
    first = Publisher(audio=False)
    first_session, answer = await service.publish("live-14", await first.offer())
    await first.accept(answer)
    viewer = await watch(service, "live-14")
    second: Publisher | None = None
    try:
        assert await until(lambda: viewer.video is not None and viewer.video.count > 15, timeout=10)
        await service.drop_publisher(first_session)  # the broadcaster is back on a new connection
        assert not service.has_publisher("live-14") and service.is_live("live-14")
        assert any(e.reason == "replaced" for e in recorder.of(SessionClosed))
        count = viewer.video.count if viewer.video else 0
        second = await publish(service, "live-14", audio=False)
        assert await until(lambda: viewer.video is not None and viewer.video.count > count + 30, timeout=10)
        assert recorder.of(PublisherStopped) == []
    finally:
        await viewer.close()
        await first.close()
        if second is not None:
            await second.close()
