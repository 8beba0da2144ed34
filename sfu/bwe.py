"""Per-viewer bandwidth estimation, after Google Congestion Control (draft-ietf-rmcat-gcc-02), sender side.

The SFU numbers the packets it sends a viewer with transport-wide sequence numbers (``sfu/twcc.py``), keeps when
and how big each was (:class:`SendHistory`), and the viewer's transport-cc feedback says when each arrived. From
those :class:`GccEstimator` derives a target bitrate, the minimum of two controllers:

- **Delay-based** (draft section 5). Packets are grouped by send time (a group spans at most 5 ms, section 5.2);
  for consecutive groups the *inter-group delay variation* is ``d(i) = (t(i) - t(i-1)) - (T(i) - T(i-1))``
  (arrival minus send spacing). The arrival-time filter (section 5.3) here is the trendline variant libwebrtc uses
  in place of the draft's Kalman filter: the accumulated ``d`` is exponentially smoothed (0.9) and the least-squares
  slope over the last 20 groups is the queuing-delay trend ``m(i)``, scaled by ``min(groups, 60) * 4``. The
  over-use detector (section 5.4) compares it with an adaptive threshold ``gamma`` (start 12.5, ``K_u = 0.01``,
  ``K_d = 0.00018`` per ms, clamped to [6, 600]): over-use when ``m > gamma`` for more than 10 ms and not
  falling, under-use when ``m < -gamma``, else normal. The rate controller (section 5.5) is Increase / Hold /
  Decrease: over-use -> ``A = 0.85 * R`` (``R`` the bitrate acknowledged over the last 300 ms) at most once per
  200 ms; normal -> multiplicative increase, 8 % per second; under-use -> hold. A standing queue of 40 ms (below)
  counts as over-use too: at 15 frames per second an unpaced sender makes ~15 groups a second, so the trend over
  20 groups lags a link that narrowed by 0.5-0.6 s, while every packet already waits behind the bottleneck
  (queuing delay as the congestion signal, as in NADA, RFC 8698, and SCReAM, RFC 8298). An increase never takes
  the estimate above ``1.5 * R`` (the draft's bound), but that bound never pulls an estimate down.
- **Loss-based** (section 6). Over windows of at least 200 ms and 20 packets (or as soon as 30 % of at least 10
  packets are lost: a link that just narrowed), loss ``p`` from the feedback:
  ``p > 10 %`` -> ``A_s = A_s * (1 - 0.5 p)``; ``p < 2 %`` -> ``A_s = 1.05 A_s`` (same ``1.5 R`` bound); else hold.
  One addition, so that a link that suddenly narrows is left fast: with ``p > 10 %`` ``A_s`` is also held under
  ``0.85 R`` (a tail-dropping queue that stays full shows loss but no delay *trend*), and not below ``0.6 R``
  (repeated windows of loss while the viewer's switch to a lower layer waits for its keyframe would otherwise
  compound far below what the link carries).

**Probing** (what lets a viewer move *up*: the estimate cannot rise much above what is being sent). When the
viewer could take a bigger layer than its estimate allows, :class:`ProbePlanner` asks for padding (a probe cluster,
sent on the RTX SSRC so the decoder never sees it), paced so that media and padding together offer 1.25 x what the
next layer needs, for up to 300 ms (so that on a narrower link a shaper's burst allowance runs out early in it; the
sender stops it once a queue builds). :meth:`GccEstimator.probe_result` measures every packet sent while it ran: if
they arrived spread out or some were lost the path is saturated and what arrived is its capacity (it must hold the
next layer), else it carried what was offered. Only a probe that confirms the next layer raises the estimate; a
failed one changes nothing and the next waits longer (1 s, then 2 s; 3 s when a layer reached by a probe had to
be left for congestion within 2 s); after a success the next may follow in 0.5 s (toward the layer above).
A probe's own losses never count in the loss-based estimate, and while one and the queue it built drain
(:meth:`GccEstimator.guard`) decreases stop at the estimate it started from.

The **standing queue** (:meth:`GccEstimator.standing_queue_us`, the least one-way delay of the last 150 ms over the
least of the last 10 s; the clocks' offset cancels) tells a link narrower than what is sent (every packet waits) from
a burst (a keyframe, a probe: some packets wait); ``sfu/downlink.py`` moves a viewer down at once only on it or on
loss.

Everything here is pure and clock-free: times are integer microseconds passed in; unit tests drive it with
simulated links (``tests/unit/sfu/test_bwe.py``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

BURST_US = 5_000
TREND_WINDOW = 20
TREND_SMOOTHING = 0.9
TREND_GAIN = 4.0
THRESHOLD_START = 12.5
K_UP = 0.01
K_DOWN = 0.00018
OVERUSE_TIME_MS = 10.0
BETA = 0.85
ETA_PER_S = 1.08
ACKED_WINDOW_US = 300_000
DECREASE_EVERY_US = 200_000
LOSS_WINDOW_US = 200_000
LOSS_WINDOW_PACKETS = 20
PROBE_MIN_PACKETS = 5
PROBE_MAX_RATIO = 2.0
#: A probe offers this much more than the rate it should confirm (media and padding together): enough that on a
#: link narrower than that rate a shaper's burst allowance runs out early in the probe and the queue shows (the
#: sender stops it then), instead of the whole probe riding the allowance and looking carried.
PROBE_OVERSHOOT = 1.25
#: A probe succeeded when the path delivered at least this share of the rate it was to confirm (media comes in
#: frames: the offer inside the measured window varies by a few per cent).
PROBE_ACCEPT = 0.9
#: A probe's packets arriving spread over more than this times the time they took to leave (or more than
#: ``PROBE_LOSS`` of their bytes lost) show a saturated path.
PROBE_SPREAD = 1.1
PROBE_LOSS = 0.02
#: Sent packets kept for measuring probes (by send time).
RECENT_US = 1_000_000
#: A congestion this soon after a successful probe shows the probe was wrong; the next one waits ``PENALTY_US``.
FAILED_MOVE_US = 2_000_000
PENALTY_US = 3_000_000
#: After a successful probe the next one (toward the layer above) may follow this soon.
AFTER_SUCCESS_US = 500_000
#: The standing queue: the smallest one-way delay of the last ``QUEUE_RECENT_US`` of arrivals over the smallest of
#: the last ``QUEUE_BASE_BUCKETS`` seconds (sender and receiver clocks differ by a constant: it cancels). 150 ms: a
#: link that narrowed to half of what is sent shows it ~0.2 s after (with 300 ms, 0.4 s: the viewer's move down
#: waited for it); a keyframe's burst shows only if it keeps every packet of 150 ms waiting 40 ms.
QUEUE_RECENT_US = 150_000
#: A standing queue of at least this much is over-use whatever the delay trend says (see ``_update_delay_based``).
QUEUE_OVERUSE_US = 40_000
QUEUE_BASE_BUCKET_US = 1_000_000
QUEUE_BASE_BUCKETS = 10
LOSS_FLOOR = 0.6
#: At least this share of at least this many packets lost closes a loss window before its 200 ms (a narrowed link).
HEAVY_LOSS = 0.3
HEAVY_LOSS_PACKETS = 10

NORMAL, OVERUSE, UNDERUSE = "normal", "overuse", "underuse"
INCREASE, HOLD, DECREASE = "increase", "hold", "decrease"


@dataclass(frozen=True, slots=True)
class PacketResult:
    """One sent packet as the feedback reported it: ``arrival_us`` on the receiver's clock (None: lost)."""

    send_us: int
    arrival_us: int | None
    size: int
    probe: int = -1


