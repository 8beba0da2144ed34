"""A transcoded ladder: lower simulcast layers made from a single-layer publisher's video (issue 13, "one quality
in, a ladder out"), for publishers that cannot send simulcast (OBS without it).

Per stream, never per viewer: ONE decoder for the publisher's video and ONE encoder per extra layer, in one thread of
the stream's own. The publisher's producer stays what it was — its packets reach its viewers untouched, with no
codec on that path — and becomes the top layer (rid ``h``); each extra layer (``m``: half the size, ``l``: a
quarter) is an ordinary :class:`~sfu.producer.Producer` fed by the transcoder instead of a receiver, so the router,
the selector (``sfu/selector.py``), the layer switching and rewriting (``sfu/rewriter.py``), the keyframe cache,
NACK history and relay pipes treat it like a rid layer a browser sent.

Data flow: the publisher's producer hands every packet to the ladder's tap after its viewers got it (``taps``,
on the SFU's loop: an append to a bounded queue, nothing more); the ladder's thread reassembles pictures, decodes
them (PyAV; the codec calls release the GIL), scales each to its layer and encodes it with aiortc's own encoder and
packetizer (VP8 or H.264 packetization-mode 1, whatever the publisher sends, so viewers negotiate one codec); the
payloads come back to the loop (``call_soon_threadsafe``) as RTP packets of the layer's own SSRC and sequence
numbers. A keyframe request on a layer (a viewer joining or switching) makes that layer's next picture a keyframe;
a loss on the publisher's side (a gap) waits for the publisher's next keyframe, which is asked for (throttled).
If the thread falls behind, the queue drops packets (counted) and the layers resume at the next keyframe: the
forwarding never waits for the transcoder.
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from aiortc.rtp import RtpPacket

from sfu.packet import ForwardPacket
from sfu.producer import Producer

log = logging.getLogger(__name__)

#: The layers made below the publisher's: (rid, scale-down factor, target bitrate). aiortc's VP8 encoder keeps its
#: bitrate within 250 kbit/s .. 1.5 Mbit/s.
RUNGS: tuple[tuple[str, int, int], ...] = (("m", 2, 600_000), ("l", 4, 250_000))
#: The publisher's own layer's rid once a ladder runs.
TOP_RID = "h"
#: Packets waiting for the transcoder at most (about 2 s of a 2.5 Mbit/s stream); more are dropped and counted.
QUEUE_PACKETS = 512
_VIDEO_TIME_BASE = Fraction(1, 90000)

#: Decoders and encoders every ladder of this process made (tests assert they are per stream, never per viewer).
CODEC_OBJECTS = {"decoders": 0, "encoders": 0}


class RungUpstream:
    """What feeds a transcoded layer's producer: the ladder. A PLI on the layer asks for a keyframe of it."""

    def __init__(self, rung: Rung) -> None:
        self.rung = rung

    def feed(self, producer: Producer) -> None:
        self.rung.producer = producer

    def send_pli(self, media_ssrc: int) -> None:
        self.rung.keyframe_wanted = True
        return None

    def loss(self) -> tuple[int, int]:
        return (0, 0)


@dataclass(eq=False)
class Rung:
    rid: str
    scale: int
    bitrate: int
    producer: Producer | None = None
    encoder: Any = None
    keyframe_wanted: bool = True
    ssrc: int = 0
    seq: int = 0
    frames: int = 0


