"""aiortc peers for SFU tests and benchmarks: a publisher with a moving test pattern, viewers that count decoded
frames, and loss injection. Peers announce 127.0.0.1 only (aioice skips loopback on its own)."""

from __future__ import annotations

import asyncio
import fractions
import time
from collections.abc import Callable
from typing import Any

from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, MediaStreamTrack, VideoStreamTrack
from av import VideoFrame

from sfu import aiortc_hooks
from sfu.twcc import URI_TRANSPORT_CC
from sfu.uplink import UplinkFeedback

LOOPBACK = ("127.0.0.1",)


class PatternTrack(VideoStreamTrack):
    """A moving gradient at ``fps``: real motion, so encoders emit genuine delta frames."""

    def __init__(self, width: int = 320, height: int = 240, fps: int = 30) -> None:
        super().__init__()
        self._width = width
        self._height = height
        self._fps = fps
        self._start: float | None = None
        self._count = 0
        self._ramp = bytes((i * 3) % 256 for i in range(width + height + 512))
        self._chroma = bytes([128]) * ((width // 2) * (height // 2))

    async def recv(self) -> VideoFrame:
        if self._start is None:
            self._start = time.monotonic()
        self._count += 1
        wait = self._start + self._count / self._fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        shift = (self._count * 2) % 256
        ramp, width = self._ramp, self._width
        luma = b"".join(ramp[y + shift : y + shift + width] for y in range(self._height))
        frame = VideoFrame(width, self._height, "yuv420p")
        frame.planes[0].update(luma)
        frame.planes[1].update(self._chroma)
        frame.planes[2].update(self._chroma)
        frame.pts = self._count * (90000 // self._fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


class FrameCounter:
    """Reads a remote track (so aiortc decodes it) and records when each frame arrived."""

    def __init__(self, track: MediaStreamTrack) -> None:
        self.track = track
        self.times: list[float] = []
        #: Width of each frame (0 for audio), in step with ``times``.
        self.widths: list[int] = []
        self.sizes: set[tuple[int, int]] = set()
        self.last_size = (0, 0)
        self.started = time.monotonic()
        self.task = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        try:
            while True:
                frame = await self.track.recv()
                self.times.append(time.monotonic())
                if isinstance(frame, VideoFrame):
                    self.last_size = (frame.width, frame.height)
                    self.sizes.add(self.last_size)
                self.widths.append(self.last_size[0])
        except (MediaStreamError, asyncio.CancelledError):
            pass

    @property
    def count(self) -> int:
        return len(self.times)

    def rate(self, seconds: float) -> float:
        """Frames per second over the last ``seconds``."""
        cutoff = time.monotonic() - seconds
        return sum(1 for t in self.times if t >= cutoff) / seconds

    async def wait_frames(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count < count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        return self.count >= count

    def stop(self) -> None:
        self.task.cancel()


async def offer(pc: RTCPeerConnection) -> str:
    with aiortc_hooks.host_addresses(LOOPBACK):
        await pc.setLocalDescription(await pc.createOffer())
    return str(pc.localDescription.sdp)


async def accept(pc: RTCPeerConnection, answer_sdp: str) -> None:
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer_sdp, type="answer"))


def prefer(transceiver: Any, mime_type: str) -> None:
    caps = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    chosen = [c for c in caps if c.mimeType.lower() == mime_type.lower()]
    if mime_type.lower() == "video/h264":
        chosen = [c for c in chosen if c.parameters.get("profile-level-id") == "42e01f"]
    rtx = [c for c in caps if c.mimeType.lower() == "video/rtx"]
    transceiver.setCodecPreferences(chosen + rtx)


class Publisher:
    """An aiortc publisher. Counts the keyframe requests (PLI/FIR) that reach it."""

    def __init__(self, codec: str = "video/VP8", audio: bool = True, video: MediaStreamTrack | None = None) -> None:
        self.pc = RTCPeerConnection()
        self.video_track = video or PatternTrack()
        self.video = self.pc.addTransceiver(self.video_track, direction="sendonly")
        prefer(self.video, codec)
        if audio:
            self.pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        self.keyframe_requests = 0
        self.retransmissions = 0
        sender = self.video.sender
        original_keyframe = sender._send_keyframe
        original_retransmit = sender._retransmit

        def on_keyframe() -> None:
            self.keyframe_requests += 1
            original_keyframe()

        async def on_retransmit(seq: int) -> None:
            self.retransmissions += 1
            await original_retransmit(seq)

        sender._send_keyframe = on_keyframe  # type: ignore[method-assign]
        sender._retransmit = on_retransmit  # type: ignore[method-assign]

    async def offer(self) -> str:
        return await offer(self.pc)

    async def accept(self, answer_sdp: str) -> None:
        await accept(self.pc, answer_sdp)

    async def close(self) -> None:
        await self.pc.close()


#: The transport-wide sequence number extension id a ``Viewer(transport_cc=True)`` offers (unused by aiortc).
VIEWER_TWCC_ID = 9


def offer_transport_cc(sdp: str, extension_id: int = VIEWER_TWCC_ID) -> str:
    """Add transport-cc (the extension and ``a=rtcp-fb:<pt> transport-cc`` on every video codec) to an aiortc
    offer's video section, as a browser's offer has it; aiortc itself does not offer it."""
    lines = sdp.split("\r\n")
    out: list[str] = []
    video = False
    for line in lines:
        if line.startswith("m="):
            video = line.startswith("m=video")
            out.append(line)
            if video:
                out.append(f"a=extmap:{extension_id} {URI_TRANSPORT_CC}")
            continue
        out.append(line)
        if video and line.startswith("a=rtpmap:") and "rtx/" not in line:
            out.append(f"a=rtcp-fb:{line.split(':', 1)[1].split()[0]} transport-cc")
    return "\r\n".join(out)


class Viewer:
    """An aiortc viewer (recvonly video + audio) that decodes what it receives. With ``transport_cc`` it offers
    transport-cc and answers the SFU's numbered packets with feedback, as a browser does, through the same
    receiving-side code the SFU uses for publishers (``sfu/uplink.py``, kernel arrival stamps)."""

    def __init__(self, audio: bool = True, transport_cc: bool = False) -> None:
        self.transport_cc = transport_cc
        self.feedback: UplinkFeedback | None = None
        self.pc = RTCPeerConnection()
        self.pc.addTransceiver("video", direction="recvonly")
        if audio:
            self.pc.addTransceiver("audio", direction="recvonly")
        self.video: FrameCounter | None = None
        self.audio: FrameCounter | None = None

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            if track.kind == "video":
                self.video = FrameCounter(track)
            else:
                self.audio = FrameCounter(track)

    async def offer(self) -> str:
        sdp = await offer(self.pc)
        return offer_transport_cc(sdp) if self.transport_cc else sdp

    async def accept(self, answer_sdp: str) -> None:
        await accept(self.pc, answer_sdp)
        if self.transport_cc and URI_TRANSPORT_CC in answer_sdp:
            video = next(t for t in self.pc.getTransceivers() if t.kind == "video")
            self.feedback = UplinkFeedback(video, VIEWER_TWCC_ID)
            self.feedback.start()

    def udp_port(self) -> int:
        """The local UDP port this viewer receives on (for per-viewer shaping), once connected."""
        video = next(t for t in self.pc.getTransceivers() if t.kind == "video")
        connection = getattr(video.receiver.transport.transport, aiortc_hooks.ICE_CONNECTION)
        pair = getattr(connection, aiortc_hooks.ICE_NOMINATED).get(1)
        if pair is None:
            raise RuntimeError("not connected yet")
        port: int = pair.local_candidate.port
        return port

    async def close(self) -> None:
        for counter in (self.video, self.audio):
            if counter is not None:
                counter.stop()
        if self.feedback is not None:
            await self.feedback.close()
        await self.pc.close()


def drop_every(pc: RTCPeerConnection, *, inbound: bool, period: int, kind: str = "video") -> Callable[[], int]:
    """Drop one media packet in ``period`` (after SRTP) on ``pc``'s inbound or outbound path; returns a counter.

    Only the original media packets of ``kind`` are dropped (not RTX, not RTCP), so every loss can be repaired.
    """
    transceiver = next(t for t in pc.getTransceivers() if t.kind == kind)
    description = pc.remoteDescription if inbound else pc.localDescription
    from aiortc import sdp as aiortc_sdp

    parsed = aiortc_sdp.SessionDescription.parse(description.sdp)
    media = next(m for m in parsed.media if m.kind == kind)
    payload_type = media.rtp.codecs[0].payloadType
    dtls = transceiver.receiver.transport
    state = {"seen": 0, "dropped": 0}

    def is_target(data: bytes) -> bool:
        if len(data) < 12 or 192 <= data[1] <= 223 or data[1] & 0x7F != payload_type:
            return False
        state["seen"] += 1
        if state["seen"] > period * 2 and state["seen"] % period == 0:
            state["dropped"] += 1
            return True
        return False

    if inbound:
        original = dtls._handle_rtp_data

        async def handle(data: bytes, arrival_time_ms: int) -> None:
            if not is_target(data):
                await original(data, arrival_time_ms)

        dtls._handle_rtp_data = handle  # type: ignore[method-assign]
    else:
        original_send = dtls._send_rtp

        async def send(data: bytes) -> None:
            if not is_target(data):
                await original_send(data)

        dtls._send_rtp = send  # type: ignore[method-assign]
    return lambda: state["dropped"]


async def keeps_up(publisher: Publisher, viewers: list[Viewer], seconds: float = 2.0) -> list[tuple[int, int]]:
    """Frames the publisher produced and each viewer decoded over ``seconds``: viewers must keep up with the publisher
    (on a loaded machine the publisher's own encoder may run below 30 fps; that is not the relay's doing)."""
    track = publisher.video_track
    produced = track._count  # type: ignore[attr-defined]
    decoded = [v.video.count if v.video else 0 for v in viewers]
    await asyncio.sleep(seconds)
    produced = track._count - produced  # type: ignore[attr-defined]
    return [(produced, (v.video.count if v.video else 0) - d) for v, d in zip(viewers, decoded, strict=True)]


def assert_keeping_up(results: list[tuple[int, int]]) -> None:
    for produced, decoded in results:
        assert produced >= 10, f"the publisher produced only {produced} frames"
        assert decoded >= 0.8 * produced - 3, f"a viewer decoded {decoded} of {produced} frames"