class SendHistory:
    """What was sent under each transport-wide sequence number (a ring of 2^15 slots): the hot path calls
    :meth:`sent` per packet; feedback looks numbers up with :meth:`results`."""

    __slots__ = ("_probe", "_send", "_size", "_unwrapped", "next_seq")

    SLOTS = 0x8000

    def __init__(self) -> None:
        self.next_seq = 1
        self._send = [0] * self.SLOTS
        self._size = [0] * self.SLOTS
        self._probe = [-1] * self.SLOTS
        #: the unwrapped number of the newest packet in each slot (tells a stale slot from a fresh one)
        self._unwrapped = [-1] * self.SLOTS

    def sent(self, size: int, send_us: int, probe: int = -1) -> int:
        """Number the next packet; returns its 16-bit transport-wide sequence number."""
        n = self.next_seq
        self.next_seq = n + 1
        slot = n & 0x7FFF
        self._send[slot] = send_us
        self._size[slot] = size
        self._probe[slot] = probe
        self._unwrapped[slot] = n
        return n & 0xFFFF

    def unwrap(self, seq: int) -> int:
        """The full number of a 16-bit one (the nearest at or below the newest sent)."""
        newest = self.next_seq - 1
        return newest - ((newest - seq) & 0xFFFF)

    def results(self, base_seq: int, arrivals: tuple[int | None, ...]) -> list[PacketResult]:
        """Join a feedback (``base_seq`` 16-bit, one arrival per number) with what was sent; numbers never sent
        (or too old) are skipped."""
        base = self.unwrap(base_seq)
        out: list[PacketResult] = []
        for offset, arrival in enumerate(arrivals):
            n = base + offset
            slot = n & 0x7FFF
            if n < 1 or self._unwrapped[slot] != n:
                continue
            out.append(PacketResult(self._send[slot], arrival, self._size[slot], self._probe[slot]))
        return out