class Ladder:
    """The transcoder of one stream. ``start`` installs the tap and the thread; ``stop`` ends both (idempotent)."""

    def __init__(
        self,
        source: Producer,
        make_producer: Callable[[str, RungUpstream], Producer],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.source = source
        self.stream_id = source.stream_id
        self._loop = loop
        self._vp8 = source.codec.mimeType.lower() == "video/vp8"
        self.rungs = [Rung(rid, scale, bitrate) for rid, scale, bitrate in RUNGS]
        self.producers = [make_producer(rung.rid, RungUpstream(rung)) for rung in self.rungs]
        for rung in self.rungs:
            rung.ssrc = random.getrandbits(32) or 1
            rung.seq = random.getrandbits(15)
        self._queue: deque[ForwardPacket] = deque()
        self._ready = threading.Event()
        self._stopped = False
        self._thread: threading.Thread | None = None
        # stats (written by the thread, read by the loop: plain numbers)
        self.frames_decoded = 0
        self.dropped = 0
        self.cpu_s = 0.0
        self.started_at = time.monotonic()
        self.width = 0
        self.height = 0

    # -- the loop's side ---------------------------------------------------------------------------------------

    def start(self) -> None:
        self.source.taps.append(self._on_packet)
        self._thread = threading.Thread(target=self._run, name=f"ladder-{self.stream_id}", daemon=True)
        self._thread.start()
        self.source.request_keyframe("ladder")  # the decoder starts at a keyframe

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._on_packet in self.source.taps:
            self.source.taps.remove(self._on_packet)
        self._ready.set()

    @property
    def running(self) -> bool:
        return not self._stopped

    def _on_packet(self, packet: ForwardPacket) -> None:
        """The tap (SFU loop, after the viewers got the packet): queue it for the thread, or drop it if full."""
        if len(self._queue) >= QUEUE_PACKETS:
            self.dropped += 1
            return
        self._queue.append(packet)
        self._ready.set()

    def _emit(self, rung: Rung, payloads: list[bytes], timestamp: int) -> None:
        """On the loop: one encoded picture of a layer, as RTP packets into its producer."""
        producer = rung.producer
        if self._stopped or producer is None or producer.closed:
            return
        last = len(payloads) - 1
        for index, payload in enumerate(payloads):
            packet = RtpPacket(
                payload_type=self.source.codec.payloadType or 96,
                marker=1 if index == last else 0,
                sequence_number=rung.seq,
                timestamp=timestamp,
                ssrc=rung.ssrc,
                payload=payload,
            )
            rung.seq = (rung.seq + 1) & 0xFFFF
            producer.on_packet(packet)

    def _ask_keyframe(self) -> None:
        if not self._stopped:
            self.source.request_keyframe("ladder_resync")

    def stats(self) -> dict[str, Any]:
        elapsed = max(1e-6, time.monotonic() - self.started_at)
        return {
            "rids": [rung.rid for rung in self.rungs],
            "frames_decoded": self.frames_decoded,
            "frames_encoded": {rung.rid: rung.frames for rung in self.rungs},
            "dropped_packets": self.dropped,
            "cpu_s": round(self.cpu_s, 3),
            "cpu_share": round(self.cpu_s / elapsed, 4),
            "source_size": [self.width, self.height],
        }

    # -- the transcoder's thread -------------------------------------------------------------------------------

    def _run(self) -> None:
        import av
        from aiortc.codecs.h264 import H264Encoder, h264_depayload
        from aiortc.codecs.vpx import Vp8Encoder, vp8_depayload

        depayload = vp8_depayload if self._vp8 else h264_depayload
        decoder = av.CodecContext.create("vp8" if self._vp8 else "h264", "r")
        CODEC_OBJECTS["decoders"] += 1
        for rung in self.rungs:
            rung.encoder = Vp8Encoder() if self._vp8 else H264Encoder()
            rung.encoder.target_bitrate = rung.bitrate
            CODEC_OBJECTS["encoders"] += 1
        picture: list[bytes] = []
        picture_ts: int | None = None
        expected: int | None = None
        synced = False  # decoding from a keyframe on, without a gap since
        unwrapped = 0
        last_ts: int | None = None
        try:
            while not self._stopped:
                if not self._queue:
                    self._ready.wait(0.5)
                    self._ready.clear()
                    continue
                packet = self._queue.popleft()
                started = time.thread_time()
                if expected is not None and packet.seq != expected:
                    # A gap (a loss not repaired in time, or a dropped packet): wait for the next keyframe.
                    if ((packet.seq - expected) & 0xFFFF) >= 0x8000:
                        continue  # a late duplicate / repair of something already passed
                    synced = False
                    picture, picture_ts = [], None
                    self._to_loop(self._ask_keyframe)
                expected = (packet.seq + 1) & 0xFFFF
                if packet.ts != picture_ts:
                    picture, picture_ts = [], packet.ts
                    if packet.keyframe:
                        synced = True
                if not synced or not packet.payload:
                    continue
                try:
                    picture.append(depayload(packet.payload))
                except Exception:
                    synced = False
                    continue
                if not packet.marker:
                    continue
                data = b"".join(picture)
                picture = []
                if last_ts is not None:
                    unwrapped += (packet.ts - last_ts) & 0xFFFFFFFF
                last_ts = packet.ts
                try:
                    frames = decoder.decode(av.Packet(data))
                except av.error.FFmpegError:
                    synced = False
                    self._to_loop(self._ask_keyframe)
                    continue
                for frame in frames:
                    self.frames_decoded += 1
                    self.width, self.height = frame.width, frame.height
                    for rung in self.rungs:
                        self._encode(rung, frame, unwrapped, packet.ts)
                self.cpu_s += time.thread_time() - started
        except Exception:
            log.exception("ladder transcoder failed", extra={"stream": self.stream_id})
        finally:
            self._stopped = True

    def _to_loop(self, callback: Callable[..., None], *args: Any) -> None:
        """Hand work to the SFU's loop; a loop that closed (shutting down) stops the ladder."""
        if self._stopped:
            return
        try:
            self._loop.call_soon_threadsafe(callback, *args)
        except RuntimeError:
            self._stopped = True

    def _encode(self, rung: Rung, frame: Any, pts: int, timestamp: int) -> None:
        width = max(16, frame.width // rung.scale) & ~1
        height = max(16, frame.height // rung.scale) & ~1
        small = frame.reformat(width=width, height=height, format="yuv420p")
        small.pts = pts
        small.time_base = _VIDEO_TIME_BASE
        force = rung.keyframe_wanted
        rung.keyframe_wanted = False
        payloads, _ = rung.encoder.encode(small, force_keyframe=force)
        if payloads:
            rung.frames += 1
            self._to_loop(self._emit, rung, payloads, timestamp)
