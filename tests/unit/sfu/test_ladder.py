"""The transcoded ladder's thread on real VP8 (aiortc's encoder as the publisher, PyAV decoding): layers at half and
quarter size, a keyframe on a layer's request, and a gap upstream that waits for the publisher's next keyframe."""

from __future__ import annotations

import asyncio
from fractions import Fraction

import av
from aiortc import RTCRtpCodecParameters
from aiortc.codecs.vpx import Vp8Encoder
from aiortc.rtp import RtpPacket

from sfu.egress import ProfileTable
from sfu.ladder import Ladder, RungUpstream
from sfu.producer import Producer
from sfu.settings import SfuSettings
from tests.support.waiting import until

CODEC = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)


class Quiet:
    """A publisher's upstream that only counts keyframe requests."""

    def __init__(self) -> None:
        self.plis = 0

    def feed(self, producer: Producer) -> None:
        pass

    def send_pli(self, media_ssrc: int) -> None:
        self.plis += 1

    def loss(self) -> tuple[int, int]:
        return (0, 0)


def producer(upstream: Quiet | RungUpstream, rid: str | None = None) -> Producer:
    settings = SfuSettings(pli_interval_s=0.0)
    return Producer(f"p-{rid}", "s1", "video", CODEC, upstream, settings, ProfileTable(), lambda p, r: None, rid=rid)


class Source:
    """Encodes a moving picture with aiortc's VP8 encoder and feeds it to a producer as RTP."""

    def __init__(self, target: Producer) -> None:
        self.target = target
        self.encoder = Vp8Encoder()
        self.seq = 1000
        self.count = 0

    def frame(self, *, keyframe: bool = False, drop: int | None = None) -> None:
        self.count += 1
        picture = av.VideoFrame(320, 240, "yuv420p")
        for i, plane in enumerate(picture.planes):
            plane.update(bytes((x + self.count * 3 + i) % 251 for x in range(plane.buffer_size)))
        picture.pts = self.count * 3000
        picture.time_base = Fraction(1, 90000)
        payloads, ts = self.encoder.encode(picture, force_keyframe=keyframe)
        for index, payload in enumerate(payloads):
            seq = self.seq
            self.seq += 1
            if index == drop:
                continue
            packet = RtpPacket(payload_type=96, sequence_number=seq, timestamp=ts, ssrc=42, payload=payload)
            packet.marker = 1 if index == len(payloads) - 1 else 0
            self.target.on_packet(packet)


async def test_the_ladder_makes_half_and_quarter_layers_keyframes_on_request_and_waits_out_a_gap() -> None:
    upstream = Quiet()
    source = producer(upstream)
    ladder = Ladder(source, lambda rid, up: producer(up, rid), asyncio.get_running_loop())
    mid, low = ladder.producers
    feed = Source(source)
    ladder.start()
    try:
        for i in range(5):
            feed.frame(keyframe=i == 0)
            await asyncio.sleep(0.02)
        assert await until(lambda: low.packets > 0 and mid.packets > 0, 5)
        assert (mid.width, mid.height) == (160, 120) and (low.width, low.height) == (80, 60)
        assert mid.keyframes == 1 and low.keyframes == 1  # the first picture of each layer

        # A viewer joining the low layer asks it for a keyframe: its next picture is one (the publisher is not asked).
        plis = upstream.plis
        assert low.request_keyframe("join")
        feed.frame()
        assert await until(lambda: low.keyframes == 2, 5)
        assert mid.keyframes == 1 and upstream.plis == plis

        # A packet lost upstream: the layers stop until the publisher's next keyframe, which the ladder asks for.
        # (First every picture fed so far is decoded: on a busy machine the decoder can still be two behind here.)
        assert await until(lambda: ladder.frames_decoded == 6, 5), ladder.frames_decoded
        decoded = ladder.frames_decoded
        feed.frame(drop=0)
        feed.frame()
        assert await until(lambda: upstream.plis > plis, 5)
        await asyncio.sleep(0.2)
        assert ladder.frames_decoded == decoded
        feed.frame(keyframe=True)
        assert await until(lambda: ladder.frames_decoded == decoded + 1, 5)
        assert ladder.stats()["dropped_packets"] == 0
    finally:
        ladder.stop()
    assert ladder._on_packet not in source.taps
