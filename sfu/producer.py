"""A producer: one publisher track, read through a tap on aiortc's receiver, fanned out to its consumers.

The forwarding path runs synchronously inside aiortc's packet handler: no task, queue or await per packet.
It keeps the keyframe cache (instant join), the packet history (NACK answers) and throttles keyframe requests
upstream: at most one PLI per ``pli_interval_s`` whatever the number of viewers asking.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from aiortc import RTCRtpCodecParameters, RTCRtpReceiver
from aiortc.rtp import RtpPacket

from sfu import aiortc_hooks
from sfu.egress import ProfileTable, abs_send_time_now, ntp_now
from sfu.keyframe import H264_PPS, H264_SPS, h264_nal_types, keyframe_detector, vp8_keyframe_size
from sfu.packet import ForwardPacket, KeyframeCache, PacketHistory
from sfu.residence import RESIDENCE
from sfu.selector import LayerInfo
from sfu.settings import SfuSettings

if TYPE_CHECKING:
    from sfu.consumer import Consumer
    from sfu.pipe import RemoteLayer

log = logging.getLogger(__name__)

_thread_time = time.thread_time
#: NAL unit types of packets that may carry H.264 parameter sets: SPS, PPS, STAP-A.
_PARAMETER_SET_CARRIERS = frozenset((H264_SPS, H264_PPS, 24))

#: A layer switch waits for the current layer's frame to end at most this long after that layer's last packet.
FRAME_WAIT_S = 0.2

#: A layer with no packet for this long is not offered to viewers (the publisher paused it, or lost bandwidth).
LAYER_SILENCE_S = 1.0
#: A keyframe asked for a layer switch waits at most this long after the layer's previous request (of any reason).
#: Not less: a Chromium publisher ignores a keyframe request that comes within 300 ms of the last one it acted on
#: (libwebrtc's minimum keyframe send interval), so an earlier one is lost and only delays the next.
SWITCH_PLI_INTERVAL_S = 0.3
#: A request the throttle held back goes out this long after the throttle allows it, so that it reaches the publisher
#: after its own 300 ms (a request 224 ms after a refresh was ignored: the viewer waited for the next one, 0.3 s more).
PLI_RETRY_MARGIN_S = 0.02
#: A layer's peak bitrate is the highest of its last this many one-second bitrates.
PEAK_SECONDS = 5

#: One packet in this many has its residence time (tap in → each viewer's send) measured.
RESIDENCE_SAMPLE_EVERY = 16


class Upstream(Protocol):
    """Where a producer's packets come from: a publisher's aiortc receiver, or a relay pipe from another worker or
    node. The producer only needs to be fed, to ask for keyframes, and to read the upstream loss."""

    def feed(self, producer: Producer) -> None:
        """Start handing every packet to ``producer.on_packet`` (and report NACKs sent to ``producer.nacked``)."""

    def send_pli(self, media_ssrc: int) -> Coroutine[Any, Any, None] | None: ...

    def loss(self) -> tuple[int, int]: ...


class ReceiverUpstream:
    """A publisher's track: packets from a tap on aiortc's receiver, PLI through its RTCP."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        self.receiver = receiver

    def feed(self, producer: Producer) -> None:
        aiortc_hooks.install_receiver_tap(self.receiver, producer.on_packet)
        if producer.kind == "video":
            aiortc_hooks.count_receiver_nacks(self.receiver, producer.nacked)

    def send_pli(self, media_ssrc: int) -> Coroutine[Any, Any, None] | None:
        return aiortc_hooks.send_pli(self.receiver, media_ssrc)

    def loss(self) -> tuple[int, int]:
        return aiortc_hooks.receiver_loss(self.receiver)


