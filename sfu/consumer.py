"""A consumer: one viewer's track, fed with one producer's packets, rewritten for that viewer.

Per packet and viewer the work is: an offset check, a 12-byte header (SSRC, sequence number, timestamp, payload
type), SRTP protect, ``sendto``. Sequence numbers and timestamps are shifted by constant offsets, so gaps the
publisher left stay gaps (the viewer NACKs them) and packets repaired upstream slot in at the right place.
When the producer changes (the publisher reconnected), the offsets are rebased so the viewer sees one
continuous stream that resumes at a keyframe.
"""

from __future__ import annotations

import asyncio
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
from sfu.downlink import PROBE_PACKET_BYTES, PROBE_PER_SEND, DownlinkEstimate
from sfu.egress import EgressProfile
from sfu.packet import ForwardPacket
from sfu.report_bwe import ReportEstimate
from sfu.rewriter import Resume, rebase
from sfu.selector import AUTO, Screen
from sfu.vp8 import PICTURE_ID_MOD, TL0_MOD, descriptor_ids, shift_ids

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
_clock_ns = time.monotonic_ns
#: A packet already resent to a viewer is not resent again sooner than this (transport-cc viewers).
RETRANSMIT_GAP_S = 0.1
#: A probe packet's padding (RFC 3550 5.1: the last octet counts the padding, itself included).
_PROBE_PADDING = bytes(PROBE_PACKET_BYTES - 21) + bytes((PROBE_PACKET_BYTES - 20,))


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
        #: VP8: PictureID / TL0PICIDX shifts of the current epoch (``sfu/vp8.py``), nonzero after a layer switch.
        self._vp8 = codec.mime_type.lower() == "video/vp8"
        self._pid_shift = 0
        self._tl0_shift = 0
        self._shifting = False
        #: The last PictureID and TL0PICIDX sent (as the viewer saw them), when the previous epoch ended.
        self._last_ids: tuple[int | None, int | None] | None = None
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
        #: A relay pipe's layer consumer the far side does not need now: not fed (``sfu/pipe.py``, layer demand).
        self.parked = False
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
        #: Transport-cc: the viewer's downlink estimate (``sfu/downlink.py``), when it negotiated transport-cc.
        self.downlink: DownlinkEstimate | None = None
        self._twcc_id = 0
        self._resent: dict[int, float] = {}
        self._previous_epoch: tuple[Producer, int, int, int, int, int] | None = None
        self.nacks_suppressed = 0
        twcc_id = getattr(profile_key[0], "transport_cc", None) if isinstance(profile_key, tuple) else None
        if sender is not None and kind == "video" and twcc_id is not None:
            self.downlink = DownlinkEstimate()
            self._twcc_id = twcc_id
            self._sent = self.downlink.history.sent
            self.forward = self._forward_numbered  # type: ignore[method-assign]
        #: Without transport-cc: an estimate from the viewer's receiver reports and REMB (``sfu/report_bwe.py``).
        self.report_bwe: ReportEstimate | None = None
        if sender is not None and kind == "video" and self.downlink is None:
            self.report_bwe = ReportEstimate()
        if sender is not None:
            aiortc_hooks.hook_sender(
                sender,
                retransmit=self._retransmit,
                keyframe_requested=self._keyframe_requested,
                report_received=self._report_received,
                remb_received=self._remb_received if self.report_bwe is not None else None,
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
            # packets lost just before a layer switch stay repairable from the layer they were sent from
            self._previous_epoch = (
                producer,
                self._seq_off,
                self._ts_off,
                self._epoch_out_start,
                self._pid_shift,
                self._tl0_shift,
            )
            if self._vp8:
                self._last_ids = self._newest_ids(producer)
            self._resume = Resume(
                (producer.max_seq + self._seq_off) & 0xFFFF,
                (producer.max_ts + self._ts_off) & 0xFFFFFFFF,
                producer.last_packet_at if producer.last_packet_at is not None else time.monotonic(),
            )
        self._producer = None
        self._started = False

    def _newest_ids(self, producer: Producer) -> tuple[int | None, int | None]:
        """The PictureID and TL0PICIDX the viewer saw last: those of the producer's newest packet (or of one of the
        few before it, if that one was lost), shifted as this epoch shifted them."""
        for back in range(16):
            packet = producer.history.get((producer.max_seq - back) & 0xFFFF)
            if packet is None:
                continue
            picture_id, tl0 = descriptor_ids(packet.payload)
            if picture_id is None and tl0 is None:
                continue
            return (
                None if picture_id is None else (picture_id + self._pid_shift) % PICTURE_ID_MOD,
                None if tl0 is None else (tl0 + self._tl0_shift) % TL0_MOD,
            )
        return None, None

    def _continue_ids(self, keyframe: ForwardPacket) -> None:
        """A new epoch starts at ``keyframe``: shift its PictureID and TL0PICIDX to follow the last ones sent."""
        self._pid_shift = self._tl0_shift = 0
        last = self._last_ids
        if last is not None:
            picture_id, tl0 = descriptor_ids(keyframe.payload)
            if picture_id is not None and last[0] is not None:
                self._pid_shift = (last[0] + 1 - picture_id) % PICTURE_ID_MOD
            if tl0 is not None and last[1] is not None:
                self._tl0_shift = (last[1] + 1 - tl0) % TL0_MOD
        self._shifting = bool(self._pid_shift or self._tl0_shift)

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
        if self._vp8:
            self._continue_ids(packet)
        self._started = True
        if self.first_packet_at is None:
            self.first_packet_at = time.monotonic()
        for index, extra in enumerate(lead):
            self._send_extra(extra, (epoch.lead_out_seq + index) & 0xFFFF, epoch.out_ts)

    def _send_extra(self, packet: ForwardPacket, out_seq: int, out_ts: int) -> None:
        if self._profile is None or self._send is None:
            return
        b0, tail = self._profile.build(packet, b"")
        tail = self._number(tail)
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
        if self._shifting:
            tail = shift_ids(tail, len(tail) - len(packet.payload), self._pid_shift, self._tl0_shift)
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

    def _forward_numbered(self, packet: ForwardPacket, abs_send_time: int, ntp: int) -> None:
        """:meth:`forward` for a viewer with transport-cc: each packet also carries its transport-wide sequence
        number (two octets between the profile's shared head and rest), recorded with its send time."""
        seq = packet.seq
        ahead = (seq - self._start_in) & 0xFFFF
        if ahead >= 0x8000:
            return
        if ahead > _REFERENCE_MAX_LAG:
            self._start_in = (seq - _REFERENCE_LAG) & 0xFFFF
            self._epoch_out_start = (self._start_in + self._seq_off) & 0xFFFF
        b0, head, rest = self._profile.split_tail(packet, abs_send_time)  # type: ignore[union-attr]
        if self._shifting:
            rest = shift_ids(rest, len(rest) - len(packet.payload), self._pid_shift, self._tl0_shift)
        ts = (packet.ts + self._ts_off) & 0xFFFFFFFF
        number = self._sent(len(head) + len(rest) + 14, _clock_ns() // 1000)
        try:
            self._send(  # type: ignore[misc]
                _header(
                    b0, self._pt_marker if packet.marker else self._pt, (seq + self._seq_off) & 0xFFFF, ts, self._ssrc
                )
                + head
                + _osn(number)
                + rest
            )
        except pylibsrtp.Error:
            self.send_errors += 1
            return
        sd = self._sd
        sd[_PC] += 1
        sd[_OC] += len(packet.payload)
        sd[_NTP] = ntp
        sd[_RTPTS] = ts

    def _number(self, tail: bytes) -> bytes:
        """A retransmission or extra packet for a transport-cc viewer gets its own transport-wide number too (the
        profile wrote a placeholder at octets 5..7): the estimate sees every packet sent."""
        if self.downlink is None:
            return tail
        number = self._sent(len(tail) + 12, _clock_ns() // 1000)
        return tail[:5] + _osn(number) + tail[7:]

    def send_probe(self, probe: int, count: int, gap_us: int = 0, per_send: int = PROBE_PER_SEND) -> int:
        """A probe cluster: ``count`` padding-only packets on the RTX SSRC (RFC 4588; the viewer's decoder never
        sees them), each with a transport-wide sequence number, ``per_send`` at a time every ``gap_us`` (0: all at
        once). Returns how many will go out (0: no RTX, not flowing)."""
        downlink = self.downlink
        # a paused consumer probes too (that is how it finds room for the lowest layer again)
        if (
            downlink is None
            or self._send is None
            or self.first_packet_at is None
            or self._rtx_pt is None
            or not self._rtx_ssrc
        ):
            return 0
        if gap_us <= 0:
            self._send_probe_packets(probe, count, later=False)
            return count
        loop = asyncio.get_running_loop()
        self._send_probe_packets(probe, min(per_send, count), later=False)
        for index, offset in enumerate(range(per_send, count, per_send), start=1):
            loop.call_later(index * gap_us / 1_000_000, self._send_probe_packets, probe, min(per_send, count - offset))
        return count

    def _send_probe_packets(self, probe: int, count: int, later: bool = True) -> None:
        """``later``: a paced part, sent only while the probe is still the one in flight and not stopped."""
        downlink = self.downlink
        send = self._send
        if downlink is None or send is None or self.closed or self._rtx_pt is None:
            return
        if later and not downlink.sending(probe):
            return
        downlink.probe_sent += count
        ts = self._sd[_RTPTS]
        extension = b"\xbe\xde\x00\x01" + bytes(((self._twcc_id << 4) | 1,))
        sent = downlink.history.sent
        for _ in range(count):
            number = sent(PROBE_PACKET_BYTES, _clock_ns() // 1000, probe)
            data = _header(0xB0, self._rtx_pt, self._rtx_seq, ts, self._rtx_ssrc) + extension
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
            try:
                send(data + _osn(number) + b"\x00" + _PROBE_PADDING)
            except pylibsrtp.Error:
                self.send_errors += 1

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
        seq_off, ts_off = self._seq_off, self._ts_off
        pid_shift, tl0_shift = self._pid_shift, self._tl0_shift
        earlier = (out_seq - self._epoch_out_start) & 0xFFFF >= 0x8000
        if earlier:
            # a packet of the previous epoch: answered from the layer it came from (a simulcast switch), if that
            # producer is still live (not a publisher that reconnected: its history is gone)
            previous = self._previous_epoch
            if previous is None or previous[0].closed or (out_seq - previous[3]) & 0xFFFF >= 0x8000:
                return
            producer, seq_off, ts_off, pid_shift, tl0_shift = (
                previous[0],
                previous[1],
                previous[2],
                previous[4],
                previous[5],
            )
        packet = producer.history.get((out_seq - seq_off) & 0xFFFF)
        if packet is None:
            self.nack_misses += 1
            return
        if self.downlink is not None:
            # A receiver re-lists every packet still missing in each NACK (aiortc does): the same packet is resent
            # at most once per RETRANSMIT_GAP_S, or a lossy link fills with copies of what is already on its way.
            now = time.monotonic()
            last = self._resent.get(out_seq)
            if last is not None and now - last < RETRANSMIT_GAP_S:
                self.nacks_suppressed += 1
                return
            if earlier and not self.downlink.may_retransmit(len(packet.payload) + 30, int(now * 1_000_000), spare=True):
                # A repair of the layer the viewer left, over its budget (counted by the estimate): once the new
                # layer's keyframe is in, the viewer's decoder has no use for it, and after a link narrowed the viewer
                # NACKs all its queue dropped. Repairs of the layer it is on always go: refusing them froze the
                # viewer until the next keyframe (scripts/bench_bwe.py: 33 % frozen with every repair budgeted).
                return
            if len(self._resent) >= 1024:
                self._resent.clear()
            self._resent[out_seq] = now
        ts = (packet.ts + ts_off) & 0xFFFFFFFF
        marker = 0x80 if packet.marker else 0
        if self._rtx_pt is not None and self._rtx_ssrc:
            b0, tail = self._profile.build(packet, _osn(out_seq))
            if pid_shift or tl0_shift:
                tail = shift_ids(tail, len(tail) - len(packet.payload), pid_shift, tl0_shift)
            data = _header(b0, self._rtx_pt | marker, self._rtx_seq, ts, self._rtx_ssrc) + self._number(tail)
            self._rtx_seq = (self._rtx_seq + 1) & 0xFFFF
        else:
            b0, tail = self._profile.build(packet, b"")
            if pid_shift or tl0_shift:
                tail = shift_ids(tail, len(tail) - len(packet.payload), pid_shift, tl0_shift)
            data = _header(b0, self._pt | marker, out_seq, ts, self._ssrc) + self._number(tail)
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
        if self.report_bwe is not None:
            self.report_bwe.on_report(fraction_lost / 256, time.monotonic(), self._sd[_OC])

    def _remb_received(self, bitrate_bps: int) -> None:
        if self.report_bwe is not None:
            self.report_bwe.on_remb(bitrate_bps, time.monotonic())

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

    def pipe_stats(self) -> dict[str, Any]:
        """A relay pipe's track: what it carried (packets and payload bytes), and whether it flows now."""
        return {
            "ssrc": self._ssrc,
            "kind": self.kind,
            "rid": self.pinned,
            "packets": self._sd[_PC],
            "bytes": self._sd[_OC],
            "parked": self.parked,
            "flowing": self._started,
        }

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
            "nacks_suppressed": self.nacks_suppressed,
            "plis": self.plis_received,
            "packets_lost": self.packets_lost,
            "fraction_lost": self.fraction_lost / 256,
            "rtt_s": rtt,
            "cache_replays": self.cache_replays,
            "send_errors": self.send_errors,
            "first_packet_s": None if self.first_packet_at is None else self.first_packet_at - self.created_at,
            "layer": self._producer.rid if self._producer is not None and self._started else None,
            "pending": self.pending.rid if self.pending is not None else None,
            "preference": self.preference,
            "switches": self.switches,
            "paused": self.paused,
            "flowing": self._started,
            "estimate_bps": self.estimate_bps,
            "bwe": self.downlink.stats(_clock_ns() // 1000) if self.downlink is not None else None,
            "report_bwe": self.report_bwe.stats() if self.report_bwe is not None else None,
        }