class _Trend:
    """Arrival-time filter and over-use detector (draft sections 5.2-5.4, trendline variant)."""

    def __init__(self) -> None:
        self.group_send: int | None = None  # first send time of the current group
        self.group_last_send = 0
        self.group_last_arrival = 0
        self.prev_send: int | None = None
        self.prev_arrival = 0
        self.first_arrival: int | None = None
        self.accumulated = 0.0
        self.smoothed = 0.0
        self.samples: deque[tuple[float, float]] = deque(maxlen=TREND_WINDOW)
        self.groups = 0
        self.threshold = THRESHOLD_START
        self.last_threshold_ms: float | None = None
        self.overuse_ms = -1.0
        self.overuse_count = 0
        self.previous_trend = 0.0
        self.trend = 0.0
        self.state = NORMAL

    def add(self, send_us: int, arrival_us: int) -> None:
        if self.group_send is None:
            self.group_send = send_us
            self.group_last_send = send_us
            self.group_last_arrival = arrival_us
            return
        if send_us - self.group_send <= BURST_US and send_us >= self.group_send:
            self.group_last_send = max(self.group_last_send, send_us)
            self.group_last_arrival = max(self.group_last_arrival, arrival_us)
            return
        if send_us < self.group_send:
            return  # reordered across groups: ignore
        self._group_done(self.group_last_send, self.group_last_arrival)
        self.group_send = send_us
        self.group_last_send = send_us
        self.group_last_arrival = arrival_us

    def _group_done(self, send_us: int, arrival_us: int) -> None:
        if self.prev_send is None:
            self.prev_send, self.prev_arrival = send_us, arrival_us
            self.first_arrival = arrival_us
            return
        send_delta_ms = (send_us - self.prev_send) / 1000
        arrival_delta_ms = (arrival_us - self.prev_arrival) / 1000
        self.prev_send, self.prev_arrival = send_us, arrival_us
        d = arrival_delta_ms - send_delta_ms
        self.groups += 1
        self.accumulated += d
        self.smoothed = TREND_SMOOTHING * self.smoothed + (1 - TREND_SMOOTHING) * self.accumulated
        assert self.first_arrival is not None
        self.samples.append(((arrival_us - self.first_arrival) / 1000, self.smoothed))
        if len(self.samples) >= 2:
            self.trend = _slope(self.samples)
        self._detect(send_delta_ms, arrival_us / 1000)

    def _detect(self, send_delta_ms: float, now_ms: float) -> None:
        if self.groups < 2:
            return
        modified = min(self.groups, 60) * self.trend * TREND_GAIN
        if modified > self.threshold:
            self.overuse_ms = send_delta_ms / 2 if self.overuse_ms < 0 else self.overuse_ms + send_delta_ms
            self.overuse_count += 1
            if self.overuse_ms > OVERUSE_TIME_MS and self.overuse_count > 1 and self.trend >= self.previous_trend:
                self.overuse_ms = 0
                self.overuse_count = 0
                self.state = OVERUSE
        elif modified < -self.threshold:
            self.overuse_ms = -1
            self.overuse_count = 0
            self.state = UNDERUSE
        else:
            self.overuse_ms = -1
            self.overuse_count = 0
            self.state = NORMAL
        self.previous_trend = self.trend
        # adaptive threshold (section 5.4): follows |m| slowly down, faster up; big outliers do not move it
        if self.last_threshold_ms is None:
            self.last_threshold_ms = now_ms
        if abs(modified) <= self.threshold + 15:
            k = K_DOWN if abs(modified) < self.threshold else K_UP
            dt = min(max(now_ms - self.last_threshold_ms, 0.0), 100.0)
            self.threshold = min(600.0, max(6.0, self.threshold + k * (abs(modified) - self.threshold) * dt))
        self.last_threshold_ms = now_ms