class Producer:
    def __init__(
        self,
        producer_id: str,
        stream_id: str,
        kind: str,
        codec: RTCRtpCodecParameters,
        receiver: RTCRtpReceiver | Upstream,
        settings: SfuSettings,
        profiles: ProfileTable,
        on_close: Callable[[Producer, str], None],
        *,
        rid: str | None = None,
    ) -> None:
        """``rid``: the simulcast layer this producer carries (RFC 8851), None for a single-stream track."""
        self.id = producer_id
        self.rid = rid
        self.stream_id = stream_id
        self.kind = kind
        self.codec = codec
        self.closed = False
        self.history = PacketHistory(settings.nack_history_packets)
        self.cache = KeyframeCache(settings.keyframe_cache_packets)
        self._detector = keyframe_detector(codec.mimeType)
        self._h264 = codec.mimeType.lower() == "video/h264"
        self._vp8 = codec.mimeType.lower() == "video/vp8"
        #: Picture size from the latest keyframe (VP8 only; 0 while unknown).
        self.width = 0
        self.height = 0
        #: The last in-order packet did not end a frame (no marker): a layer switch away from here waits for it.
        self.frame_open = False
        #: Consumers of another layer waiting for this producer's next keyframe to switch to it.
        self._switch_in: list[Consumer] = []
        #: Consumers fed here that switch to another layer (whose keyframe started) once the current frame ends.
        self._handoff: list[tuple[Consumer, Producer]] = []
        #: The latest H.264 packets carrying SPS and PPS, for keyframes that come without them.
        self._parameter_sets: dict[int, ForwardPacket] = {}
        self._settings = settings
        self._profiles = profiles
        self._upstream: Upstream = ReceiverUpstream(receiver) if isinstance(receiver, RTCRtpReceiver) else receiver
        self._on_close = on_close
        self._live: list[Consumer] = []
        self._waiting: list[Consumer] = []
        self._tasks: set[asyncio.Task[None]] = set()
        #: Recording taps (``sfu/recorder.py``): called with each packet after the viewers got it; each only appends
        #: to a bounded queue.
        self.taps: list[Callable[[ForwardPacket], None]] = []
        self.created_at = time.monotonic()
        self.media_ssrc: int | None = None
        self.max_seq = 0
        self.max_ts = 0
        self.last_packet_at: float | None = None
        self._last_pli = -1e9
        #: A layer switch's request that the throttle held back goes out when the throttle allows (``_ask_again``).
        self._pli_retry: asyncio.TimerHandle | None = None
        self._last_refresh = -1e9
        self._sample = 0
        #: Residence samples in microseconds (tap → a viewer's sendto), bounded.
        self.residence_us: deque[float] = deque(maxlen=20000)
        #: CPU time (this thread) spent fanning packets out, for the per-packet cost.
        self.fanout_s = 0.0
        self.forwarded = 0
        # stats
        self.packets = 0
        self.bytes = 0
        self.keyframes = 0
        self.plis_sent = 0
        self.plis_suppressed = 0
        self.nacks_sent = 0
        self.cache_hits = 0
        self.cache_misses = 0
        self.cache_drops = 0
        self.switches_in = 0
        self.duplicates = 0
        self._rate_mark = (self.created_at, 0)
        self._bitrate = 0.0
        #: A relayed layer: the origin's description of it (``sfu/pipe.py``), so that the edge offers the layer to
        #: its viewers also while its pipe does not carry it.
        self.remote: Callable[[], RemoteLayer | None] | None = None
        #: The last few one-second bitrates (the layer's peak: what a viewer moving up must have room for).
        self._rates: deque[float] = deque(maxlen=PEAK_SECONDS)
        self._upstream.feed(self)

    # -- hot path --------------------------------------------------------------------------------------------

    def on_packet(self, rtp: RtpPacket) -> None:
        if self.closed:
            return
        now = time.monotonic()
        detector = self._detector
        known = self.history.get(rtp.sequence_number)
        if known is not None and known.ts == rtp.timestamp:
            # a duplicate: the publisher's padding retransmits packets that already arrived (browsers probe the
            # uplink with RTX of sent packets); the viewers have it, and it is not new bitrate
            self.duplicates += 1
            return
        packet = ForwardPacket.from_rtp(rtp, detector(rtp.payload) if detector is not None else False, now)
        self.media_ssrc = rtp.ssrc
        self.history.put(packet)
        self.packets += 1
        self.bytes += len(packet.payload)
        in_order = self.last_packet_at is None or (packet.seq - self.max_seq) & 0xFFFF < 0x8000
        if in_order:
            self.max_seq = packet.seq
            self.max_ts = packet.ts
            self.frame_open = not packet.marker
        self.last_packet_at = now

        if detector is not None:
            cache = self.cache
            if self._h264 and packet.payload and packet.payload[0] & 0x1F in _PARAMETER_SET_CARRIERS:
                self._remember_parameter_sets(packet)
            # A late (repaired) packet of an older keyframe must not restart the cache: only in-order ones do.
            if in_order and cache.is_new_keyframe(packet):
                cache.start(packet, now)
                self.keyframes += 1
                if self._vp8:
                    size = vp8_keyframe_size(packet.payload)
                    if size is not None:
                        self.width, self.height = size
                if self._waiting:
                    self._start_waiting(packet)
                if self._switch_in:
                    self._switch_arrived(packet)
            elif not cache.add(packet):
                self.cache_drops += 1
                self._refresh(now, "cache_overflow")
            elif cache.packets and now - cache.started_at > self._settings.gop_refresh_s:
                self._refresh(now, "refresh")
        elif self._waiting:
            self._start_waiting(packet)

        live = self._live
        if live:
            cpu = _thread_time()
            abs_send_time = abs_send_time_now()
            ntp = ntp_now()
            self._sample += 1
            if self._sample >= RESIDENCE_SAMPLE_EVERY:
                self._sample = 0
                self._fan_out_sampled(packet, abs_send_time, ntp)
            else:
                failed: list[Consumer] | None = None
                for consumer in live:
                    try:
                        consumer.forward(packet, abs_send_time, ntp)
                    except Exception:
                        failed = failed or []
                        failed.append(consumer)
                self.forwarded += len(live)
                if failed:
                    self._drop(failed)
            self.fanout_s += _thread_time() - cpu
        if self.taps:
            for tap in self.taps:
                tap(packet)
        if self._handoff and packet.marker and in_order:
            self._hand_off()

    def _fan_out_sampled(self, packet: ForwardPacket, abs_send_time: int, ntp: int) -> None:
        clock = time.perf_counter
        t0 = clock()
        samples = self.residence_us
        observe = RESIDENCE.observe_us
        failed: list[Consumer] | None = None
        for consumer in self._live:
            try:
                consumer.forward(packet, abs_send_time, ntp)
            except Exception:
                failed = failed or []
                failed.append(consumer)
            sample = (clock() - t0) * 1e6
            samples.append(sample)
            observe(sample)
        self.forwarded += len(self._live)
        if failed:
            self._drop(failed)

    def _drop(self, consumers: list[Consumer]) -> None:
        for consumer in consumers:
            log.warning("forwarding to a consumer failed; closing it", extra={"consumer": consumer.id}, exc_info=True)
            consumer.close("send_failed")

    def _start_waiting(self, packet: ForwardPacket) -> None:
        waiting = self._waiting
        self._waiting = []
        lead = self._lead(packet)
        for consumer in waiting:
            consumer.start(packet, lead)
            self._go_live(consumer)

    def _remember_parameter_sets(self, packet: ForwardPacket) -> None:
        types = h264_nal_types(packet.payload)
        for nal_type in (H264_SPS, H264_PPS):
            if nal_type in types:
                self._parameter_sets[nal_type] = packet

    def _lead(self, keyframe: ForwardPacket) -> tuple[ForwardPacket, ...]:
        """H.264: the last SPS/PPS packets, if this keyframe's access unit starts without an SPS (encoders that
        send parameter sets only once, at the start, would otherwise leave late joiners unable to decode)."""
        if not self._h264 or not self._parameter_sets or H264_SPS in h264_nal_types(keyframe.payload):
            return ()
        return tuple(dict.fromkeys(self._parameter_sets[t] for t in (H264_SPS, H264_PPS) if t in self._parameter_sets))

    # -- consumers -------------------------------------------------------------------------------------------

    def add_consumer(self, consumer: Consumer) -> None:
        """Start feeding ``consumer``: from the keyframe cache if it holds a group of pictures, else at the next
        keyframe (and ask the publisher for one, throttled)."""
        consumer.attach(self, self._profiles.get(*consumer.profile_key))
        cache = self.cache
        if self._detector is None:
            self._waiting.append(consumer)
            return
        if not cache.packets:
            self.cache_misses += 1
            self._waiting.append(consumer)
            self.request_keyframe("join")
            return
        self.cache_hits += 1
        consumer.start(cache.packets[0], self._lead(cache.packets[0]))
        abs_send_time = abs_send_time_now()
        ntp = ntp_now()
        for packet in cache.packets:
            consumer.forward(packet, abs_send_time, ntp)
        consumer.cache_replays += 1
        self._go_live(consumer)

    def add_consumer_fresh(self, consumer: Consumer, max_cache_age_s: float) -> None:
        """Like :meth:`add_consumer`, but replay the cache only if its keyframe is at most ``max_cache_age_s`` old;
        else start at the next keyframe, asked for now (a relay pipe adding a layer: the far side's viewers switch to
        it, and an older picture would take them back in time)."""
        cache = self.cache
        if cache.packets and time.monotonic() - cache.started_at <= max_cache_age_s:
            self.add_consumer(consumer)
            return
        consumer.attach(self, self._profiles.get(*consumer.profile_key))
        self._waiting.append(consumer)
        self.request_keyframe("layer_added")

    def _go_live(self, consumer: Consumer) -> None:
        """Relay pipes go first in the fan-out: each packet leaves for the next worker or node before this one's own
        viewers are served, so a hop's latency does not grow with the audience of the worker it starts from."""
        if consumer.is_pipe:
            self._live.insert(sum(1 for c in self._live if c.is_pipe), consumer)
        else:
            self._live.append(consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        if consumer in self._live:
            self._live.remove(consumer)
        if consumer in self._waiting:
            self._waiting.remove(consumer)
        if consumer in self._switch_in:
            self._switch_in.remove(consumer)
        if self._handoff:
            self._handoff = [(c, t) for c, t in self._handoff if c is not consumer]

    # -- simulcast layer switching ---------------------------------------------------------------------------

    def switch_in(self, consumer: Consumer) -> None:
        """Move ``consumer`` (fed by another layer, or paused) to this layer at this layer's next keyframe, which is
        asked for (throttled). Until then it keeps what it had, so the viewer never waits on a blank."""
        if consumer not in self._switch_in:
            self._switch_in.append(consumer)
        consumer.pending = self
        self.request_keyframe("layer_switch")

    def remove_handoff(self, consumer: Consumer) -> None:
        self._handoff = [(c, t) for c, t in self._handoff if c is not consumer]

    def layer_info(self, now: float) -> LayerInfo:
        """This layer for the selector: available once a keyframe was seen and while packets keep arriving. A
        relayed layer: as the origin describes it (it may not flow here while nobody here watches it)."""
        remote = self.remote() if self.remote is not None else None
        if remote is not None:
            return LayerInfo(
                self.rid or "",
                remote.width or self.width,
                remote.height or self.height,
                remote.bitrate_bps,
                remote.available and not self.closed,
            )
        available = (
            not self.closed
            and self.keyframes > 0
            and self.last_packet_at is not None
            and now - self.last_packet_at < LAYER_SILENCE_S
        )
        bitrate = round(self.bitrate(now))
        return LayerInfo(
            self.rid or "",
            self.width,
            self.height,
            bitrate,
            available,
            round(max(self._rates, default=bitrate)),
            round(min(self._rates, default=bitrate)),
        )

    def bitrate(self, now: float) -> float:
        """Bits per second over the last second or so (re-measured at most once a second)."""
        mark_time, mark_bytes = self._rate_mark
        if now - mark_time >= 1.0:
            self._bitrate = (self.bytes - mark_bytes) * 8 / (now - mark_time)
            self._rate_mark = (now, self.bytes)
            self._rates.append(self._bitrate)
        return self._bitrate

    def _switch_arrived(self, keyframe: ForwardPacket) -> None:
        """A keyframe of this layer started: each waiting consumer switches now if its current layer is between
        frames (or silent), else when that layer's current frame ends (its decoder never gets half a picture)."""
        waiting = self._switch_in
        self._switch_in = []
        now = keyframe.received_at
        for consumer in waiting:
            source = consumer.producer
            if source is self:
                consumer.pending = None
                continue
            if (
                source is None
                or not consumer.started
                or not source.frame_open
                or source.last_packet_at is None
                or now - source.last_packet_at > FRAME_WAIT_S
            ):
                self._switch(consumer, source, (keyframe,), replay=False)
            else:
                source._handoff.append((consumer, self))

    def _hand_off(self) -> None:
        """The current frame ended: consumers switching to another layer move now, replaying that layer's packets
        since its keyframe (a fraction of a frame: the keyframe started moments ago)."""
        handoff = self._handoff
        self._handoff = []
        for consumer, target in handoff:
            if consumer.producer is not self or consumer.pending is not target:
                continue
            cached = target.cache.packets
            if target.closed or not cached or not cached[0].keyframe:
                target.switch_in(consumer)  # that keyframe is gone (the cache restarted or overflowed): next one
                continue
            target._switch(consumer, self, tuple(cached), replay=True)

    def _switch(
        self, consumer: Consumer, source: Producer | None, packets: tuple[ForwardPacket, ...], *, replay: bool
    ) -> None:
        """Move ``consumer`` from ``source`` to this producer, starting at ``packets[0]`` (a keyframe start), its
        outgoing numbering continued (``sfu/rewriter.py``); ``replay``: ``packets`` (the cache: they arrived before)
        are sent at once, else ``packets[0]`` is the packet being fanned out now."""
        if source is not None:
            source.remove_consumer(consumer)
        consumer.detach()
        consumer.pending = None
        consumer.paused = False
        consumer.attach(self, self._profiles.get(*consumer.profile_key))
        first = packets[0]
        consumer.start(first, self._lead(first))
        if replay:
            abs_send_time = abs_send_time_now()
            ntp = ntp_now()
            for packet in packets:
                consumer.forward(packet, abs_send_time, ntp)
        consumer.switches += 1
        self.switches_in += 1
        self._go_live(consumer)

    @property
    def consumer_count(self) -> int:
        return len(self._live) + len(self._waiting)

    # -- keyframe requests -----------------------------------------------------------------------------------

    def request_keyframe(self, reason: str) -> bool:
        """Send a PLI upstream unless one went out less than ``pli_interval_s`` ago. True if sent."""
        if self.closed or self.kind != "video" or self.media_ssrc is None:
            return False  # before the first packet there is no SSRC to address, and a stream opens with a keyframe
        now = time.monotonic()
        interval = self._settings.pli_interval_s
        if reason == "layer_switch":
            # a viewer waits on this keyframe to change layers (one whose link just narrowed sees nothing meanwhile):
            # a keyframe asked for a while ago (a refresh, a join) has come and gone
            interval = min(interval, SWITCH_PLI_INTERVAL_S)
        if now - self._last_pli < interval:
            self.plis_suppressed += 1
            if reason == "layer_switch" and self._pli_retry is None:
                self._retry_at(interval - (now - self._last_pli) + PLI_RETRY_MARGIN_S)
            return False
        self._last_pli = now
        self.plis_sent += 1
        pending = self._upstream.send_pli(self.media_ssrc)
        if pending is not None:
            task = asyncio.ensure_future(pending)
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        log.debug("keyframe requested upstream", extra={"stream": self.stream_id, "reason": reason})
        return True

    def _refresh(self, now: float, reason: str) -> None:
        if now - self._last_refresh >= self._settings.gop_refresh_s:
            self._last_refresh = now
            self.request_keyframe(reason)

    def nacked(self, count: int) -> None:
        self.nacks_sent += count

    # -- lifecycle and stats ---------------------------------------------------------------------------------

    def _retry_at(self, delay_s: float) -> None:
        """Ask again for the keyframe a layer switch waits for once the throttle allows it: viewers that moved just
        after the last keyframe went by (one whose old layer was cut short sees nothing meanwhile) waited for the
        router's next tick, up to 250 ms more."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop (a synchronous caller): the router's next tick asks again
        self._pli_retry = loop.call_later(delay_s, self._ask_again)

    def _ask_again(self) -> None:
        self._pli_retry = None
        if self._switch_in and not self.closed:  # someone still waits for this layer's keyframe
            self.request_keyframe("layer_switch")

    def close(self, reason: str = "closed") -> list[Consumer]:
        """Idempotent. Detaches (does not close) the consumers and returns them: they may follow a new producer."""
        if self.closed:
            return []
        self.closed = True
        if self._pli_retry is not None:
            self._pli_retry.cancel()
            self._pli_retry = None
        consumers = self._live + self._waiting
        self._live = []
        self._waiting = []
        for consumer in consumers:
            consumer.detach()
        for task in self._tasks:
            task.cancel()
        self.taps = []
        self.cache.clear()
        self.history.clear()
        self._on_close(self, reason)
        return consumers

    def stats(self) -> dict[str, Any]:
        now = time.monotonic()
        self.bitrate(now)
        lost, jitter = self._upstream.loss()
        return {
            "id": self.id,
            "kind": self.kind,
            "rid": self.rid,
            "width": self.width,
            "height": self.height,
            "switches_in": self.switches_in,
            "duplicates": self.duplicates,
            "mime_type": self.codec.mimeType,
            "packets": self.packets,
            "bytes": self.bytes,
            "bitrate_bps": round(self._bitrate),
            "packets_lost": lost,
            "jitter": jitter,
            "keyframes": self.keyframes,
            "nacks_sent": self.nacks_sent,
            "plis_sent": self.plis_sent,
            "plis_suppressed": self.plis_suppressed,
            "cache_packets": len(self.cache.packets),
            "cache_hits": self.cache_hits,
            "cache_misses": self.cache_misses,
            "cache_drops": self.cache_drops,
            "consumers": self.consumer_count,
            "forwarded": self.forwarded,
            "fanout_us_per_packet": (self.fanout_s / self.forwarded * 1e6) if self.forwarded else None,
        }


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]
