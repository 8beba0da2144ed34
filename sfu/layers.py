"""Simulcast ingest: one aiortc video receiver carries every layer of a publisher (one SSRC each, bundled on one
m-line); this splits them into one ``Producer`` per layer, each with its own keyframe cache, packet history, PLI
throttle and loss figures (aiortc's receiver already sends one receiver report block per SSRC).

A packet's layer is its SSRC once bound; an SSRC is bound to a layer by the first packet whose RtpStreamId header
extension (RFC 8852 section 3.1) names one of the offered rids. Retransmissions arrive on another SSRC carrying
RepairedRtpStreamId (section 3.2): the receiver is told to unwrap that SSRC as RTX of the layer's SSRC. Packets of an
SSRC never named by a rid are dropped (counted).
"""

from __future__ import annotations

import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpReceiver
from aiortc.rtp import RtpPacket

from sfu import aiortc_hooks

if TYPE_CHECKING:
    from sfu.producer import Producer

log = logging.getLogger(__name__)

#: SSRCs bound per receiver at most (a publisher that keeps changing SSRCs cannot grow the table).
MAX_BOUND_SSRCS = 32


class LayerDemux:
    """The tap of a simulcast publisher's video receiver: routes each packet to its layer's producer."""

    def __init__(self, receiver: RTCRtpReceiver, rids: tuple[str, ...]) -> None:
        self.receiver = receiver
        self.rids = rids
        self._by_rid: dict[str, Producer] = {}
        self._by_ssrc: dict[int, Producer] = {}
        self._ssrc_of: dict[str, int] = {}
        self.unbound = 0
        self._installed = False

    def upstream(self, rid: str) -> LayerUpstream:
        return LayerUpstream(self, rid)

    def add(self, rid: str, producer: Producer) -> None:
        self._by_rid[rid] = producer
        if not self._installed:
            self._installed = True
            aiortc_hooks.install_receiver_tap(self.receiver, self.on_packet)
            aiortc_hooks.nack_per_ssrc(self.receiver)
            aiortc_hooks.route_receiver_nacks(self.receiver, self._nacked)
            aiortc_hooks.watch_receiver_packets(self.receiver, self._before_unwrap)

    def ssrc_of(self, rid: str) -> int | None:
        return self._ssrc_of.get(rid)

    # -- hot path --------------------------------------------------------------------------------------------

    def on_packet(self, rtp: RtpPacket) -> None:
        producer = self._by_ssrc.get(rtp.ssrc)
        if producer is None:
            producer = self._bind(rtp)
            if producer is None:
                self.unbound += 1
                return
        producer.on_packet(rtp)

    def _bind(self, rtp: RtpPacket) -> Producer | None:
        rid = rtp.extensions.rtp_stream_id
        producer = self._by_rid.get(rid) if rid is not None else None
        if producer is None or len(self._by_ssrc) >= MAX_BOUND_SSRCS:
            return None
        previous = self._ssrc_of.get(rid)
        if previous is not None:
            self._by_ssrc.pop(previous, None)  # the layer restarted on a new SSRC
        self._by_ssrc[rtp.ssrc] = producer
        self._ssrc_of[rid] = rtp.ssrc
        log.debug("simulcast layer bound", extra={"rid": rid, "ssrc": rtp.ssrc})
        return producer

    def _before_unwrap(self, rtp: RtpPacket) -> None:
        repaired = rtp.extensions.repaired_rtp_stream_id
        if repaired is None or aiortc_hooks.rtx_mapped(self.receiver, rtp.ssrc):
            return
        media_ssrc = self._ssrc_of.get(repaired)
        if media_ssrc is not None:
            aiortc_hooks.map_rtx(self.receiver, rtp.ssrc, media_ssrc)

    def _nacked(self, media_ssrc: int, count: int) -> None:
        producer = self._by_ssrc.get(media_ssrc)
        if producer is not None:
            producer.nacked(count)


class LayerUpstream:
    """One layer's upstream: packets from the demux, PLI and loss addressed to the layer's SSRC."""

    def __init__(self, demux: LayerDemux, rid: str) -> None:
        self._demux = demux
        self._rid = rid

    def feed(self, producer: Producer) -> None:
        self._demux.add(self._rid, producer)

    def send_pli(self, media_ssrc: int) -> Coroutine[Any, Any, None] | None:
        return aiortc_hooks.send_pli(self._demux.receiver, media_ssrc)

    def loss(self) -> tuple[int, int]:
        ssrc = self._demux.ssrc_of(self._rid)
        if ssrc is None:
            return 0, 0
        return aiortc_hooks.receiver_loss(self._demux.receiver, ssrc)
