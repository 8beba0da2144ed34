"""One viewer's downlink estimate: what its video consumer sends, what its transport-cc feedback says, and probes.

The consumer numbers each video packet it sends this viewer (``SendHistory.sent``, on the forwarding path); the
viewer's feedback (``sfu/twcc.py``) joined with those numbers drives :class:`sfu.bwe.GccEstimator`. Every 250 ms
the router asks :meth:`DownlinkEstimate.tick` for the viewer's usable bitrate (``Consumer.estimate_bps``, what
``select_layer`` caps the layer by) and whether to probe: when the viewer's preference allows a bigger layer than its
estimate, a burst of RTX padding (``Consumer.send_probe``) measures the path first (see ``sfu/bwe.py``).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sfu.bwe import NORMAL, QUEUE_OVERUSE_US, GccEstimator, ProbePlanner, SendHistory, probe_cluster_size, probe_gap_us
from sfu.twcc import parse_feedback, split_rtcp

#: The estimate starts high (nothing known against the viewer's link): the first congestion brings it down to what
#: arrives, and probes take it back up.
START_BPS = 20_000_000
MIN_BPS = 30_000
#: The share of the estimate a layer may use (the rest: audio, RTX, headroom for a keyframe).
USABLE = 0.85
#: No estimate is published before this much feedback (the layer follows the preference meanwhile).
WARMUP_US = 1_000_000
#: A probe whose packets were not all reported by then is settled with what arrived.
PROBE_TIMEOUT_US = 1_000_000
PROBE_PACKET_BYTES = 275
#: A viewer's estimate falling under its current layer moves it down at once only when its link shows it: loss of at
#: least ``CONGESTED_LOSS`` in the last window, or a standing queue of ``CONGESTED_QUEUE_US``. Otherwise (a delay
#: trend alone: a keyframe's burst, a probe, a busy sender) the layer is held for up to ``HOLD_US`` while the
#: estimate recovers: each needless switch costs a keyframe and, on a tight link, the frames lost around it.
CONGESTED_LOSS = 0.05
#: Feedback older than this no longer describes the link (``DownlinkEstimate.fresh``).
STALE_US = 1_000_000
CONGESTED_QUEUE_US = QUEUE_OVERUSE_US
HOLD_US = 2_500_000
#: After a probe's last packet left, decreases stop at the estimate it started from for this long more (the queue
#: it built drains; see ``GccEstimator.guard``).
PROBE_GUARD_US = 400_000
#: A probe stops sending once a packet arrived this much later than the least delay seen (a queue building).
PROBE_STOP_QUEUE_US = 25_000
#: Probe packets sent together; the pairs are spaced so that the cluster leaves at the probe's target rate.
PROBE_PER_SEND = 2
#: Repairs of the layer a viewer left use at most this share of its estimate (a token bucket, bytes, of which they
#: may use the upper half): on a link that just narrowed, the viewer NACKs everything the queue dropped, and resending
#: all of it kept the queue full, so the keyframe of the lower layer was lost too (a retransmission storm: seconds of
#: frozen video). Repairs of the layer it is on are not budgeted (``Consumer.retransmit``).
RTX_SHARE = 0.3
#: The bucket holds this much time of its rate, and at least ``RTX_BURST_BYTES`` (a keyframe's lost packets).
RTX_BUCKET_S = 0.5
RTX_BURST_BYTES = 12_000
#: Feedback that shows congestion asks the router to re-place the viewer at once (``on_congestion``), at most this
#: often: waiting for the router's next tick (every 250 ms) made a narrowed link's queue overflow that much longer.
REACT_EVERY_US = 100_000


def now_us() -> int:
    return time.monotonic_ns() // 1000


def estimate_for(layer_bps: int) -> int:
    """The estimate whose usable share (``usable_bps``, rounded down) covers ``layer_bps``: what a probe toward that
    layer must confirm. ``int(layer_bps / USABLE)`` came out one bit per second short of it after the rounding; the
    viewer, with the estimate a successful probe gave it, then neither moved up (the layer did not fit) nor probed
    again (the estimate was what the probe wanted) until the layer's peak changed: 3 s on l after a lift."""
    return int(layer_bps / USABLE) + 2


