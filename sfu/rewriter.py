"""Where a viewer's outgoing numbering continues when its source changes: the publisher reconnected (a new producer),
or the viewer moved to another simulcast layer (another SSRC with its own sequence numbers and timestamps).

A pure function of the first incoming packet of the new source and where the outgoing stream stopped. The outgoing
sequence number goes on at the last one + 1 (+ the lead packets: H.264 parameter sets sent just before a keyframe),
so the viewer's jitter buffer sees no gap and NACKs nothing; the timestamp advances by the time between the last
packet sent and the first new one (at least one tick, so it never goes back), as mediasoup and LiveKit do when they
have no sender-report mapping between two streams. Within an epoch the consumer applies the two offsets as
constants (``sfu/consumer.py``), so the source's own gaps stay gaps and repaired packets slot in.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Resume:
    """Where the outgoing stream stopped: its last sequence number and timestamp, and when that packet arrived."""

    last_seq: int
    last_ts: int
    at: float


@dataclass(frozen=True, slots=True)
class Epoch:
    #: Outgoing = (incoming + offset) mod 2^16 / 2^32.
    seq_offset: int
    ts_offset: int
    #: Outgoing sequence number of the new source's first packet (lead packets take the ones before it).
    first_out_seq: int
    #: Outgoing sequence number and timestamp of the first lead packet (or of the first packet, without lead).
    lead_out_seq: int
    out_ts: int


def rebase(
    first_seq: int,
    first_ts: int,
    first_at: float,
    resume: Resume | None,
    clock_rate: int,
    lead: int,
    initial: tuple[int, int],
) -> Epoch:
    """Offsets for an epoch starting at the incoming packet (``first_seq``, ``first_ts``) that arrived at
    ``first_at``. Without ``resume`` (the viewer's first epoch) the stream starts at ``initial`` (random sequence
    number and timestamp, RFC 3550 section 5.1)."""
    if resume is None:
        out_seq, out_ts = initial[0] & 0xFFFF, initial[1] & 0xFFFFFFFF
    else:
        out_seq = (resume.last_seq + 1) & 0xFFFF
        gap = max(1, int((first_at - resume.at) * clock_rate))
        out_ts = (resume.last_ts + gap) & 0xFFFFFFFF
    first_out = (out_seq + lead) & 0xFFFF
    return Epoch(
        seq_offset=(first_out - first_seq) & 0xFFFF,
        ts_offset=(out_ts - first_ts) & 0xFFFFFFFF,
        first_out_seq=first_out,
        lead_out_seq=out_seq,
        out_ts=out_ts,
    )
