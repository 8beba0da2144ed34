"""Recording in the SFU with real aiortc peers: RTP to WebM segments without transcoding, decoded here with PyAV."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sfu import SfuService, SfuSettings
from sfu.events import RecordingSegmentClosed, RecordingStopped
from sfu.recorder import RecordingSpec
from tests.support.recording_peers import SyncedPublisher, decode
from tests.support.sfu_events import SfuEvents
from tests.support.waiting import until

pytestmark = pytest.mark.slow


@pytest.fixture
async def sfu() -> AsyncIterator[tuple[SfuService, SfuEvents]]:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), reconnect_grace_s=5.0, gop_refresh_s=60.0))
    events = SfuEvents()
    service.add_listener(events)
    yield service, events
    await service.close()


async def publish(service: SfuService, stream: str) -> SyncedPublisher:
    publisher = SyncedPublisher()
    _, answer = await service.publish(stream, await publisher.offer(), None)
    await publisher.accept(answer)

    def flowing() -> bool:
        stats = service.stats()["routers"]
        return bool(stats) and all(p["packets"] > 20 for p in stats[0]["producers"]) and len(stats[0]["producers"]) == 2

    assert await until(flowing, 15)
    return publisher


async def test_ten_seconds_of_vp8_and_opus_become_webm_segments_that_decode_in_sync(
    sfu: tuple[SfuService, SfuEvents], tmp_path: Path
) -> None:
    service, events = sfu
    publisher = await publish(service, "rec-a")
    try:
        await service.start_recording("rec-a", RecordingSpec("r1", str(tmp_path), segment_s=4.0))
        await asyncio.sleep(10)
        await service.stop_recording("rec-a", "r1")
    finally:
        await publisher.close()
    segments = events.of(RecordingSegmentClosed)
    stopped = events.of(RecordingStopped)
    assert [s.index for s in segments] == list(range(len(segments))) and len(segments) >= 3
    assert stopped and stopped[0].reason == "stopped" and stopped[0].dropped_packets == 0
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(s.path) for s in segments)  # no .part left
    total = 0.0
    frames = 0
    checked = 0
    for segment in segments:
        assert segment.path.endswith(".webm")
        decoded = decode(segment.path)
        assert decoded.size == (320, 240)
        assert decoded.video_frames == segment.video_frames
        total += decoded.duration_s
        frames += decoded.video_frames
        # Each segment starts where the previous one ended (the timeline is the recording's).
        assert abs(decoded.video_start_s - segment.start_s) < 0.1
        offsets = decoded.sync_offsets()
        checked += len(offsets)
        assert all(abs(o) < 0.1 for o in offsets), f"A/V off by {offsets} s in {segment.path}: {decoded}"
    assert 9.0 <= total <= 11.0, total
    # The publisher sends 30 fps (fewer when this machine is busy): most of 10 s worth of frames arrived.
    assert frames >= 0.7 * 30 * total, (frames, total)
    assert checked >= 3  # flashes every 2 s, each compared with its beep


async def test_a_recorder_killed_mid_segment_loses_only_that_segment(
    sfu: tuple[SfuService, SfuEvents], tmp_path: Path
) -> None:
    service, events = sfu
    publisher = await publish(service, "rec-b")
    try:
        await service.start_recording("rec-b", RecordingSpec("r2", str(tmp_path), segment_s=2.0))
        assert await until(lambda: len(events.of(RecordingSegmentClosed)) >= 2, 15)
        await asyncio.sleep(1.0)  # well into the next segment
        service.kill_recording("rec-b")
    finally:
        await publisher.close()
    segments = events.of(RecordingSegmentClosed)
    assert not events.of(RecordingStopped)  # a crash says nothing
    leftovers = [name for name in os.listdir(tmp_path) if name.endswith(".part")]
    assert len(leftovers) <= 1
    for segment in segments:
        decoded = decode(segment.path)
        assert decoded.video_frames == segment.video_frames > 0
        assert 1.0 <= decoded.duration_s <= 5.0  # 2 s, then the next keyframe (slower on a busy machine)


async def test_a_full_recording_queue_drops_and_counts_instead_of_blocking(tmp_path: Path) -> None:
    from sfu.packet import ForwardPacket
    from sfu.recorder import StreamRecorder

    recorder = StreamRecorder("s", RecordingSpec("r3", str(tmp_path), queue_packets=2), lambda _e: None)
    for seq in range(5):
        recorder._video_in(ForwardPacket(seq, 0, 0, b"x", False, None, False, 0.0))
    assert recorder.dropped == 3
    assert recorder.stats()["dropped"] == 3


async def test_h264_and_opus_become_mp4_segments_that_decode_in_sync(
    sfu: tuple[SfuService, SfuEvents], tmp_path: Path
) -> None:
    service, events = sfu
    publisher = SyncedPublisher("video/H264")
    _, answer = await service.publish("rec-h", await publisher.offer(), None)
    await publisher.accept(answer)
    try:
        assert await until(lambda: service.has_publisher("rec-h"), 15)
        await asyncio.sleep(1.0)
        await service.start_recording("rec-h", RecordingSpec("r4", str(tmp_path), segment_s=3.0))
        await asyncio.sleep(7)
        await service.stop_recording("rec-h", "r4")
    finally:
        await publisher.close()
    segments = events.of(RecordingSegmentClosed)
    assert len(segments) >= 2
    checked = 0
    for segment in segments:
        assert segment.path.endswith(".mp4")
        decoded = decode(segment.path)
        assert decoded.size == (320, 240) and decoded.video_frames == segment.video_frames > 0
        offsets = decoded.sync_offsets()
        checked += len(offsets)
        assert all(abs(o) < 0.1 for o in offsets), (offsets, decoded)
    assert checked >= 1
