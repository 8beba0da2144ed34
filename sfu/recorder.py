"""Recording a stream: taps on the producers feed a bounded queue; the recorder's own task writes segment files.

The forwarding path pays one bounded ``deque.append`` per packet while a recording runs (and a length check), never
an await, a lock or file I/O: when the queue is full the packet is dropped from the recording and counted
(``dropped``), the viewers get it as always. The task drains the queue every ``BATCH_S``, depayloads, assembles
frames and muxes them with PyAV (``sfu/recording_mux.py``): no decoder or encoder is involved.

Segments: a new file starts at the first video keyframe after ``segment_s`` (a keyframe is asked for, throttled like
any PLI), is written as ``<id>-<index>.<ext>.part`` and renamed when its trailer is written; then
``RecordingSegmentClosed`` is emitted. A crash loses the ``.part`` file in progress and nothing before it.
Simulcast: the highest layer is recorded (re-chosen at each segment boundary; a change of layer starts a segment).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.tasks import cancel_and_wait
from sfu.events import RecordingSegmentClosed, RecordingStopped, SfuEvent
from sfu.packet import ForwardPacket
from sfu.recording_mux import (
    H264,
    OPUS,
    OPUS_CLOCK,
    VIDEO_CLOCK,
    FrameAssembler,
    SegmentMuxer,
    container_for,
    h264_size,
)

if TYPE_CHECKING:
    from sfu.producer import Producer
    from sfu.router import Router

log = logging.getLogger(__name__)

#: The writer task drains the queue at most this often (batches amortize the wake-ups).
BATCH_S = 0.05
#: While a segment is due to end, a keyframe is asked for again this often (the producer throttles PLIs anyway).
KEYFRAME_RETRY_S = 1.0
#: When a source (re)starts, its packets are held this long before writing: the clocks are anchored on them.
WARMUP_S = 1.0

_AUDIO = 0
_VIDEO = 1
_EPOCH = 2


@dataclass(frozen=True, slots=True)
class RecordingSpec:
    """What to record where. ``first_index``: the number of the first segment (a recording resumed after a crash
    or on another node continues its numbering)."""

    recording_id: str
    directory: str
    segment_s: float = 10.0
    queue_packets: int = 8192
    first_index: int = 0

    def __post_init__(self) -> None:
        if not self.recording_id or "/" in self.recording_id or self.recording_id.startswith("."):
            raise ValueError("bad recording id")
        if self.segment_s <= 0 or self.queue_packets < 1 or self.first_index < 0:
            raise ValueError("segment_s and queue_packets must be positive")


def _vp8_size(frame: bytes) -> tuple[int, int]:
    """Width and height from a VP8 keyframe's header (RFC 6386 section 9.1), (0, 0) if it has none."""
    if len(frame) >= 10 and frame[3:6] == b"\x9d\x01\x2a":
        return int.from_bytes(frame[6:8], "little") & 0x3FFF, int.from_bytes(frame[8:10], "little") & 0x3FFF
    return 0, 0


class _Clock:
    """One kind's RTP timestamps as seconds on the monotonic clock: unwrapped, plus an offset anchored when the
    source (re)starts as the smallest ``arrival - rtp time`` over the first ``WARMUP_S`` of its packets. The packet
    that came with the least delay sets it, so a slow first keyframe (an encoder starting, a burst paced out) does
    not shift the video against the audio; from then on the publisher's own RTP timing is kept."""

    __slots__ = ("_ext", "_last", "offset", "rate")

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._last: int | None = None
        self._ext = 0
        self.offset: float | None = None

    def reset(self) -> None:
        self._last = None
        self._ext = 0
        self.offset = None

    def anchor(self, packets: list[ForwardPacket]) -> None:
        """Set the offset from these packets (the first ones of this kind since the reset, in arrival order)."""
        last = packets[0].ts
        ext = 0
        best = packets[0].received_at
        for packet in packets:
            delta = (packet.ts - last) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            ext += delta
            last = packet.ts
            best = min(best, packet.received_at - ext / self.rate)
        self.offset = best

    def seconds(self, ts: int) -> float:
        last = self._last
        if last is not None:
            delta = (ts - last) & 0xFFFFFFFF
            if delta >= 0x80000000:
                delta -= 0x100000000
            self._ext += delta
        self._last = ts
        return self._ext / self.rate + (self.offset or 0.0)