def _slope(samples: deque[tuple[float, float]]) -> float:
    n = len(samples)
    mean_x = sum(x for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    num = sum((x - mean_x) * (y - mean_y) for x, y in samples)
    den = sum((x - mean_x) ** 2 for x, _ in samples)
    return num / den if den else 0.0


class GccEstimator:
    """One viewer's target bitrate (see the module docstring). Feed :meth:`on_feedback` with the results of every
    transport-cc feedback, in order; read :attr:`estimate_bps`."""

    def __init__(self, start_bps: int, min_bps: int = 30_000, max_bps: int = 20_000_000) -> None:
        self.min_bps = min_bps
        self.max_bps = max_bps
        self.delay_bps = float(start_bps)
        self.loss_bps = float(start_bps)
        self.rate_state = INCREASE
        self._trend = _Trend()
        self._acked: deque[tuple[int, int]] = deque()  # (arrival µs, size)
        self._acked_bytes = 0
        self._last_update_us: int | None = None
        self._last_decrease_us: int | None = None
        self._loss_start_us: int | None = None
        self._loss_sent = 0
        self._loss_lost = 0
        #: Loss of the last complete window (0..1).
        self.loss = 0.0
        #: When the last feedback came (None: none yet).
        self.last_feedback_us: int | None = None
        self.decreases = 0
        self.feedbacks = 0
        self._probes: dict[int, list[PacketResult]] = {}
        self._recent: deque[PacketResult] = deque()
        #: While a probe and the queue it built drain (until ``_guard_until_us``), no decrease goes below the
        #: estimate the probe started from (``_guard_floor``): a probe is meant to overfill a narrow link, and what it
        #: learns is settled by :meth:`probe_result`, not by costing the viewer its current layer.
        self._guard_until_us = -1
        self._guard_floor = 0.0
        self._owd_recent: deque[tuple[int, int]] = deque()  # (arrival µs, one-way delay µs)
        self._owd_base: deque[tuple[int, int]] = deque(maxlen=QUEUE_BASE_BUCKETS)  # (bucket start, its minimum)

    @property
    def estimate_bps(self) -> int:
        return int(max(self.min_bps, min(self.max_bps, self.delay_bps, self.loss_bps)))

    @property
    def detector_state(self) -> str:
        return self._trend.state

    def acked_bps(self) -> int | None:
        """Bits per second that arrived over the last 300 ms of arrivals (None before any arrived)."""
        if len(self._acked) < 2:
            return None
        span = self._acked[-1][0] - self._acked[0][0]
        if span < 50_000:
            return None
        return int(self._acked_bytes * 8 * 1_000_000 / max(span, ACKED_WINDOW_US // 2))

    def on_feedback(self, results: list[PacketResult], now_us: int) -> None:
        if not results:
            return
        self.feedbacks += 1
        self.last_feedback_us = now_us
        trend = self._trend
        lost = 0
        probes = 0
        recent = self._recent
        for result in results:
            recent.append(result)
            if result.probe >= 0:
                # a probe is meant to find the bottleneck's edge: its own losses settle the probe (too few arrived:
                # it failed), never the loss-based estimate, or each probe into a capped link costs the viewer a
                # layer
                self._probes.setdefault(result.probe, []).append(result)
                probes += 1
                if result.arrival_us is None:
                    continue
            elif result.arrival_us is None:
                lost += 1
                continue
            trend.add(result.send_us, result.arrival_us)
            self._acked.append((result.arrival_us, result.size))
            self._acked_bytes += result.size
            self._one_way(result.arrival_us, result.arrival_us - result.send_us)
        newest = recent[-1].send_us
        while recent and recent[0].send_us < newest - RECENT_US:
            recent.popleft()
        if self._acked:
            horizon = self._acked[-1][0] - ACKED_WINDOW_US
            while self._acked and self._acked[0][0] < horizon:
                self._acked_bytes -= self._acked.popleft()[1]
        self._update_delay_based(now_us)
        self._update_loss_based(len(results) - probes, lost, now_us)

    def _one_way(self, arrival_us: int, delay_us: int) -> None:
        recent = self._owd_recent
        recent.append((arrival_us, delay_us))
        while recent and recent[0][0] < arrival_us - QUEUE_RECENT_US:
            recent.popleft()
        base = self._owd_base
        if not base or arrival_us - base[-1][0] >= QUEUE_BASE_BUCKET_US:
            base.append((arrival_us, delay_us))
        elif delay_us < base[-1][1]:
            base[-1] = (base[-1][0], delay_us)

    def newest_queue_us(self) -> int | None:
        """The queue the newest arrival waited in (its one-way delay over the least of the last 10 s)."""
        if not self._owd_recent or not self._owd_base:
            return None
        return max(0, self._owd_recent[-1][1] - min(d for _, d in self._owd_base))

    def standing_queue_us(self) -> int | None:
        """How long the bottleneck's queue has stayed (µs): the least one-way delay of the last 150 ms of arrivals
        above the least of the last 10 s. A burst (a keyframe, a probe, a sender that stalled) queues only some
        packets; a link narrower than what is sent keeps every packet waiting. None before any arrival."""
        if not self._owd_recent or not self._owd_base:
            return None
        return max(0, min(d for _, d in self._owd_recent) - min(d for _, d in self._owd_base))

    def guard(self, until_us: int) -> None:
        """A probe starts now: until ``until_us`` decreases stop at the current estimate (see ``_guard_floor``)."""
        self._guard_until_us = until_us
        self._guard_floor = float(self.estimate_bps)

    def _floor(self, now_us: int) -> float:
        return self._guard_floor if now_us < self._guard_until_us else 0.0

    def _bound(self, current: float, increased: float) -> float:
        """An increase stays under 1.5 x the acknowledged rate (+10 kbit/s); it never lowers ``current``."""
        acked = self.acked_bps()
        if acked is None:
            return current
        return min(increased, max(current, 1.5 * acked + 10_000))

    def queued_rate_bps(self) -> int | None:
        """Bits per second that arrived over the standing queue's window (the last 150 ms of arrivals): while every
        packet of it waited in the bottleneck's queue they arrived back to back, at what the link carries. None with
        fewer than 3 arrivals or under 50 ms."""
        acked = self._acked
        if len(acked) < 3:
            return None
        newest = acked[-1][0]
        window = [(t, size) for t, size in acked if t >= newest - QUEUE_RECENT_US]
        if len(window) < 3 or newest - window[0][0] < 50_000:
            return None
        return int(sum(size for _, size in window[1:]) * 8 * 1_000_000 / (newest - window[0][0]))

    def _update_delay_based(self, now_us: int) -> None:
        state = self._trend.state
        queue = self.standing_queue_us()
        standing = queue is not None and queue >= QUEUE_OVERUSE_US
        if standing:
            state = OVERUSE
        last = self._last_update_us if self._last_update_us is not None else now_us
        dt_s = min(max((now_us - last) / 1_000_000, 0.0), 1.0)
        self._last_update_us = now_us
        if state == OVERUSE:
            # a standing queue: what arrived while it stood is the link's rate (the 300 ms window still holds the
            # faster arrivals from before a link narrowed, and 0.85 x that chose a layer the link could not carry)
            acked = (self.queued_rate_bps() if standing else None) or self.acked_bps()
            recent = self._last_decrease_us is not None and now_us - self._last_decrease_us < DECREASE_EVERY_US
            if acked is not None and not recent:
                self.delay_bps = min(self.delay_bps, max(BETA * acked, self._floor(now_us)))
                self._last_decrease_us = now_us
                self.decreases += 1
            self.rate_state = DECREASE
        elif state == UNDERUSE:
            self.rate_state = HOLD
        else:
            if self.rate_state == DECREASE:
                self.rate_state = HOLD
            elif self.rate_state == HOLD:
                self.rate_state = INCREASE
            else:
                self.delay_bps = self._bound(self.delay_bps, self.delay_bps * ETA_PER_S**dt_s)
        self.delay_bps = max(float(self.min_bps), min(float(self.max_bps), self.delay_bps))

    def _update_loss_based(self, sent: int, lost: int, now_us: int) -> None:
        if self._loss_start_us is None:
            self._loss_start_us = now_us
        self._loss_sent += sent
        self._loss_lost += lost
        # heavy loss closes the window early: a link that just narrowed loses most of what is sent, and the viewer's
        # move down should not wait for the rest of the window
        heavy = self._loss_sent >= HEAVY_LOSS_PACKETS and self._loss_lost >= HEAVY_LOSS * self._loss_sent
        if (now_us - self._loss_start_us < LOSS_WINDOW_US or self._loss_sent < LOSS_WINDOW_PACKETS) and not heavy:
            return
        p = self._loss_lost / self._loss_sent
        self.loss = p
        self._loss_start_us, self._loss_sent, self._loss_lost = now_us, 0, 0
        if p > 0.1:
            self.loss_bps = self.loss_bps * (1 - 0.5 * p)
            acked = self.acked_bps()
            if acked is not None:
                # heavy loss: never above what arrived (a full queue hides the delay trend), and not compounding
                # far below it while the sender is still switching down (what arrived is what the link carries)
                self.loss_bps = min(max(self.loss_bps, LOSS_FLOOR * acked), BETA * acked)
            self.loss_bps = max(self.loss_bps, self._floor(now_us))
            self.decreases += 1
        elif p < 0.02:
            self.loss_bps = self._bound(self.loss_bps, self.loss_bps * 1.05)
        self.loss_bps = max(float(self.min_bps), min(float(self.max_bps), self.loss_bps))

    def probe_result(self, probe: int, target_bps: int, wanted_bps: int | None = None) -> int | None:
        """Settle probe cluster ``probe`` (call once its packets were all reported or given up on): the rate the path
        took while the probe crossed it (capped at ``target_bps``); None when too few arrived or the arrivals
        cannot be a measurement. When it reaches ``PROBE_ACCEPT`` of ``wanted_bps`` the probe succeeded: the
        estimate is raised to it (at least to ``wanted_bps``, which is then returned). A probe that fell short
        changes nothing.

        The cluster is padding paced on top of the viewer's media, together offering about ``target_bps``. Every
        packet (media and padding) sent from the cluster's first third to its end is measured. If they arrived
        spread out more than they left (``PROBE_SPREAD``: the bottleneck's queue grew) or some were lost, the path
        is saturated and what it delivered (bytes arrived over the time they took to arrive) is its capacity.
        Otherwise it took all that was offered: the rate is what was offered. The first third is left out: a
        shaper's burst allowance lets it through at line rate."""
        results = self._probes.pop(probe, [])
        for stale in [other for other in self._probes if other < probe]:
            del self._probes[stale]  # packets of an earlier cluster reported after it was settled
        arrived = [r for r in results if r.arrival_us is not None]
        if len(arrived) < PROBE_MIN_PACKETS or len(arrived) < len(results) // 2:
            return None
        sends = sorted(r.send_us for r in results)
        start, end = sends[len(sends) // 3], sends[-1]
        window = [r for r in self._recent if start <= r.send_us <= end]
        landed = sorted((r.arrival_us, r.size) for r in window if r.arrival_us is not None)
        if len(landed) < PROBE_MIN_PACKETS:
            return None
        send_span = max(end - start, 250)
        arrival_span = landed[-1][0] - landed[0][0]
        if arrival_span * PROBE_MAX_RATIO < send_span:
            # arrived much faster than it was sent: the receiver stamped a backlog at once (a busy receiver), not a
            # measurement of the path
            return None
        sent_bytes = sum(r.size for r in window)
        arrived_bytes = sum(size for _, size in landed)
        saturated = arrival_span > PROBE_SPREAD * send_span or arrived_bytes < (1 - PROBE_LOSS) * sent_bytes
        if saturated:
            rate = (arrived_bytes - landed[0][1]) * 8 * 1_000_000 / max(arrival_span, send_span)
        else:
            rate = sent_bytes * 8 * 1_000_000 / send_span
        rate = int(min(rate, target_bps))
        if wanted_bps is not None:
            # saturated: the capacity it found must hold the next layer; else the offer (media comes in frames: a
            # few per cent under the target inside the window) was carried whole
            if rate < (1.0 if saturated else PROBE_ACCEPT) * wanted_bps:
                return rate
            rate = max(rate, wanted_bps)
        if rate > self.estimate_bps and self._trend.state != OVERUSE:
            self.delay_bps = max(self.delay_bps, float(rate))
            self.loss_bps = max(self.loss_bps, float(rate))
            self.rate_state = HOLD
        return rate

    def probe_reported(self, probe: int) -> int:
        """Packets of probe cluster ``probe`` the feedback reported so far (arrived or lost)."""
        return len(self._probes.get(probe, ()))

    def forget_probe(self, probe: int) -> None:
        self._probes.pop(probe, None)


class ProbePlanner:
    """When to probe and how high: only while the viewer could take more than its estimate gives, the detector is
    not over-using and loss is under 2 %; at most one cluster in flight; after a failure the next waits 1 s, then
    2 s (3 s after a probe that proved wrong)."""

    def __init__(self, min_interval_us: int = 1_000_000, max_interval_us: int = 2_000_000) -> None:
        self.min_interval_us = min_interval_us
        self.max_interval_us = max_interval_us
        self.interval_us = min_interval_us
        self.last_probe_us: int | None = None
        self.next_id = 0
        self.in_flight: tuple[int, int, int] | None = None  # (id, target bps, sent at)
        self.probes = 0
        self.successes = 0
        self.last_success_us: int | None = None
        self.penalties = 0

    def want(self, now_us: int, estimate_bps: int, wanted_bps: int | None, detector: str, loss: float) -> int | None:
        """A probe target (bits per second) to send now, or None."""
        if wanted_bps is None or estimate_bps >= wanted_bps or self.in_flight is not None:
            return None
        if detector == OVERUSE or loss >= 0.02:
            return None
        if self.last_probe_us is not None and now_us - self.last_probe_us < self.interval_us:
            return None
        return int(wanted_bps * PROBE_OVERSHOOT)

    def moved_down(self, now_us: int) -> None:
        """The viewer had to leave its layer for congestion: if a probe moved it up shortly before, that probe was
        wrong (a shaper's burst allowance let it through), so the next one waits ``PENALTY_US``."""
        if self.last_success_us is not None and now_us - self.last_success_us < FAILED_MOVE_US:
            self.last_success_us = None
            self.penalties += 1
            self.last_probe_us = now_us
            self.interval_us = PENALTY_US

    def last_probe_us_or(self, default: int) -> int:
        return self.last_probe_us if self.last_probe_us is not None else default

    def started(self, target_bps: int, now_us: int) -> int:
        probe = self.next_id
        self.next_id += 1
        self.in_flight = (probe, target_bps, now_us)
        self.last_probe_us = now_us
        self.probes += 1
        return probe

    def settled(self, rate_bps: int | None, estimate_before: int, wanted_bps: int | None) -> None:
        self.in_flight = None
        if rate_bps is not None and rate_bps > estimate_before and (wanted_bps is None or rate_bps >= wanted_bps):
            self.successes += 1
            self.last_success_us = self.last_probe_us
            # the next layer up may fit too: try it as soon as this switch is done
            self.interval_us = min(self.min_interval_us, AFTER_SUCCESS_US)
        else:
            self.interval_us = min(self.max_interval_us, self.interval_us * 2)


def probe_cluster_size(padding_bps: int, duration_us: int = 300_000, packet_bytes: int = 280) -> int:
    """Padding packets of ``packet_bytes`` worth ``duration_us`` at ``padding_bps`` (at least 10, at most 60). The
    cluster is paced (:func:`probe_gap_us`), so on a link narrower than the target the bottleneck's queue grows by
    only ``(offered - capacity) * duration``: a probe finds the edge without overflowing the queue into the
    viewer's media; long enough that a shaper's burst allowance is only its start."""
    return max(10, min(60, int(padding_bps * duration_us / 8 / 1_000_000 / packet_bytes)))


def probe_gap_us(padding_bps: int, packet_bytes: int, per_send: int) -> int:
    """Microseconds between sends of ``per_send`` probe packets, so that the padding leaves at ``padding_bps``."""
    return int(per_send * packet_bytes * 8 * 1_000_000 / max(padding_bps, 1))
