from __future__ import annotations

from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from sfu.egress import URI_ABS_SEND_TIME, URI_AUDIO_LEVEL, URI_MID, EgressProfile, ExtensionIds, ProfileTable
from sfu.packet import ForwardPacket, KeyframeCache, PacketHistory


def packet(seq: int, ts: int = 1000, *, key: bool = False, payload: bytes = b"abc") -> ForwardPacket:
    return ForwardPacket(seq, ts, 0, payload, False, None, key, 0.0)


def test_history_returns_only_the_packet_with_that_exact_sequence_number() -> None:
    history = PacketHistory(8)
    for seq in range(65530, 65536):
        history.put(packet(seq))
    history.put(packet(0))
    assert history.get(65535) is not None
    assert history.get(0) is not None
    history.put(packet(8))  # same slot as 0
    assert history.get(0) is None
    assert history.get(8) is not None


def test_keyframe_cache_restarts_at_each_new_keyframe_and_drops_when_full() -> None:
    cache = KeyframeCache(max_packets=4)
    assert not cache.valid
    assert cache.add(packet(1))  # nothing cached before the first keyframe
    assert not cache.valid
    first = packet(2, ts=10, key=True)
    assert cache.is_new_keyframe(first)
    cache.start(first, now=1.0)
    assert not cache.is_new_keyframe(packet(3, ts=10, key=True))  # same picture
    for seq in (3, 4, 5):
        assert cache.add(packet(seq, ts=10))
    assert [p.seq for p in cache.packets] == [2, 3, 4, 5]
    assert not cache.add(packet(6, ts=20))  # overflow: dropped until the next keyframe
    assert not cache.valid
    second = packet(7, ts=30, key=True)
    assert cache.is_new_keyframe(second)


def test_padding_is_kept_so_padding_only_packets_keep_their_sequence_number() -> None:
    rtp = RtpPacket(payload_type=96, sequence_number=5, timestamp=9)
    rtp.payload = b""
    rtp.padding_size = 4
    forwarded = ForwardPacket.from_rtp(rtp, False, 0.0)
    assert forwarded.padded
    assert forwarded.payload == b"\x00\x00\x00\x04"


def parse_with(ids: ExtensionIds, data: bytes) -> RtpPacket:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=ids.mid or 0, uri=URI_MID),
                RTCRtpHeaderExtensionParameters(id=ids.abs_send_time or 0, uri=URI_ABS_SEND_TIME),
                RTCRtpHeaderExtensionParameters(id=ids.audio_level or 0, uri=URI_AUDIO_LEVEL),
            ]
        )
    )
    return RtpPacket.parse(data, extensions)


def test_egress_extensions_parse_back_with_aiortc() -> None:
    ids = ExtensionIds(mid=4, abs_send_time=3, audio_level=1)
    profile = EgressProfile(ids, "1")
    source = ForwardPacket(7, 1234, 1, b"opus-payload", False, 0x80 | 42, False, 0.0)
    b0, tail = profile.tail(source, abs_send_time=0x123456)
    header = bytes((b0, 0x80 | 111)) + (77).to_bytes(2, "big") + (999).to_bytes(4, "big") + (5).to_bytes(4, "big")
    parsed = parse_with(ids, header + tail)
    assert parsed.extensions.mid == "1"
    assert parsed.extensions.abs_send_time == 0x123456
    assert parsed.extensions.audio_level == (True, 42)
    assert parsed.payload == b"opus-payload"
    assert (parsed.sequence_number, parsed.timestamp, parsed.ssrc, parsed.marker) == (77, 999, 5, 1)


def test_egress_profile_serializes_once_per_packet_and_keeps_padding() -> None:
    table = ProfileTable()
    ids = ExtensionIds(mid=1, abs_send_time=3)
    profile = table.get(ids, "0")
    assert table.get(ids, "0") is profile
    source = ForwardPacket(7, 1234, 0, b"xy\x00\x03", True, None, False, 0.0)
    b0, tail = profile.tail(source, 1)
    assert profile.tail(source, 2)[1] is tail  # cached for the same packet
    parsed = parse_with(ids, bytes((b0, 96)) + bytes(10) + tail)
    assert parsed.padding_size == 3
    assert parsed.payload == b"x"
