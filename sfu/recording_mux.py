"""RTP to a container file without transcoding: depayload, assemble frames, mux ``av.Packet``s with PyAV.

Nothing here decodes or encodes. VP8 (RFC 7741) and Opus (RFC 7587) go to WebM; H.264 (RFC 6184, packetization
mode 1) and Opus go to MP4 (Annex B access units; FFmpeg's MP4 muxer writes the ``avcC`` box from the SPS/PPS given as
extradata, or from the first keyframe's in-band SPS/PPS, which browsers and OBS send with every keyframe).
Timestamps: the caller passes each frame's time on the recording's timeline in the codec's clock
(90 kHz video, 48 kHz Opus); the muxer rescales to the container's time base.
"""

from __future__ import annotations

import io
import struct
from fractions import Fraction
from functools import cache
from typing import Any

import av
from aiortc.codecs.h264 import h264_depayload
from aiortc.codecs.vpx import vp8_depayload

VP8 = "video/vp8"
H264 = "video/h264"
OPUS = "audio/opus"

#: Container (PyAV format name) and file extension by video codec.
CONTAINERS = {VP8: ("webm", "webm"), H264: ("mp4", "mp4")}
VIDEO_CLOCK = 90000
OPUS_CLOCK = 48000


def container_for(video_mime: str | None) -> tuple[str, str]:
    """(PyAV format, file extension) for a stream whose video codec is ``video_mime`` (None: audio only → WebM)."""
    if video_mime is None:
        return "webm", "webm"
    return CONTAINERS[video_mime.lower()]


def opus_head(channels: int = 2) -> bytes:
    """The Opus identification header (RFC 7845 section 5.1), the CodecPrivate WebM and MP4 players need.
    Pre-skip 312 samples (what libopus encoders announce); mapping family 0 (mono or stereo)."""
    return b"OpusHead" + struct.pack("<BBHIhB", 1, channels, 312, OPUS_CLOCK, 0, 0)


@cache
def _opus_template() -> Any:
    """An Opus stream with a codec context to copy into each output (``add_stream_from_template``), so the output's
    extradata (OpusHead) can be set; streams made by ``add_mux_stream`` have no codec context to carry it. Made once
    per process from an in-memory WebM holding one empty packet (no codec is opened or run)."""
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="webm") as out:
        stream = out.add_mux_stream("opus", rate=OPUS_CLOCK)
        packet = av.Packet(b"\xf8\xff\xfe")  # one Opus frame (TOC 0xf8: CELT 20 ms); never decoded
        packet.stream = stream
        packet.pts = packet.dts = 0
        packet.time_base = Fraction(1, OPUS_CLOCK)
        out.mux(packet)
    buffer.seek(0)
    source = av.open(buffer, "r")
    return source.streams.audio[0]


class FrameAssembler:
    """Collects one video frame's RTP payloads (same timestamp, consecutive sequence numbers, marker on the last)
    and returns the depayloaded frame when complete. A frame with a hole is dropped and reported, so the muxer
    never gets half a picture; the recorder then waits for the next keyframe."""

    __slots__ = ("_depayload", "_first_seq", "_keyframe", "_parts", "_ts")

    def __init__(self, mime_type: str) -> None:
        self._depayload = h264_depayload if mime_type.lower() == H264 else vp8_depayload
        self._ts: int | None = None
        self._parts: dict[int, bytes] = {}
        self._first_seq = 0
        self._keyframe = False

    def reset(self) -> None:
        self._ts = None
        self._parts = {}
        self._keyframe = False

    def add(self, seq: int, ts: int, marker: int, payload: bytes, keyframe: bool) -> tuple[bytes, int, bool] | None:
        """Returns (access unit, RTP timestamp, keyframe) when ``marker`` closes a complete frame, else None. A
        packet of a newer timestamp while a frame is open abandons that frame (its marker packet was lost)."""
        if self._ts != ts:
            self._ts = ts
            self._parts = {}
            self._first_seq = seq
            self._keyframe = False
        self._parts[seq] = payload
        if keyframe:
            self._keyframe = True
        if (seq - self._first_seq) & 0xFFFF >= 0x8000:
            self._first_seq = seq  # a reordered earlier packet of the same frame
        if not marker:
            return None
        count = ((seq - self._first_seq) & 0xFFFF) + 1
        parts = self._parts
        self._ts = None
        self._parts = {}
        if len(parts) != count:
            return None  # a hole: the frame is incomplete
        depayload = self._depayload
        try:
            data = b"".join(depayload(parts[(self._first_seq + i) & 0xFFFF]) for i in range(count))
        except (KeyError, ValueError):
            return None
        return data, ts, self._keyframe