class DownlinkEstimate:
    def __init__(self) -> None:
        self.history = SendHistory()
        self.estimator = GccEstimator(start_bps=START_BPS, min_bps=MIN_BPS, max_bps=START_BPS)
        self.planner = ProbePlanner()
        self.first_feedback_us: int | None = None
        self.feedbacks = 0
        self.malformed = 0
        self._previous_usable: int | None = None
        #: The in-flight probe: (id, target bps, packets, estimate before, wanted).
        self._probe: tuple[int, int, int, int, int | None] | None = None
        #: Since when the estimate has been under the current layer without the link showing congestion.
        self._strained_since: int | None = None
        self.holds = 0
        #: Down-switches for congestion that stopped the old layer at once (``Router.place``).
        self.cut_short = 0
        self._rtx_tokens = float(RTX_BURST_BYTES)
        self._rtx_at: int | None = None
        self.retransmits_refused = 0
        #: The in-flight probe is to send no more packets (``PROBE_STOP_QUEUE_US``); then it settles with the ones
        #: that went out.
        self.probe_stopped = False
        self.probes_stopped = 0
        #: Packets of the in-flight probe sent so far (``Consumer`` counts them).
        self.probe_sent = 0
        #: Called (at most every ``REACT_EVERY_US``) after feedback that shows congestion (``Router`` re-places the
        #: viewer then, instead of at its next tick).
        self.on_congestion: Callable[[], None] | None = None
        #: The last probe settled: kbit/s it measured (None: no measurement), kbit/s it had to confirm, kbit/s offered.
        self.last_probe: tuple[int | None, int | None, int] | None = None
        self._reacted_us = -REACT_EVERY_US
        self.reactions = 0

    # -- feedback (RTCP from the viewer) ---------------------------------------------------------------------

    def on_rtcp(self, datagram: bytes) -> None:
        self._on_rtcp(datagram)
        react = self.on_congestion
        if react is not None:
            now = now_us()
            if now - self._reacted_us >= REACT_EVERY_US and self.congested(now):
                self._reacted_us = now
                self.reactions += 1
                react()

    def _on_rtcp(self, datagram: bytes) -> None:
        for message in split_rtcp(datagram):
            try:
                feedback = parse_feedback(message)
            except ValueError:
                self.malformed += 1
                continue
            now = now_us()
            if self.first_feedback_us is None:
                self.first_feedback_us = now
            self.feedbacks += 1
            self.estimator.on_feedback(self.history.results(feedback.base_seq, feedback.arrivals), now)
            probe = self._probe
            if probe is None:
                continue
            if self.estimator.probe_reported(probe[0]) >= (self.probe_sent if self.probe_stopped else probe[2]):
                self._settle()
            elif not self.probe_stopped:
                queue = self.estimator.newest_queue_us()
                if queue is not None and queue > PROBE_STOP_QUEUE_US:
                    # the bottleneck's queue is growing: the path is saturated, and the rest of the cluster would
                    # only overflow it into the viewer's media; what arrived so far is measured
                    self.probe_stopped = True
                    self.probes_stopped += 1

    def sending(self, probe: int) -> bool:
        """Whether packets of probe ``probe`` are still to go out (it is the one in flight, and not stopped)."""
        return self._probe is not None and self._probe[0] == probe and not self.probe_stopped

    def _settle(self) -> None:
        probe = self._probe
        if probe is None:
            return
        self._probe = None
        self.probe_stopped = False
        probe_id, target, _, before, wanted = probe
        rate = self.estimator.probe_result(probe_id, target, wanted)
        self.planner.settled(rate, before, wanted)
        self.last_probe = (
            None if rate is None else rate // 1000,
            None if wanted is None else wanted // 1000,
            target // 1000,
        )

    # -- the router's tick -----------------------------------------------------------------------------------

    def usable_bps(self, now: int) -> int | None:
        """What a layer may use, or None while warming up. A fall shows one tick late (the larger of this tick's
        and the last one's) unless the link shows congestion: a single over-use reading on an open link must not cost
        the viewer a layer."""
        if self.first_feedback_us is None or now - self.first_feedback_us < WARMUP_US:
            return None
        usable = int(self.estimator.estimate_bps * USABLE)
        previous, self._previous_usable = self._previous_usable, usable
        if previous is None or self.congested(now):
            return usable  # a link that shows congestion is left at once
        return max(usable, previous)

    def fresh(self, now: int) -> bool:
        """Feedback came lately: the loss, delay state and acknowledged rate describe the link now. A viewer whose
        video is paused gets none (only probes bring some), and what the last one said must not keep it paused."""
        last = self.estimator.last_feedback_us
        return last is not None and now - last < STALE_US

    def congested(self, now: int) -> bool:
        """The link shows congestion: loss in the last window, or a standing queue."""
        if not self.fresh(now):
            return False
        queue = self.estimator.standing_queue_us()
        return self.estimator.loss >= CONGESTED_LOSS or (queue is not None and queue >= CONGESTED_QUEUE_US)

    def hold(self, now: int, usable: int, current_bps: int | None) -> int:
        """``usable``, or ``current_bps`` (what keeps the viewer on its current layer) while the estimate is under
        that layer with no congestion shown, for at most ``HOLD_US``. ``current_bps`` None: the estimate fits."""
        if current_bps is None or usable >= current_bps:
            self._strained_since = None
            return usable
        if self.congested(now):
            self.planner.moved_down(now)
            return usable
        if self._strained_since is None:
            self._strained_since = now
            self.holds += 1
        return current_bps if now - self._strained_since < HOLD_US else usable

    def may_retransmit(self, size: int, now: int, *, spare: bool = False) -> bool:
        """Whether a retransmission of ``size`` bytes fits this viewer's retransmission budget (``RTX_SHARE`` of
        the estimate); takes the bytes if so. ``spare``: a repair of lower value (a packet of the layer the viewer
        left) that may only use the upper half of the bucket, so the new layer's keyframe can always be repaired."""
        rate = self.estimator.estimate_bps * RTX_SHARE / 8  # bytes per second
        cap = max(float(RTX_BURST_BYTES), rate * RTX_BUCKET_S)
        last, self._rtx_at = self._rtx_at, now
        if last is not None:
            self._rtx_tokens = min(cap, self._rtx_tokens + rate * (now - last) / 1_000_000)
        if self._rtx_tokens - (cap / 2 if spare else 0) < size:
            self.retransmits_refused += 1
            return False
        self._rtx_tokens -= size
        return True

    def tick(
        self, now: int, wanted_layer_bps: int | None, next_layer_bps: int | None = None
    ) -> tuple[int, int, int] | None:
        """Settle a probe that timed out; return (probe id, packets, microseconds between sends of
        ``PROBE_PER_SEND`` packets) when a probe should be sent now, toward a layer of ``wanted_layer_bps`` (None:
        nothing bigger to go to), or toward ``next_layer_bps`` (the next layer up) when that is smaller: one layer at
        a time."""
        if self._probe is not None and now - self.planner.last_probe_us_or(now) > PROBE_TIMEOUT_US:
            self._settle()
        if self.first_feedback_us is None:
            return None
        wanted = None if wanted_layer_bps is None else estimate_for(wanted_layer_bps)
        if wanted is not None and next_layer_bps is not None:
            # one layer at a time: a probe toward the top layer would overfill a link that may just carry the next
            wanted = min(wanted, estimate_for(next_layer_bps))
        estimate = self.estimator.estimate_bps
        fresh = self.fresh(now)
        detector, loss = (self.estimator.detector_state, self.estimator.loss) if fresh else (NORMAL, 0.0)
        target = self.planner.want(now, estimate, wanted, detector, loss)
        if target is None:
            return None
        probe_id = self.planner.started(target, now)
        # the padding tops up what the viewer already gets to the target (at least a fifth of it)
        acked = (self.estimator.acked_bps() or 0) if fresh else 0
        padding = max(target - acked, target // 5)
        count = probe_cluster_size(padding, packet_bytes=PROBE_PACKET_BYTES)
        gap = probe_gap_us(padding, PROBE_PACKET_BYTES, PROBE_PER_SEND)
        self._probe = (probe_id, target, count, estimate, wanted)
        self.probe_sent = 0
        self.estimator.guard(now + gap * count // PROBE_PER_SEND + PROBE_GUARD_US)
        return probe_id, count, gap

    def probe_not_sent(self) -> None:
        """The consumer could not send the probe (no RTX, not started): forget it."""
        probe = self._probe
        if probe is not None:
            self._probe = None
            self.estimator.forget_probe(probe[0])
            self.planner.settled(None, probe[3], probe[4])

    def stats(self, now: int) -> dict[str, object]:
        estimator = self.estimator
        queue = estimator.standing_queue_us()
        return {
            "estimate_bps": estimator.estimate_bps if self.first_feedback_us is not None else None,
            "usable_bps": self._previous_usable,
            "acked_bps": estimator.acked_bps(),
            "delay_state": estimator.detector_state,
            "loss": round(estimator.loss, 4),
            "decreases": estimator.decreases,
            "feedbacks": self.feedbacks,
            "probes": self.planner.probes,
            "probe_successes": self.planner.successes,
            "retransmits_refused": self.retransmits_refused,
            "standing_queue_ms": None if queue is None else queue // 1000,
            "holds": self.holds,
            "cut_short": self.cut_short,
            "probe_penalties": self.planner.penalties,
            "probes_stopped": self.probes_stopped,
            "reactions": self.reactions,
            "last_probe": self.last_probe,
        }