class StreamRecorder:
    def __init__(
        self,
        stream_id: str,
        spec: RecordingSpec,
        emit: Callable[[SfuEvent], None],
    ) -> None:
        self.stream_id = stream_id
        self.spec = spec
        self._emit = emit
        self._queue: deque[tuple[int, ForwardPacket]] = deque()
        self._cap = spec.queue_packets
        self._wake = asyncio.Event()
        self._sleeping = True
        self._stopping: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._audio_source: Producer | None = None
        self._video_source: Producer | None = None
        self._router: Router | None = None
        self._video_mime: str | None = None
        self._audio = False
        self._assembler: FrameAssembler | None = None
        self._video_clock = _Clock(VIDEO_CLOCK)
        self._audio_clock = _Clock(OPUS_CLOCK)
        self._t0: float | None = None
        self._hold_until = time.monotonic() + WARMUP_S
        self._segment: SegmentMuxer | None = None
        self._segment_start = 0
        self._segment_path = ""
        self._index = spec.first_index
        self._need_keyframe = True
        self._keyframe_asked_at = -1e9
        self.started_at = time.time()
        self.dropped = 0
        self.queued_max = 0
        self.segments = 0
        self.frames_dropped = 0
        #: CPU time of the writer (this thread: depayload, assemble, mux, file writes) and the packets it took.
        self.cpu_s = 0.0
        self.processed = 0

    # -- the forwarding path (synchronous, bounded) ----------------------------------------------------------

    def _video_in(self, packet: ForwardPacket) -> None:
        queue = self._queue
        if len(queue) >= self._cap:
            self.dropped += 1
            return
        queue.append((_VIDEO, packet))
        if self._sleeping:
            self._sleeping = False
            self._wake.set()

    def _audio_in(self, packet: ForwardPacket) -> None:
        queue = self._queue
        if len(queue) >= self._cap:
            self.dropped += 1
            return
        queue.append((_AUDIO, packet))
        if self._sleeping:
            self._sleeping = False
            self._wake.set()

    # -- sources ---------------------------------------------------------------------------------------------

    def follow(self, router: Router) -> None:
        """Tap the router's current audio producer and highest video layer (after a publish or a reconnect)."""
        self._router = router
        self._unhook()
        audio = router.producers.get("audio")
        if audio is not None and audio.codec.mimeType.lower() == OPUS:
            audio.taps.append(self._audio_in)
            self._audio_source = audio
        video = self._top_layer(router)
        self._mark_epoch()
        if video is not None:
            if self._t0 is None:
                # Start at the latest keyframe the producer holds (its keyframe cache, as a joining viewer would):
                # no wait for the publisher to answer a keyframe request.
                for packet in video.cache.packets:
                    self._video_in(packet)
            video.taps.append(self._video_in)
            self._video_source = video

    def _top_layer(self, router: Router) -> Producer | None:
        if len(router.layers) > 1:
            router.layer_infos()  # orders router.layers, lowest first
            available = [p for p in router.layers if p.keyframes > 0 and not p.closed]
            return (available or router.layers)[-1]
        return router.producers.get("video")

    def _unhook(self) -> None:
        for source, tap in ((self._audio_source, self._audio_in), (self._video_source, self._video_in)):
            if source is not None and tap in source.taps:
                source.taps.remove(tap)
        self._audio_source = self._video_source = None

    def _mark_epoch(self) -> None:
        """The sources changed: the packets after this marker have new timestamp bases."""
        self._queue.append((_EPOCH, ForwardPacket(0, 0, 0, b"", False, None, False, time.monotonic())))
        if self._sleeping:
            self._sleeping = False
            self._wake.set()

    def unfollow(self) -> None:
        """The publisher left (the router waits out its grace): stop tapping, keep the recording open."""
        self._unhook()

    # -- lifecycle -------------------------------------------------------------------------------------------

    def start(self, router: Router) -> None:
        self.follow(router)
        self._task = asyncio.ensure_future(self._run())

    async def stop(self, reason: str) -> None:
        """Finish the segment in progress (it becomes a finished segment) and emit ``RecordingStopped``."""
        if self._stopping is None:
            self._stopping = reason
            self._unhook()
            self._wake.set()
        task = self._task
        if task is not None and task is not asyncio.current_task():
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10)
            except TimeoutError:
                await cancel_and_wait(task)

    def kill(self) -> None:
        """Stop at once without finishing the segment in progress (what a crash leaves; tests use it)."""
        self._unhook()
        if self._task is not None:
            self._task.cancel()
        segment, self._segment = self._segment, None
        del segment  # its .part file stays unfinished, like after a crash

    async def _run(self) -> None:
        reason = "stopped"
        try:
            while True:
                if not self._queue:
                    if self._stopping is not None:
                        reason = self._stopping
                        break
                    self._sleeping = True
                    self._wake.clear()
                    await self._wake.wait()
                hold = self._hold_until - time.monotonic()
                if hold > 0 and self._stopping is None:
                    await asyncio.sleep(hold)
                batch = self._queue
                self._queue = deque()
                self.queued_max = max(self.queued_max, len(batch))
                cpu = time.thread_time()
                rest = self._process(batch)
                self.cpu_s += time.thread_time() - cpu
                self.processed += len(batch) - len(rest)
                if rest:
                    self._queue.extendleft(reversed(rest))
                elif self._stopping is None:
                    await asyncio.sleep(BATCH_S)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("recording failed", extra={"stream": self.stream_id})
            reason = "error"
        self._close_segment()
        self._emit(RecordingStopped(self.stream_id, self.spec.recording_id, reason, self.dropped, self._index))

    # -- the writer (the recorder's task) --------------------------------------------------------------------

    def _process(self, batch: deque[tuple[int, ForwardPacket]]) -> list[tuple[int, ForwardPacket]]:
        """Write a batch; returns what follows a source change (an epoch marker not first in the batch): it waits
        for its warm-up. The first marker's packets anchor the clocks."""
        items = list(batch)
        for position, (kind, packet) in enumerate(items):
            if kind == _EPOCH:
                if position > 0 and self._stopping is None:
                    self._hold_until = time.monotonic() + WARMUP_S
                    return items[position:]
                self._on_epoch(items[position + 1 :])
            elif kind == _VIDEO:
                self._on_video(packet)
            else:
                self._on_audio(packet)
        if self._video_mime is not None:
            if self._segment is not None:
                self._maybe_ask_keyframe()
            elif self._need_keyframe and self._video_source is not None:
                now = time.monotonic()
                if now - self._keyframe_asked_at >= KEYFRAME_RETRY_S:
                    self._keyframe_asked_at = now
                    self._video_source.request_keyframe("record")
        return []

    def _on_epoch(self, following: list[tuple[int, ForwardPacket]]) -> None:
        self._video_clock.reset()
        self._audio_clock.reset()
        for kind, clock in ((_VIDEO, self._video_clock), (_AUDIO, self._audio_clock)):
            packets = []
            for item_kind, packet in following:
                if item_kind == _EPOCH:
                    break
                if item_kind == kind:
                    packets.append(packet)
            if packets:
                clock.anchor(packets)
        video = self._video_source
        self._audio = self._audio_source is not None
        mime = video.codec.mimeType.lower() if video is not None else None
        if self._assembler is None or mime != self._video_mime:
            self._assembler = FrameAssembler(mime) if mime is not None else None
        self._video_mime = mime
        if self._assembler is not None:
            self._assembler.reset()
        self._need_keyframe = True

    def _on_video(self, packet: ForwardPacket) -> None:
        assembler = self._assembler
        if assembler is None:
            return
        payload = packet.payload
        if packet.padded:
            payload = payload[: len(payload) - payload[-1]]
            if not payload:
                return  # padding only (bandwidth probing): no media
        if self._t0 is None and not packet.keyframe:
            return  # the recording starts at a keyframe
        clock = self._video_clock
        if clock.offset is None:
            clock.anchor([packet])  # a source that started after its warm-up batch (rare): its own arrival
        seconds = clock.seconds(packet.ts)
        if self._t0 is None:
            self._t0 = seconds
        frame = assembler.add(packet.seq, packet.ts, packet.marker, payload, packet.keyframe)
        ticks = round((seconds - self._t0) * VIDEO_CLOCK)
        if frame is None:
            if packet.marker:
                self.frames_dropped += 1
                self._need_keyframe = True
            return
        data, _ts, keyframe = frame
        if self._need_keyframe and not keyframe:
            return
        if keyframe:
            self._need_keyframe = False
            segment = self._segment
            if segment is None or ticks - self._segment_start >= self.spec.segment_s * VIDEO_CLOCK:
                size = h264_size(data) if self._video_mime == H264 else _vp8_size(data)
                self._open_segment(ticks, size)
        if self._segment is not None:
            self._segment.write_video(data, ticks, keyframe)

    def _on_audio(self, packet: ForwardPacket) -> None:
        clock = self._audio_clock
        if clock.offset is None:
            clock.anchor([packet])
        seconds = clock.seconds(packet.ts)
        if self._t0 is None:
            if self._video_source is not None or self._video_mime is not None:
                return  # the recording starts at a video keyframe
            self._t0 = seconds
        payload = packet.payload
        if packet.padded:
            payload = payload[: len(payload) - payload[-1]]
        ticks = round((seconds - self._t0) * OPUS_CLOCK)
        if self._video_mime is None and (
            self._segment is None or ticks - self._segment_start >= self.spec.segment_s * OPUS_CLOCK
        ):
            self._open_segment(ticks, (0, 0))
        if self._segment is not None:
            self._segment.write_audio(payload, ticks)

    def _maybe_ask_keyframe(self) -> None:
        segment = self._segment
        if segment is None:
            return
        elapsed = segment.last_pts_s - self._segment_start / VIDEO_CLOCK
        now = time.monotonic()
        if elapsed < self.spec.segment_s - 0.5 or now - self._keyframe_asked_at < KEYFRAME_RETRY_S:
            return
        self._keyframe_asked_at = now
        router = self._router
        if router is not None and self._video_source is not None and not self._video_source.closed:
            top = self._top_layer(router)
            if top is not None and top is not self._video_source and self._stopping is None:
                # Record the highest layer from the next segment on: switch the tap; the new layer's clock is
                # anchored by arrival, and its keyframe opens the next segment.
                self._video_source.taps.remove(self._video_in)
                top.taps.append(self._video_in)
                self._video_source = top
                self._video_clock.reset()
                if self._assembler is not None:
                    self._assembler.reset()
                self._need_keyframe = True
                self._segment_start = -(10**12)  # the next keyframe starts a segment
            self._video_source.request_keyframe("record_segment")

    def _open_segment(self, ticks: int, size: tuple[int, int]) -> None:
        self._close_segment()
        fmt, ext = container_for(self._video_mime)
        os.makedirs(self.spec.directory, exist_ok=True)
        path = os.path.join(self.spec.directory, f"{self.spec.recording_id}-{self._index:05d}.{ext}.part")
        self._segment = SegmentMuxer(path, fmt, self._video_mime, size, self._audio)
        self._segment_path = path
        self._segment_start = ticks

    def _close_segment(self) -> None:
        segment, self._segment = self._segment, None
        if segment is None:
            return
        try:
            segment.close()
        except Exception:
            log.exception("closing a recording segment failed", extra={"stream": self.stream_id})
            return
        if segment.video_frames == 0 and segment.audio_frames == 0:
            os.unlink(segment.path)
            return
        final = segment.path.removesuffix(".part")
        os.replace(segment.path, final)
        index = self._index
        self._index += 1
        self.segments += 1
        self._emit(
            RecordingSegmentClosed(
                self.stream_id,
                self.spec.recording_id,
                index,
                final,
                segment.first_pts_s or 0.0,
                segment.duration_s,
                os.path.getsize(final),
                segment.video_frames,
                segment.audio_frames,
            )
        )

    def stats(self) -> dict[str, object]:
        return {
            "stream_id": self.stream_id,
            "recording_id": self.spec.recording_id,
            "queued": len(self._queue),
            "queued_max": self.queued_max,
            "dropped": self.dropped,
            "segments": self.segments,
            "frames_dropped": self.frames_dropped,
            "writer_us_per_packet": round(self.cpu_s / self.processed * 1e6, 2) if self.processed else None,
            "layer": self._video_source.rid if self._video_source is not None else None,
        }
