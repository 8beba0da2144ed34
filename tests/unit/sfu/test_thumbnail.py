"""Thumbnails from a keyframe's RTP payloads: depayload, decode, scale, encode (real aiortc encoders, real PyAV)."""

from __future__ import annotations

from fractions import Fraction

import av
import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.codecs.h264 import H264Encoder
from aiortc.codecs.vpx import Vp8Encoder

from sfu.egress import ProfileTable
from sfu.producer import Producer
from sfu.settings import SfuSettings
from sfu.thumbnail import KeyframeSnapshot, ThumbnailError, render_thumbnail, scaled_size, snapshot


def picture(width: int, height: int) -> av.VideoFrame:
    frame = av.VideoFrame(width, height, "yuv420p")
    for i, plane in enumerate(frame.planes):
        plane.update(bytes((x * (i + 3)) % 251 for x in range(plane.buffer_size)))
    frame.pts = 0
    frame.time_base = Fraction(1, 90000)
    return frame


def keyframe_payloads(mime: str, width: int = 640, height: int = 360) -> tuple[list[bytes], int]:
    encoder = Vp8Encoder() if mime == "video/VP8" else H264Encoder()
    payloads, timestamp = encoder.encode(picture(width, height), force_keyframe=True)
    return payloads, timestamp


def decoded_size(image: bytes, decoder: str) -> tuple[int, int]:
    frames = av.CodecContext.create(decoder, "r").decode(av.Packet(image))
    return frames[0].width, frames[0].height


@pytest.mark.parametrize("mime", ["video/VP8", "video/H264"])
@pytest.mark.parametrize(("fmt", "decoder", "magic"), [("jpeg", "mjpeg", b"\xff\xd8"), ("webp", "webp", b"RIFF")])
def test_a_keyframe_becomes_a_small_image_of_the_asked_width(mime: str, fmt: str, decoder: str, magic: bytes) -> None:
    payloads, ts = keyframe_payloads(mime)
    snap = KeyframeSnapshot("s1", mime, None, 640, 360, (), tuple(payloads), ts)
    rendered = render_thumbnail(snap, width=160, fmt=fmt)
    assert rendered.image.startswith(magic)
    assert (rendered.width, rendered.height) == (160, 90)
    assert (rendered.source_width, rendered.source_height) == (640, 360)
    assert decoded_size(rendered.image, decoder) == (160, 90)
    assert rendered.content_type == f"image/{fmt}"


def test_a_truncated_picture_is_refused_with_a_thumbnail_error() -> None:
    payloads, ts = keyframe_payloads("video/VP8")
    snap = KeyframeSnapshot("s1", "video/VP8", None, 640, 360, (), (payloads[0][:12],), ts)
    with pytest.raises(ThumbnailError):
        render_thumbnail(snap, width=160)


def test_the_thumbnail_is_never_wider_than_the_stream_and_keeps_even_sides() -> None:
    assert scaled_size(1280, 720, 320) == (320, 180)
    assert scaled_size(200, 150, 320) == (200, 150)
    assert scaled_size(642, 361, 321) == (320, 180)


def _producer() -> Producer:
    codec = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)

    class Quiet:
        def feed(self, producer: Producer) -> None:
            pass

        def send_pli(self, media_ssrc: int) -> None:
            return None

        def loss(self) -> tuple[int, int]:
            return (0, 0)

    return Producer("p1", "s1", "video", codec, Quiet(), SfuSettings(), ProfileTable(), lambda p, r: None)


def _feed(
    producer: Producer, payloads: list[bytes], ts: int, first_seq: int, *, skip: int | None = None, ends: bool = True
) -> None:
    from aiortc.rtp import RtpPacket

    for i, payload in enumerate(payloads):
        if i == skip:
            continue
        packet = RtpPacket(
            payload_type=96, sequence_number=(first_seq + i) & 0xFFFF, timestamp=ts, ssrc=1234, payload=payload
        )
        packet.marker = 1 if ends and i == len(payloads) - 1 else 0
        producer.on_packet(packet)


def test_a_snapshot_holds_the_cached_keyframe_only_once_its_last_packet_arrived_without_a_gap() -> None:
    payloads, ts = keyframe_payloads("video/VP8")
    assert len(payloads) > 2
    producer = _producer()
    _feed(producer, payloads[:-1], ts, 100, ends=False)
    assert snapshot("s1", producer) is None  # the marker packet has not come
    _feed(producer, payloads[-1:], ts, 100 + len(payloads) - 1)
    snap = snapshot("s1", producer)
    assert snap is not None and snap.payloads == tuple(payloads) and snap.rtp_timestamp == ts
    assert (snap.width, snap.height) == (640, 360)

    gapped = _producer()
    _feed(gapped, payloads, ts + 3000, 500, skip=1)
    assert snapshot("s1", gapped) is None  # a lost packet not repaired yet
