"""Transport-cc feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01 section 3.1): what the receiver builds
is what the sender reads back, bit for bit in meaning."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfu.twcc import (
    FMT_TRANSPORT_CC,
    RTCP_RTPFB,
    TICK_US,
    ArrivalRecorder,
    encode_feedback,
    parse_feedback,
    read_transport_seq,
    split_rtcp,
)


def ticks(arrivals: tuple[int | None, ...]) -> list[int | None]:
    return [None if a is None else a // TICK_US for a in arrivals]


def test_a_feedback_reports_each_number_as_received_at_its_time_or_lost() -> None:
    arrivals: list[int | None] = [1_000_000, 1_000_500, None, None, 1_003_000, 1_100_000, 990_000]
    data = encode_feedback(0x11, 0x22, 65534, 7, arrivals)
    assert len(data) % 4 == 0
    first, packet_type, length = struct.unpack_from("!BBH", data)
    assert first & 0x1F == FMT_TRANSPORT_CC and packet_type == RTCP_RTPFB and (length + 1) * 4 == len(data)
    feedback = parse_feedback(data)
    assert (feedback.sender_ssrc, feedback.media_ssrc, feedback.base_seq, feedback.feedback_count) == (
        0x11,
        0x22,
        65534,
        7,
    )
    # times come back on the feedback's own scale: differences between received packets are exact to 250 µs
    got = feedback.arrivals
    assert [a is None for a in got] == [a is None for a in arrivals]
    received = [(a, b) for a, b in zip(arrivals, got, strict=True) if a is not None and b is not None]
    base_sent, base_got = received[0]
    for sent, read in received:
        assert abs((read - base_got) - (sent - base_sent)) <= TICK_US


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(st.none(), st.integers(min_value=0, max_value=8_000_000)),
        min_size=1,
        max_size=300,
    ).filter(lambda xs: any(x is not None for x in xs))
)
def test_any_arrival_pattern_survives_encoding(arrivals: list[int | None]) -> None:
    # deltas past the 16-bit range (8.19 s) are clamped by design: keep the property within it
    received = [a for a in arrivals if a is not None]
    if max(received) - min(received) > 8_000_000:
        return
    feedback = parse_feedback(encode_feedback(1, 2, 100, 0, arrivals))
    assert len(feedback.arrivals) == len(arrivals)
    assert [a is None for a in feedback.arrivals] == [a is None for a in arrivals]
    pairs = [(a, b) for a, b in zip(arrivals, feedback.arrivals, strict=True) if a is not None and b is not None]
    for (a0, b0), (a1, b1) in itertools.pairwise(pairs):
        assert abs((b1 - b0) - (a1 - a0)) <= TICK_US


def test_long_runs_and_mixed_symbols_use_every_chunk_kind() -> None:
    arrivals: list[int | None] = [None] * 40 + [1_000 * i for i in range(30)] + [50_000, 10_000, None, 90_000]
    data = encode_feedback(1, 2, 0, 0, arrivals)
    words = [struct.unpack_from("!H", data, 20 + 2 * i)[0] for i in range(4)]
    assert words[0] & 0x8000 == 0 and words[0] & 0x1FFF == 40  # a run-length chunk of 40 "not received"
    assert parse_feedback(data).arrivals.count(None) == 41


def test_the_recorder_reports_everything_since_its_last_feedback_across_the_wrap() -> None:
    recorder = ArrivalRecorder()
    for seq, at in ((65533, 0), (65534, 1000), (0, 3000), (1, 4000)):  # 65535 lost
        recorder.record(seq, at)
    first = parse_feedback(recorder.build(5, 6) or b"")
    assert first.base_seq == 65533 and ticks(first.arrivals) == [0, 4, None, 12, 16]
    recorder.record(3, 9000)  # 2 lost
    recorder.record(1, 9500)  # a duplicate of a number already reported: not reported again
    second = parse_feedback(recorder.build(5, 6) or b"")
    assert second.base_seq == 2 and [a is None for a in second.arrivals] == [True, False]
    assert second.feedback_count == first.feedback_count + 1
    assert recorder.build(5, 6) is None  # nothing new


def test_compound_rtcp_yields_its_transport_cc_messages_only() -> None:
    feedback = encode_feedback(1, 2, 10, 0, [1000, None, 2000])
    receiver_report = struct.pack("!BBHI", 0x80, 201, 1, 1)
    assert split_rtcp(receiver_report + feedback) == [feedback]
    assert split_rtcp(receiver_report) == []


@pytest.mark.parametrize("data", [b"", b"\x8f\xcd\x00\x01" + bytes(4), bytes(24)])
def test_a_malformed_feedback_is_refused(data: bytes) -> None:
    with pytest.raises(ValueError):
        parse_feedback(data)


def test_a_truncated_feedback_is_refused() -> None:
    data = encode_feedback(1, 2, 10, 0, [1000 * i for i in range(20)])
    header = bytearray(data[:4])
    with pytest.raises(ValueError):
        parse_feedback(bytes(header) + data[4:22])


def test_the_recorder_keeps_recording_into_the_list_the_hot_path_holds() -> None:
    recorder = ArrivalRecorder()
    record = recorder.pending.append  # what the receiver hook keeps
    record((1, 0))
    assert recorder.build(5, 6) is not None
    record((2, 1000))
    second = recorder.build(5, 6)
    assert second is not None and parse_feedback(second).base_seq == 2


def test_the_sequence_number_is_read_from_a_raw_packet_in_either_extension_form() -> None:
    fixed = bytes((0x90, 96)) + bytes(10)
    one_byte = fixed + b"\xbe\xde\x00\x02" + bytes((0x10, 7)) + bytes((0x31, 0x12, 0x34)) + bytes(2) + b"payload"
    assert read_transport_seq(one_byte, 3) == 0x1234
    assert read_transport_seq(one_byte, 4) is None
    two_byte = fixed + b"\x10\x00\x00\x02" + bytes((3, 2, 0xAB, 0xCD)) + bytes(4) + b"payload"
    assert read_transport_seq(two_byte, 3) == 0xABCD
    assert read_transport_seq(bytes((0x80, 96)) + bytes(20), 3) is None  # no extension
    assert read_transport_seq(bytes((0x90, 200)) + bytes(20), 3) is None  # RTCP
    assert read_transport_seq(fixed + b"\xbe\xde\x00\x09" + bytes(4), 3) is None  # truncated
