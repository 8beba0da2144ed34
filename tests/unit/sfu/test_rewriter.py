"""Continuous outgoing numbering across source changes (publisher reconnects, simulcast layer switches)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from sfu.rewriter import Resume, rebase


def test_a_first_epoch_starts_at_the_initial_values() -> None:
    epoch = rebase(1000, 5000, 1.0, None, 90000, 0, (77, 123456))
    assert (epoch.first_out_seq, epoch.out_ts) == (77, 123456)
    assert ((1000 + epoch.seq_offset) & 0xFFFF, (5000 + epoch.ts_offset) & 0xFFFFFFFF) == (77, 123456)


def test_a_new_source_continues_one_after_the_last_sequence_number_and_later_in_time() -> None:
    epoch = rebase(40000, 7, 10.5, Resume(65535, 0xFFFFFFF0, 10.0), 90000, 0, (0, 0))
    assert epoch.first_out_seq == 0  # wraps
    assert epoch.out_ts == (0xFFFFFFF0 + 45000) & 0xFFFFFFFF


def test_lead_packets_take_the_numbers_just_before_the_keyframe() -> None:
    epoch = rebase(10, 0, 1.0, Resume(99, 1000, 1.0), 90000, 2, (0, 0))
    assert (epoch.lead_out_seq, epoch.first_out_seq) == (100, 102)


def test_a_source_whose_first_packet_arrived_before_the_last_one_sent_still_moves_time_forward() -> None:
    epoch = rebase(10, 0, 0.9, Resume(99, 1000, 1.0), 90000, 0, (0, 0))
    assert epoch.out_ts == 1001


@given(
    st.lists(
        st.tuples(st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF), st.integers(1, 40), st.floats(0, 2)),
        min_size=1,
        max_size=20,
    )
)
def test_any_sequence_of_switches_gives_one_gapless_stream(sources: list[tuple[int, int, int, float]]) -> None:
    """Each source: (first seq, first ts, packets forwarded, seconds until the next switch). Packets of one source
    are consecutive with 3000 ticks between them."""
    resume = None
    out: list[tuple[int, int]] = []
    clock = 0.0
    for first_seq, first_ts, count, pause in sources:
        epoch = rebase(first_seq, first_ts, clock, resume, 90000, 0, (1, 2))
        for i in range(count):
            seq, ts = (first_seq + i) & 0xFFFF, (first_ts + 3000 * i) & 0xFFFFFFFF
            out.append(((seq + epoch.seq_offset) & 0xFFFF, (ts + epoch.ts_offset) & 0xFFFFFFFF))
        last_seq, last_ts = out[-1]
        clock += count / 30 + pause
        resume = Resume(last_seq, last_ts, clock - pause)
    for (a_seq, a_ts), (b_seq, b_ts) in itertools.pairwise(out):
        assert (b_seq - a_seq) & 0xFFFF == 1
        assert 0 < (b_ts - a_ts) & 0xFFFFFFFF < 0x80000000 or b_ts == a_ts
