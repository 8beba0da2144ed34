"""Stream thumbnails: one keyframe picture, taken from a producer's keyframe cache, decoded once and written as a
small still image. This is the only codec work of the media plane, and it never runs on the forwarding path:

- :func:`snapshot` runs on the SFU's loop, copies nothing but references to the cached RTP payloads of the latest
  keyframe picture (the packets from the keyframe's first to its marker), and returns a picklable value, so a worker
  process hands it over its pipe like any other answer.
- :func:`render_thumbnail` is the CPU work (depayload, decode, scale, encode). The caller runs it in a thread or
  process of its own, once per stream every N seconds, never per viewer: a fresh decoder per picture (a keyframe
  needs no history), freed when the call returns.

Depayloading follows RFC 7741 (VP8) and RFC 6184 (H.264, Annex B output), with aiortc's depayloaders; PyAV decodes
and encodes (JPEG with FFmpeg's ``mjpeg``, WebP with ``libwebp``).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from sfu.producer import Producer

#: Image formats a thumbnail may be written in: name → (FFmpeg encoder, pixel format, content type).
FORMATS = {
    "jpeg": ("mjpeg", "yuvj420p", "image/jpeg"),
    "webp": ("libwebp", "yuv420p", "image/webp"),
}


class ThumbnailError(Exception):
    """The cached picture could not be turned into an image (truncated, or not decodable)."""


@dataclass(frozen=True, slots=True)
class KeyframeSnapshot:
    """One complete keyframe picture of a stream's video, as its RTP payloads in order."""

    stream_id: str
    mime_type: str
    rid: str | None
    #: The picture size when the SFU knows it (VP8 keyframe header), else 0.
    width: int
    height: int
    #: H.264: the latest SPS/PPS packets' payloads when the keyframe's access unit came without them.
    lead: tuple[bytes, ...]
    payloads: tuple[bytes, ...]
    #: RTP timestamp of the picture: a new value means a new keyframe since the last snapshot.
    rtp_timestamp: int


@dataclass(frozen=True, slots=True)
class RenderedThumbnail:
    image: bytes
    content_type: str
    width: int
    height: int
    #: The source picture's size.
    source_width: int
    source_height: int


def snapshot(stream_id: str, producer: Producer) -> KeyframeSnapshot | None:
    """The producer's latest cached keyframe picture, if its cache holds one that is complete (its marker arrived
    and no sequence number is missing). Cheap: tuple of references, no copy of the payloads."""
    cache = producer.cache
    packets = cache.packets
    if not packets or not packets[0].keyframe:
        return None
    ts = packets[0].ts
    picture: list[bytes] = []
    expected = packets[0].seq
    for packet in packets:
        if packet.ts != ts:
            break
        if packet.seq != expected:
            return None  # a gap (a loss the NACK has not repaired yet): try again later
        payload = packet.payload
        picture.append(payload[: len(payload) - payload[-1]] if packet.padded and payload else payload)
        expected = (expected + 1) & 0xFFFF
        if packet.marker:
            break
    else:
        return None  # the picture's last packet has not arrived yet
    lead_packets = producer._lead(packets[0])
    return KeyframeSnapshot(
        stream_id,
        producer.codec.mimeType,
        producer.rid,
        producer.width,
        producer.height,
        tuple(p.payload for p in lead_packets),
        tuple(p for p in picture if p),
        ts,
    )


#: Pictures rendered and decoders made in this process (tests assert codec objects are per stream, not per viewer).
RENDERED = 0
DECODERS_MADE = 0
_counter_lock = threading.Lock()


def _bitstream(snap: KeyframeSnapshot) -> bytes:
    from aiortc.codecs.h264 import h264_depayload
    from aiortc.codecs.vpx import vp8_depayload

    name = snap.mime_type.lower()
    try:
        if name == "video/vp8":
            return b"".join(vp8_depayload(p) for p in snap.payloads)
        if name == "video/h264":
            return b"".join(h264_depayload(p) for p in (*snap.lead, *snap.payloads))
    except Exception as exc:  # malformed payload descriptors
        raise ThumbnailError(f"could not depayload the picture: {type(exc).__name__}") from exc
    raise ThumbnailError(f"no thumbnail for {snap.mime_type}")


def scaled_size(width: int, height: int, target_width: int) -> tuple[int, int]:
    """The thumbnail's size: ``target_width`` wide (never wider than the source), height kept in proportion, both
    even (4:2:0 chroma)."""
    w = min(target_width, width)
    h = max(2, round(height * w / width))
    return max(2, w - w % 2), h - h % 2


def render_thumbnail(snap: KeyframeSnapshot, *, width: int, fmt: str = "jpeg", quality: int = 75) -> RenderedThumbnail:
    """Decode the picture and write it ``width`` pixels wide as ``fmt`` (``jpeg`` or ``webp``). CPU-bound: call it
    off the event loop. ``quality`` 1-100 (higher: larger, sharper)."""
    import av
    from av.video.codeccontext import VideoCodecContext

    global RENDERED, DECODERS_MADE
    if fmt not in FORMATS:
        raise ValueError(f"unknown thumbnail format {fmt!r}")
    encoder_name, pix_fmt, content_type = FORMATS[fmt]
    data = _bitstream(snap)
    decoder = av.CodecContext.create("vp8" if snap.mime_type.lower() == "video/vp8" else "h264", "r")
    with _counter_lock:
        DECODERS_MADE += 1
    try:
        frames = decoder.decode(av.Packet(data))
        frames.extend(decoder.decode(None))  # flush: some decoders hold the picture back
    except av.error.FFmpegError as exc:
        raise ThumbnailError(f"the picture did not decode: {exc}") from exc
    if not frames:
        raise ThumbnailError("the picture did not decode")
    frame = frames[0]
    out_w, out_h = scaled_size(frame.width, frame.height, width)
    small = frame.reformat(width=out_w, height=out_h, format=pix_fmt, interpolation="AREA")
    small.pts = 0
    encoder = cast(VideoCodecContext, av.CodecContext.create(encoder_name, "w"))
    encoder.width = out_w
    encoder.height = out_h
    encoder.pix_fmt = pix_fmt
    encoder.time_base = Fraction(1, 1)
    if fmt == "jpeg":
        # FFmpeg's mjpeg takes a fixed quantizer scale (2 best .. 31 worst) through qmin/qmax.
        q = str(max(2, min(31, round(31 - (quality / 100) * 29))))
        encoder.options = {"qmin": q, "qmax": q}
    else:
        encoder.options = {"quality": str(max(1, min(100, quality)))}
    packets = [bytes(p) for p in encoder.encode(small)]
    packets.extend(bytes(p) for p in encoder.encode(None))
    image = b"".join(packets)
    if not image:
        raise ThumbnailError("the encoder wrote nothing")
    with _counter_lock:
        RENDERED += 1
    return RenderedThumbnail(image, content_type, out_w, out_h, frame.width, frame.height)
