"""One viewer's downlink estimate: what its video consumer sends, what its transport-cc feedback says, and probes.

The consumer numbers each video packet it sends this viewer (``SendHistory.sent``, on the forwarding path); the
viewer's feedback (``sfu/twcc.py``) joined with those numbers drives :class:`sfu.bwe.GccEstimator`. Every 250 ms
the router asks :meth:`DownlinkEstimate.tick` for the viewer's usable bitrate (``Consumer.estimate_bps``, what
``select_layer`` caps the layer by) and whether to probe: when the viewer's preference allows a bigger layer than its
estimate, a burst of RTX padding (``Consumer.send_probe``) measures the path first (see ``sfu/bwe.py``).
"""

from __future__ import annotations

import time

from sfu.bwe import GccEstimator, ProbePlanner, SendHistory, probe_cluster_size
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


def now_us() -> int:
    return time.monotonic_ns() // 1000


class DownlinkEstimate:
    def __init__(self) -> None:
        self.history = SendHistory()
        self.estimator = GccEstimator(start_bps=START_BPS, min_bps=MIN_BPS, max_bps=START_BPS)
        self.planner = ProbePlanner()
        self.first_feedback_us: int | None = None
        self.feedbacks = 0
        self.malformed = 0
        self._previous_usable: int | None = None
        #: The in-flight probe: (id, target bps, unwrapped number of its last packet, estimate before, wanted).
        self._probe: tuple[int, int, int, int, int | None] | None = None

    # -- feedback (RTCP from the viewer) ---------------------------------------------------------------------

    def on_rtcp(self, datagram: bytes) -> None:
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
            if probe is not None and feedback.arrivals:
                newest = self.history.unwrap((feedback.base_seq + len(feedback.arrivals) - 1) & 0xFFFF)
                if newest >= probe[2]:
                    self._settle()

    def _settle(self) -> None:
        probe = self._probe
        if probe is None:
            return
        self._probe = None
        probe_id, target, _, before, wanted = probe
        rate = self.estimator.probe_result(probe_id, target)
        self.planner.settled(rate, before, wanted)

    # -- the router's tick -----------------------------------------------------------------------------------

    def usable_bps(self, now: int) -> int | None:
        """What a layer may use, or None while warming up. A fall shows one tick late (the larger of this tick's
        and the last one's): a single over-use reading on an open link must not cost the viewer a layer."""
        if self.first_feedback_us is None or now - self.first_feedback_us < WARMUP_US:
            return None
        usable = int(self.estimator.estimate_bps * USABLE)
        previous, self._previous_usable = self._previous_usable, usable
        return max(usable, previous) if previous is not None else usable

    def tick(self, now: int, wanted_layer_bps: int | None) -> tuple[int, int] | None:
        """Settle a probe that timed out; return (probe id, packets) when a probe should be sent now, toward a
        layer of ``wanted_layer_bps`` (None: nothing bigger to go to)."""
        if self._probe is not None and now - self.planner.last_probe_us_or(now) > PROBE_TIMEOUT_US:
            self._settle()
        if self.first_feedback_us is None:
            return None
        wanted = None if wanted_layer_bps is None else int(wanted_layer_bps / USABLE)
        estimate = self.estimator.estimate_bps
        target = self.planner.want(now, estimate, wanted, self.estimator.detector_state, self.estimator.loss)
        if target is None:
            return None
        probe_id = self.planner.started(target, now)
        count = probe_cluster_size(target, packet_bytes=PROBE_PACKET_BYTES)
        self._probe = (probe_id, target, self.history.next_seq + count - 1, estimate, wanted)
        return probe_id, count

    def probe_not_sent(self) -> None:
        """The consumer could not send the probe (no RTX, not started): forget it."""
        probe = self._probe
        if probe is not None:
            self._probe = None
            self.estimator.forget_probe(probe[0])
            self.planner.settled(None, probe[3], probe[4])

    def stats(self, now: int) -> dict[str, object]:
        estimator = self.estimator
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
        }
