"""Producer → consumer rewriting with real aiortc receivers and senders (not connected); the only stand-in is the
consumer's send function, the SFU's own seam."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiortc import RTCPeerConnection, RTCRtpCodecParameters
from aiortc.rtp import RtpPacket

from sfu.consumer import Consumer, EgressCodec
from sfu.egress import ExtensionIds, ProfileTable
from sfu.producer import Producer
from sfu.settings import SfuSettings

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
KEY = bytes((0x10, 0x00, 0x9D, 0x01, 0x2A))
DELTA = bytes((0x10, 0x01, 0x00))
CONT = bytes((0x00, 0x00, 0x00))


def rtp(seq: int, ts: int, payload: bytes, marker: int = 0) -> RtpPacket:
    packet = RtpPacket(payload_type=96, sequence_number=seq & 0xFFFF, timestamp=ts & 0xFFFFFFFF, ssrc=1234)
    packet.payload = payload
    packet.marker = marker
    return packet


class Rig:
    def __init__(self, pc: RTCPeerConnection) -> None:
        self.pc = pc
        self.profiles = ProfileTable()
        self.settings = SfuSettings(gop_refresh_s=60.0)
        self.closed: list[str] = []

    def producer(self) -> Producer:
        receiver = self.pc.addTransceiver("video", direction="recvonly").receiver
        return Producer("p", "s", "video", VP8, receiver, self.settings, self.profiles, lambda p, r: None)

    def consumer(self, rtx: int | None = 98) -> tuple[Consumer, list[RtpPacket]]:
        sender = self.pc.addTransceiver("video", direction="sendonly").sender
        consumer = Consumer(
            "c",
            "s",
            "video",
            sender,
            EgressCodec("video/VP8", 90000, 97, rtx),
            (ExtensionIds(mid=1), "0"),
            None,
            lambda c, r: self.closed.append(r),
        )
        sent: list[RtpPacket] = []
        consumer.set_link(lambda data: sent.append(RtpPacket.parse(data)))
        return consumer, sent


@pytest.fixture
async def rig() -> AsyncIterator[Rig]:
    pc = RTCPeerConnection()
    yield Rig(pc)
    await pc.close()


def out(sent: list[RtpPacket]) -> list[tuple[int, int]]:
    return [(p.sequence_number, p.timestamp) for p in sent]


async def test_a_consumer_rewrites_ssrc_sequence_timestamp_and_payload_type_keeping_gaps(rig: Rig) -> None:
    producer = rig.producer()
    consumer, sent = rig.consumer()
    producer.add_consumer(consumer)  # no keyframe cached yet: waits
    producer.on_packet(rtp(65534, 1000, KEY))
    producer.on_packet(rtp(65535, 1000, CONT, marker=1))
    producer.on_packet(rtp(1, 4000, DELTA, marker=1))  # seq 0 lost upstream
    first_seq, first_ts = sent[0].sequence_number, sent[0].timestamp
    assert out(sent) == [
        (first_seq, first_ts),
        ((first_seq + 1) & 0xFFFF, first_ts),
        ((first_seq + 3) & 0xFFFF, (first_ts + 3000) & 0xFFFFFFFF),
    ]
    assert {p.ssrc for p in sent} == {consumer._ssrc}
    assert {p.payload_type for p in sent} == {97}
    assert [p.marker for p in sent] == [0, 1, 1]
    assert sent[0].payload == KEY
    producer.on_packet(rtp(0, 1000, CONT))  # the repair arrives late and slots into the gap
    assert sent[-1].sequence_number == (first_seq + 2) & 0xFFFF


async def test_a_late_joiner_replays_the_cache_from_the_keyframe(rig: Rig) -> None:
    producer = rig.producer()
    producer.on_packet(rtp(10, 0, DELTA, marker=1))  # before any keyframe: not cached
    producer.on_packet(rtp(11, 3000, KEY, marker=1))
    producer.on_packet(rtp(12, 6000, DELTA, marker=1))
    consumer, sent = rig.consumer()
    producer.add_consumer(consumer)
    assert [p.payload for p in sent] == [KEY, DELTA]
    assert producer.cache_hits == 1 and producer.plis_sent == 0
    assert sent[1].timestamp - sent[0].timestamp == 3000


async def test_a_late_repaired_packet_of_an_older_keyframe_does_not_restart_the_cache(rig: Rig) -> None:
    producer = rig.producer()
    producer.on_packet(rtp(100, 0, KEY, marker=1))
    producer.on_packet(rtp(102, 3000, KEY, marker=1))
    producer.on_packet(rtp(103, 6000, DELTA, marker=1))
    producer.on_packet(rtp(101, 1500, KEY, marker=1))  # an old keyframe packet, repaired late
    assert producer.cache.packets[0].seq == 102
    assert producer.keyframes == 2


async def test_a_consumer_continues_numbering_when_the_publisher_comes_back(rig: Rig) -> None:
    first = rig.producer()
    consumer, sent = rig.consumer()
    first.on_packet(rtp(500, 90000, KEY, marker=1))
    first.add_consumer(consumer)
    first.on_packet(rtp(501, 93000, DELTA, marker=1))
    last_seq, last_ts = sent[-1].sequence_number, sent[-1].timestamp
    first.close("publisher_left")
    second = rig.producer()
    second.add_consumer(consumer)
    second.on_packet(rtp(7, 5, DELTA, marker=1))  # not a keyframe: the viewer waits
    assert len(sent) == 2
    second.on_packet(rtp(8, 10, KEY, marker=1))
    assert sent[-1].sequence_number == (last_seq + 1) & 0xFFFF
    assert 0 < (sent[-1].timestamp - last_ts) & 0xFFFFFFFF < 90000 * 5
    assert sent[-1].ssrc == sent[0].ssrc


async def test_a_nack_is_answered_with_rtx_from_the_producer_history(rig: Rig) -> None:
    producer = rig.producer()
    consumer, sent = rig.consumer(rtx=98)
    producer.on_packet(rtp(40, 0, KEY, marker=1))
    producer.add_consumer(consumer)
    producer.on_packet(rtp(41, 3000, DELTA, marker=1))
    lost = sent[1]
    await consumer._retransmit(lost.sequence_number)
    rtx = sent[-1]
    assert rtx.payload_type == 98 and rtx.ssrc == consumer._rtx_ssrc
    assert rtx.payload[:2] == lost.sequence_number.to_bytes(2, "big") and rtx.payload[2:] == DELTA
    assert rtx.timestamp == lost.timestamp
    await consumer._retransmit((lost.sequence_number + 5) & 0xFFFF)  # never sent: not in history
    stats: dict[str, Any] = consumer.stats()
    assert stats["retransmits"] == 1 and stats["nack_misses"] == 1
    plain, plain_sent = rig.consumer(rtx=None)
    producer.add_consumer(plain)
    await plain._retransmit(plain_sent[0].sequence_number)
    assert plain_sent[-1].sequence_number == plain_sent[0].sequence_number and plain_sent[-1].payload_type == 97


async def test_closing_a_consumer_is_idempotent_and_stops_forwarding(rig: Rig) -> None:
    producer = rig.producer()
    consumer, sent = rig.consumer()
    producer.on_packet(rtp(1, 0, KEY, marker=1))
    producer.add_consumer(consumer)
    consumer.close("bye")
    consumer.close("again")
    producer.on_packet(rtp(2, 3000, DELTA, marker=1))
    assert len(sent) == 1 and rig.closed == ["bye"] and producer.consumer_count == 0


H264 = RTCRtpCodecParameters(
    mimeType="video/H264",
    clockRate=90000,
    payloadType=102,
    parameters={"level-asymmetry-allowed": "1", "packetization-mode": "1", "profile-level-id": "42e01f"},
)
SPS, PPS, IDR, SLICE = b"\x67\x42\xc0\x1f", b"\x68\xce\x3c\x80", b"\x65\x88\x84", b"\x41\x9a\x02"


async def test_h264_late_joiners_get_the_parameter_sets_a_keyframe_came_without(rig: Rig) -> None:
    receiver = rig.pc.addTransceiver("video", direction="recvonly").receiver
    producer = Producer("p", "s", "video", H264, receiver, rig.settings, rig.profiles, lambda p, r: None)
    producer.on_packet(rtp(1, 0, SPS))
    producer.on_packet(rtp(2, 0, PPS))
    producer.on_packet(rtp(3, 0, IDR, marker=1))
    producer.on_packet(rtp(4, 3000, SLICE, marker=1))
    producer.on_packet(rtp(5, 6000, IDR, marker=1))  # a later keyframe without SPS/PPS in front
    producer.on_packet(rtp(6, 9000, SLICE, marker=1))
    consumer, sent = rig.consumer()
    producer.add_consumer(consumer)
    assert [p.payload for p in sent] == [SPS, PPS, IDR, SLICE]
    seqs = [p.sequence_number for p in sent]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(4)]
    assert sent[0].timestamp == sent[1].timestamp == sent[2].timestamp
    await consumer._retransmit(seqs[0])  # the injected parameter sets are not in the NACK mapping
    assert consumer.stats()["retransmits"] == 0
    await consumer._retransmit(seqs[2])
    assert consumer.stats()["retransmits"] == 1 and sent[-1].payload[2:] == IDR


async def test_h264_keyframes_that_carry_their_sps_are_replayed_as_they_are(rig: Rig) -> None:
    receiver = rig.pc.addTransceiver("video", direction="recvonly").receiver
    producer = Producer("p", "s", "video", H264, receiver, rig.settings, rig.profiles, lambda p, r: None)
    for seq, ts, payload in ((1, 0, SPS), (2, 0, PPS), (3, 0, IDR), (4, 3000, SLICE), (5, 6000, SPS), (6, 6000, PPS)):
        producer.on_packet(rtp(seq, ts, payload))
    consumer, sent = rig.consumer()
    producer.add_consumer(consumer)
    assert [p.payload for p in sent] == [SPS, PPS]


async def test_a_relay_pipe_gets_each_packet_before_the_workers_own_viewers(rig: Rig) -> None:
    producer = rig.producer()
    order: list[str] = []
    viewers = []
    for name in ("viewer-1", "viewer-2"):
        viewer, _ = rig.consumer()
        viewer.set_link(lambda data, name=name: order.append(name))
        viewers.append(viewer)
        producer.add_consumer(viewer)
    producer.on_packet(rtp(1, 0, KEY, marker=1))
    pipe = Consumer(
        "pipe", "s", "video", None, EgressCodec("video/VP8", 90000, 96, None), (ExtensionIds(), None), None, print
    )
    pipe.set_link(lambda data: order.append("pipe"))
    producer.add_consumer(pipe)  # joins last (from the cache) ...
    late, _ = rig.consumer()
    late.set_link(lambda data: order.append("viewer-3"))
    producer.add_consumer(late)
    order.clear()
    producer.on_packet(rtp(2, 3000, DELTA, marker=1))
    assert order == ["pipe", "viewer-1", "viewer-2", "viewer-3"]  # ... and is served first


async def test_a_viewer_keeps_getting_packets_and_repairs_past_half_the_sequence_space(rig: Rig) -> None:
    producer = rig.producer()
    consumer, sent = rig.consumer(rtx=None)
    producer.add_consumer(consumer)
    producer.on_packet(rtp(1000, 0, KEY, marker=1))
    for n in range(1, 70_000):  # 7.8 minutes of a 150 packets/s stream: the sequence numbers wrap once
        producer.on_packet(rtp(1000 + n, 3000 * n, DELTA, marker=1))
    assert len(sent) == 70_000  # every packet reached the viewer, none was taken for "older than its first"
    last = sent[-1].sequence_number
    sent.clear()
    consumer.retransmit((last - 5) & 0xFFFF)  # and a NACK for a recent packet is still answered
    assert [p.sequence_number for p in sent] == [(last - 5) & 0xFFFF]