class SegmentMuxer:
    """One segment file: a video stream (if any) and an Opus stream (if any), muxed in arrival order."""

    def __init__(
        self,
        path: str,
        fmt: str,
        video_mime: str | None,
        video_size: tuple[int, int],
        audio: bool,
    ) -> None:
        self.path = path
        options = {"movflags": "+faststart"} if fmt == "mp4" else {}
        self._out: Any = av.open(path, "w", format=fmt, options=options)
        self._video: Any = None
        self._audio: Any = None
        if video_mime is not None:
            codec = "h264" if video_mime.lower() == H264 else "vp8"
            width, height = video_size
            self._video = self._out.add_mux_stream(codec, width=width, height=height)
            self._video.time_base = Fraction(1, VIDEO_CLOCK)
        if audio:
            self._audio = self._out.add_stream_from_template(_opus_template())
            self._audio.codec_context.extradata = opus_head()
            self._audio.time_base = Fraction(1, OPUS_CLOCK)
        self.video_frames = 0
        self.audio_frames = 0
        self.first_pts_s: float | None = None
        self.last_pts_s = 0.0
        self._last_video = -1
        self._last_audio = -1

    def _mark(self, seconds: float) -> None:
        if self.first_pts_s is None:
            self.first_pts_s = seconds
        if seconds > self.last_pts_s:
            self.last_pts_s = seconds

    def write_video(self, data: bytes, pts: int, keyframe: bool) -> None:
        """``pts``: the frame's time on the recording's timeline, in 90 kHz ticks."""
        if self._video is None or pts <= self._last_video:
            return  # a repeated or backward timestamp (the muxer refuses non-increasing dts)
        self._last_video = pts
        packet = av.Packet(data)
        packet.stream = self._video
        packet.pts = packet.dts = pts
        packet.time_base = Fraction(1, VIDEO_CLOCK)
        packet.is_keyframe = keyframe
        self._out.mux(packet)
        self.video_frames += 1
        self._mark(pts / VIDEO_CLOCK)

    def write_audio(self, data: bytes, pts: int) -> None:
        """``pts``: the Opus frame's time on the recording's timeline, in 48 kHz ticks."""
        if self._audio is None or pts <= self._last_audio or not data:
            return
        self._last_audio = pts
        packet = av.Packet(data)
        packet.stream = self._audio
        packet.pts = packet.dts = pts
        packet.time_base = Fraction(1, OPUS_CLOCK)
        self._out.mux(packet)
        self.audio_frames += 1
        self._mark(pts / OPUS_CLOCK + 0.02)

    def close(self) -> None:
        """Write the trailer (WebM cues, the MP4 index). Idempotent."""
        out, self._out = self._out, None
        if out is not None:
            out.close()

    @property
    def duration_s(self) -> float:
        return 0.0 if self.first_pts_s is None else max(0.0, self.last_pts_s - self.first_pts_s)


class _Bits:
    """Exp-Golomb reader over an RBSP (ITU-T H.264 section 9.1)."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def bit(self) -> int:
        byte = self.data[self.pos >> 3]
        value = (byte >> (7 - (self.pos & 7))) & 1
        self.pos += 1
        return value

    def bits(self, n: int) -> int:
        value = 0
        for _ in range(n):
            value = (value << 1) | self.bit()
        return value

    def ue(self) -> int:
        zeros = 0
        while self.bit() == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("bad exp-Golomb code")
        return (1 << zeros) - 1 + self.bits(zeros)

    def se(self) -> int:
        value = self.ue()
        return (value + 1) // 2 if value & 1 else -(value // 2)


def h264_size(access_unit: bytes) -> tuple[int, int]:
    """Width and height from the SPS of an Annex B access unit (ITU-T H.264 section 7.3.2.1.1), (0, 0) without one.
    Muxers need the size in the track header; nothing is decoded."""
    for nal in access_unit.split(b"\x00\x00\x01"):
        if not nal or nal[0] & 0x1F != 7:
            continue
        rbsp = nal[1:].replace(b"\x00\x00\x03", b"\x00\x00")  # emulation prevention bytes
        try:
            return _sps_size(_Bits(rbsp))
        except (IndexError, ValueError):
            return 0, 0
    return 0, 0


def _sps_size(r: _Bits) -> tuple[int, int]:
    profile = r.bits(8)
    r.bits(16)  # constraint flags, level
    r.ue()  # seq_parameter_set_id
    chroma_format = 1
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format = r.ue()
        if chroma_format == 3:
            r.bit()
        r.ue()  # bit_depth_luma_minus8
        r.ue()  # bit_depth_chroma_minus8
        r.bit()  # qpprime_y_zero_transform_bypass_flag
        if r.bit():  # seq_scaling_matrix_present_flag
            for index in range(8 if chroma_format != 3 else 12):
                if r.bit():
                    last, following = 8, 8
                    for _ in range(16 if index < 6 else 64):
                        if following:
                            following = (last + r.se() + 256) % 256
                        last = following or last
    r.ue()  # log2_max_frame_num_minus4
    poc_type = r.ue()
    if poc_type == 0:
        r.ue()
    elif poc_type == 1:
        r.bit()
        r.se()
        r.se()
        for _ in range(r.ue()):
            r.se()
    r.ue()  # max_num_ref_frames
    r.bit()  # gaps_in_frame_num_value_allowed_flag
    width_mbs = r.ue() + 1
    height_units = r.ue() + 1
    frame_mbs_only = r.bit()
    if not frame_mbs_only:
        r.bit()
    r.bit()  # direct_8x8_inference_flag
    width = width_mbs * 16
    height = height_units * 16 * (2 - frame_mbs_only)
    if r.bit():  # frame_cropping_flag
        left, right, top, bottom = r.ue(), r.ue(), r.ue(), r.ue()
        crop_x = 1 if chroma_format == 0 else (2 if chroma_format in (1, 2) else 1)
        crop_y = (1 if chroma_format == 0 else (2 if chroma_format == 1 else 1)) * (2 - frame_mbs_only)
        width -= (left + right) * crop_x
        height -= (top + bottom) * crop_y
    return width, height
