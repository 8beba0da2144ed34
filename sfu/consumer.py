"""A consumer: one viewer's track, fed with one producer's packets, rewritten for that viewer.

Per packet and viewer the work is: an offset check, a 12-byte header (SSRC, sequence number, timestamp, payload
type), SRTP protect, ``sendto``. Sequence numbers and timestamps are shifted by constant offsets, so gaps the
publisher left stay gaps (the viewer NACKs them) and packets repaired upstream slot in at the right place.
When the producer changes (the publisher reconnected), the offsets are rebased so the viewer sees one
continuous stream that resumes at a keyframe.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pylibsrtp
from aiortc import RTCRtpSender
from aiortc.utils import random16, random32

from sfu import aiortc_hooks
from sfu.egress import EgressProfile
from sfu.packet import ForwardPacket
from sfu.rewriter import Resume, rebase
from sfu.selector import AUTO, Screen

if TYPE_CHECKING:
    from sfu.producer import Producer

log = logging.getLogger(__name__)

_header = struct.Struct("!BBHII").pack
_osn = struct.Struct("!H").pack
_PC = aiortc_hooks.SENDER_PACKET_COUNT
_OC = aiortc_hooks.SENDER_OCTET_COUNT
_NTP = aiortc_hooks.SENDER_NTP_TIMESTAMP
_RTPTS = aiortc_hooks.SENDER_RTP_TIMESTAMP
#: How far (in packets) the reference for "older than this viewer's start" trails the newest packet forwarded: moved
#: up to ``_REFERENCE_LAG`` behind it whenever it falls more than ``_REFERENCE_MAX_LAG`` behind (packets that old are
#: long out of every history, so nothing that could still be repaired is refused).
_REFERENCE_LAG = 0x2000
_REFERENCE_MAX_LAG = 0x6000


@dataclass(frozen=True, slots=True)
class EgressCodec:
    """What the viewer negotiated for this track (from the SFU's answer)."""

    mime_type: str
    clock_rate: int
    payload_type: int
    rtx_payload_type: int | None


class Consumer:
    def __init__(
        self,
        consumer_id: str,
        stream_id: str,
        kind: str,
        sender: RTCRtpSender | None,
        codec: EgressCodec,
        profile_key: Any,
        app_data: Any,
        on_close: Callable[[Consumer, str], None],
        *,
        ssrc: int | None = None,
    ) -> None:
        """``sender`` is the viewer's aiortc sender; a relay pipe's consumer has none and sends as ``ssrc``."""
        self.id = consumer_id
        self.stream_id = stream_id
        self.kind = kind
        self.codec = codec
        self.app_data = app_data
        #: (ExtensionIds, mid): which shared egress profile of the producer this consumer uses.
        self.profile_key = profile_key
        self.closed = False
        self.created_at = time.monotonic()
        self.first_packet_at: float | None = None
        self._on_close = on_close
        self._sender = sender
        #: A relay pipe's consumer (no viewer behind it): served first in the producer's fan-out.
        self.is_pipe = sender is None
        if sender is not None:
            self._sd = aiortc_hooks.sender_state(sender)
            self._ssrc: int = sender._ssrc
            self._rtx_ssrc: int = sender._rtx_ssrc
        else:
            self._sd = {_PC: 0, _OC: 0, _NTP: 0, _RTPTS: 0}
            self._ssrc = ssrc if ssrc is not None else random32()
            self._rtx_ssrc = 0
        self._pt = codec.payload_type
        self._pt_marker = codec.payload_type | 0x80
        self._rtx_pt = codec.rtx_payload_type
        self._rtx_seq = random16() % 32768
        self._send: aiortc_hooks.SendTo | None = None
        self._profile: EgressProfile | None = None
        self._producer: Producer | None = None
        # Rewriting state of the current epoch (one epoch per producer this consumer followed).
        self._started = False
        self._start_in = 0
        self._epoch_out_start = 0
        self._seq_off = 0
        self._ts_off = 0
        #: Where the previous epoch's outgoing stream stopped, for rebasing.
        self._resume: Resume | None = None
        # Simulcast: what the viewer asked for (``sfu/selector.py``) and the layer it waits to switch to.
        self.preference = AUTO
        self.screen: Screen | None = None
        #: A per-viewer bandwidth estimate in bits per second, once an estimator provides one.
        self.estimate_bps: int | None = None
        #: The layer producer this consumer waits to switch to (at its next keyframe), if any.
        self.pending: Producer | None = None
        #: A relay pipe's consumer of one simulcast layer: always fed by the layer with this rid, never placed.
        self.pinned: str | None = None
        #: Video paused because no layer fits (audio goes on).
        self.paused = False
        self.switches = 0
        # Stats not kept by the sender itself.
        self.nacks_received = 0
        self.retransmits = 0
        self.nack_misses = 0
        self.plis_received = 0
        self.packets_lost = 0
        self.fraction_lost = 0
        self.cache_replays = 0
        self.send_errors = 0
        if sender is not None:
            aiortc_hooks.hook_sender(
                sender,
                retransmit=self._retransmit,
                keyframe_requested=self._keyframe_requested,
                report_received=self._report_received,
            )

    # -- wiring ----------------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._send is not None

    @property
    def producer(self) -> Producer | None:
        return self._producer

    @property
    def started(self) -> bool:
        """Packets flow (an epoch began at a keyframe of the current producer)."""
        return self._started

    def set_link(self, send: aiortc_hooks.SendTo) -> None:
        self._send = send

    def attach(self, producer: Producer, profile: EgressProfile) -> None:
        """Follow ``producer``; packets flow once the producer calls :meth:`start` at a keyframe."""
        self._producer = producer
        self._profile = profile
        self._started = False

    def detach(self) -> None:
        """The producer is gone: remember where the stream stopped, so the next producer continues from there."""
        producer = self._producer
        if producer is not None and self._started:
            self._resume = Resume(
                (producer.max_seq + self._seq_off) & 0xFFFF,
                (producer.max_ts + self._ts_off) & 0xFFFFFFFF,
                producer.last_packet_at if producer.last_packet_at is not None else time.monotonic(),
            )
        self._producer = None
        self._started = False

    def start(self, packet: ForwardPacket, lead: tuple[ForwardPacket, ...] = ()) -> None:
        """Begin an epoch at ``packet`` (a keyframe start for video): choose the offsets (``sfu/rewriter.py``).
        ``lead`` packets (H.264 parameter sets the keyframe lacks) are sent first, in sequence numbers reserved just
        before it."""
        epoch = rebase(
            packet.seq,
            packet.ts,
            packet.received_at,
            self._resume,
            self.codec.clock_rate,
            len(lead),
            # Random initial values, as RFC 3550 section 5.1 asks; the sequence number in the lower half to avoid
            # an early wrap (aiortc does the same).
            (random16() % 32768, random32()),
        )
        self._seq_off = epoch.seq_offset
        self._ts_off = epoch.ts_offset
        self._start_in = packet.seq
        self._epoch_out_start = epoch.first_out_seq  # NACKs for the lead packets are not answered (not mapped)
        self._started = True
        if self.first_packet_at is None:
            self.first_packet_at = time.monotonic()
        for index, extra in enumerate(lead):
            self._send_extra(extra, (epoch.lead_out_seq + index) & 0xFFFF, epoch.out_ts)

    def _send_extra(self, packet: ForwardPacket, out_seq: int, out_ts: int) -> None:
        if self._profile is None or self._send is None:
            return
        b0, tail = self._profile.build(packet, b"")
        try:
            self._send(_header(b0, self._pt, out_seq, out_ts, self._ssrc) + tail)
        except pylibsrtp.Error:
            self.send_errors += 1

    # -- hot path --------------------------------------------------------------------------------------------

    def forward(self, packet: ForwardPacket, abs_send_time: int, ntp: int) -> None:
        seq = packet.seq
        ahead = (seq - self._start_in) & 0xFFFF
        if ahead >= 0x8000:
            return  # older than this viewer's first packet (or than the reference, which trails the newest)
        if ahead > _REFERENCE_MAX_LAG:
            # Keep the reference within half the sequence space of the newest packet, or once the numbers have
            # moved 32,768 past it (3.6 minutes of a 150 packets/s video) every packet would look older than it.
            self._start_in = (seq - _REFERENCE_LAG) & 0xFFFF
            self._epoch_out_start = (self._start_in + self._seq_off) & 0xFFFF
        b0, tail = self._profile.tail(packet, abs_send_time)  # type: ignore[union-attr]
        ts = (packet.ts + self._ts_off) & 0xFFFFFFFF
        try:
            self._send(  # type: ignore[misc]
                _header(
                    b0, self._pt_marker if packet.marker else self._pt, (seq + self._seq_off) & 0xFFFF, ts, self._ssrc
                )
                + tail
            )
        except pylibsrtp.Error:
            # libsrtp refuses an index far behind its replay window (a packet repaired upstream very late):
            # drop that one packet, keep the viewer.
            self.send_errors += 1
            return
        sd = self._sd
        sd[_PC] += 1
        sd[_OC] += len(packet.payload)
        sd[_NTP] = ntp
        sd[_RTPTS] = ts

    # -- feedback from the viewer ----------------------------------------------------------------------------

    async def _retransmit(self, out_seq: int) -> None:
        self.retransmit(out_seq)

    def retransmit(self, out_seq: int) -> None:
        """Answer a NACK (RFC 4585 section 6.2.1) from the producer's history, as RTX (RFC 4588) if negotiated.
        Synchronous: a relay pipe calls it for each sequence number its far end NACKed."""
        self.nacks_received += 1
        producer = self._producer
        send = self._send
        if producer is None or send is None or not self._started or self._profile is None:
            return
        if (out_seq - self._epoch_out_start) & 0xFFFF >= 0x8000:
            return  # a packet of a previous epoch (before the publisher reconnected)
        packet = producer.history.get((out_seq - self._seq_off) & 0xFFFF)
        if packet is None:
            self.nack_misses += 1
            return
        ts = (packet.ts + self._ts_off) & 0xFFFFFFFF
        marker = 0x80 if packet.marker else 0
        if self._rtx_pt is not None and self._rtx_ssrc:
            b0, tail = self._profile.build(packet, _osn(out_seq))
            data = _header(b0, self._rtx_pt | marker, self._rtx_seq, ts, self._rtx_ssrc) + tail
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        else:
            b0, tail = self._profile.build(packet, b"")
            data = _header(b0, self._pt | marker, out_seq, ts, self._ssrc) + tail
        try:
            send(data)
        except Exception:
            log.debug("retransmission failed", exc_info=True)
            return
        self.retransmits += 1

    def keyframe_requested(self) -> None:
        self._keyframe_requested()

    def _keyframe_requested(self) -> None:
        self.plis_received += 1
        if self._producer is not None:
            self._producer.request_keyframe("viewer")

    def _report_received(self, packets_lost: int, fraction_lost: int) -> None:
        self.packets_lost = packets_lost
        self.fraction_lost = fraction_lost

    # -- lifecycle and stats ---------------------------------------------------------------------------------

    def close(self, reason: str = "closed") -> None:
        """Idempotent. Stops forwarding; the session closes the peer connection."""
        if self.closed:
            return
        self.closed = True
        producer = self._producer
        if producer is not None:
            producer.remove_consumer(self)
        if self.pending is not None:
            self.pending.remove_consumer(self)
            self.pending = None
        self._producer = None
        self._send = None
        self._on_close(self, reason)

    def stats(self) -> dict[str, Any]:
        sd = self._sd
        rtt = aiortc_hooks.sender_rtt(self._sender) if self._sender is not None else None
        return {
            "id": self.id,
            "stream_id": self.stream_id,
            "kind": self.kind,
            "mime_type": self.codec.mime_type,
            "packets": sd[_PC],
            "bytes": sd[_OC],
            "nacks": self.nacks_received,
            "retransmits": self.retransmits,
            "nack_misses": self.nack_misses,
            "plis": self.plis_received,
            "packets_lost": self.packets_lost,
            "fraction_lost": self.fraction_lost / 256,
            "rtt_s": rtt,
            "cache_replays": self.cache_replays,
            "send_errors": self.send_errors,
            "first_packet_s": None if self.first_packet_at is None else self.first_packet_at - self.created_at,
            "layer": self._producer.rid if self._producer is not None and self._started else None,
            "preference": self.preference,
            "switches": self.switches,
            "paused": self.paused,
        }
