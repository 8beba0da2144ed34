"""A publisher whose video flashes white while its audio beeps, on one shared clock, and the reading of a recorded
file (decoded with PyAV in the test, never in the hub) that finds each flash and each beep: their distance is
the recording's A/V sync."""

from __future__ import annotations

import asyncio
import fractions
import struct
import time
from dataclasses import dataclass

import av
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack
from av import AudioFrame, VideoFrame

from tests.support.sfu_peers import offer, prefer

#: A flash and a beep start every this many seconds, each lasting ``MARK_S``.
PERIOD_S = 2.0
MARK_S = 0.1


class SharedClock:
    def __init__(self) -> None:
        self.t0: float | None = None

    def now(self) -> float:
        if self.t0 is None:
            self.t0 = time.monotonic()
        return time.monotonic() - self.t0

    @staticmethod
    def marked(t: float) -> bool:
        return t % PERIOD_S < MARK_S


class FlashTrack(MediaStreamTrack):
    kind = "video"

    def __init__(self, clock: SharedClock, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self._clock = clock
        self._size = (width, height)
        self._fps = fps
        self._count = 0
        self._start: float | None = None
        self._chroma = bytes([128]) * ((width // 2) * (height // 2))
        self._ramp = bytes((i * 3) % 200 for i in range(width + height + 512))

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._count += 1
        wait = self._start + self._count / self._fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        width, height = self._size
        self._clock.now()
        assert self._clock.t0 is not None
        now = time.monotonic()
        if self._clock.marked(now - self._clock.t0):
            luma = bytes([250]) * (width * height)
        else:
            shift = (self._count * 2) % 200
            luma = b"".join(self._ramp[y + shift : y + shift + width] for y in range(height))
        frame = VideoFrame(width, height, "yuv420p")
        frame.planes[0].update(luma)
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = round((now - self._start) * 90000)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class BeepTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, clock: SharedClock) -> None:
        super().__init__()
        self._clock = clock
        self._samples = 0
        self._start: float | None = None
        period = 48  # 1 kHz square wave at 48 kHz
        self._beep = b"".join(
            (8000 if (i % period) < period // 2 else -8000).to_bytes(2, "little", signed=True) * 2 for i in range(960)
        )
        self._silence = bytes(960 * 4)

    async def recv(self) -> AudioFrame:
        """20 ms frames on schedule; a frame made late (a busy machine) skips ahead to the present, leaving a gap in
        its timestamps, so audio timestamps never trail real time (as a live capture's do not)."""
        if self._start is None:
            self._start = time.monotonic()
        pts = self._samples
        wait = self._start + pts / 48000 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        else:
            pts = max(pts, int((time.monotonic() - self._start) * 48000) // 960 * 960)
        self._samples = pts + 960
        frame = AudioFrame(format="s16", layout="stereo", samples=960)
        self._clock.now()
        assert self._clock.t0 is not None
        marked = self._clock.marked(self._start + pts / 48000 - self._clock.t0)
        frame.planes[0].update(self._beep if marked else self._silence)
        frame.pts = pts
        frame.sample_rate = 48000
        frame.time_base = fractions.Fraction(1, 48000)
        return frame


class SyncedPublisher:
    def __init__(self, codec: str = "video/VP8") -> None:
        self.clock = SharedClock()
        self.pc = RTCPeerConnection()
        self.video = self.pc.addTransceiver(FlashTrack(self.clock), direction="sendonly")
        prefer(self.video, codec)
        self.pc.addTransceiver(BeepTrack(self.clock), direction="sendonly")

    async def offer(self) -> str:
        return await offer(self.pc)

    async def accept(self, answer_sdp: str) -> None:
        from aiortc import RTCSessionDescription

        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))

    async def close(self) -> None:
        await self.pc.close()


@dataclass(frozen=True)
class Decoded:
    #: From the first frame's start to the last frame's end (audio or video).
    duration_s: float
    video_frames: int
    audio_s: float
    flashes: list[float]
    beeps: list[float]
    video_start_s: float
    size: tuple[int, int]
    audio_start_s: float = 0.0

    def sync_offsets(self) -> list[float]:
        """For each flash while audio was recorded, how far the nearest beep is from it (seconds, signed)."""
        end = self.audio_start_s + self.audio_s
        offsets = []
        for flash in self.flashes:
            if self.audio_start_s + MARK_S <= flash <= end - MARK_S and self.beeps:
                nearest = min((beep - flash for beep in self.beeps), key=abs)
                # A beep the publisher skipped (it fell behind and jumped ahead) has no partner: within half a
                # period a partner is unambiguous, so a desync up to that shows up as a large offset.
                if abs(nearest) < PERIOD_S / 2:
                    offsets.append(nearest)
        return offsets


def _onsets(times_marked: list[tuple[float, bool]]) -> list[float]:
    onsets = []
    previous = False
    for t, marked in times_marked:
        if marked and not previous:
            onsets.append(t)
        previous = marked
    return onsets


def decode(path: str) -> Decoded:
    """Decode every frame of a recorded file; find the flashes (bright frames) and beeps (loud audio frames)."""
    with av.open(path) as container:
        video: list[tuple[float, bool]] = []
        size = (0, 0)
        for frame in container.decode(video=0):
            sample = bytes(frame.planes[0])[::97]
            video.append((float(frame.time or 0.0), sum(sample) / len(sample) > 160))
            size = (frame.width, frame.height)
    audio: list[tuple[float, bool]] = []
    audio_end = 0.0
    with av.open(path) as container:
        if container.streams.audio:
            for frame in container.decode(audio=0):
                data = bytes(frame.planes[0])
                if frame.format.name in ("flt", "fltp"):
                    values = struct.unpack(f"<{len(data) // 4}f", data)
                    loud = max((abs(v) for v in values[::8]), default=0.0) > 0.1
                else:
                    values16 = [int.from_bytes(data[i : i + 2], "little", signed=True) for i in range(0, len(data), 16)]
                    loud = max((abs(v) for v in values16), default=0) > 3000
                t = float(frame.time or 0.0)
                audio.append((t, loud))
                audio_end = t + frame.samples / (frame.sample_rate or 48000)
    start = min(video[0][0] if video else 1e9, audio[0][0] if audio else 1e9)
    video_end = video[-1][0] + 1 / 30 if video else 0.0
    return Decoded(
        max(video_end, audio_end) - start if video or audio else 0.0,
        len(video),
        audio_end - (audio[0][0] if audio else 0.0),
        _onsets(video),
        _onsets(audio),
        video[0][0] if video else 0.0,
        size,
        audio[0][0] if audio else 0.0,
    )
