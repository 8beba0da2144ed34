"""The per-viewer estimator (``sfu/bwe.py``, after draft-ietf-rmcat-gcc) against simulated links: a FIFO bottleneck
of a given capacity with a bounded queue (like ``tc tbf``), fed at a given send rate, feedback every 50 ms."""

from __future__ import annotations

import random

from sfu.bwe import (
    AFTER_SUCCESS_US,
    OVERUSE,
    PENALTY_US,
    GccEstimator,
    PacketResult,
    ProbePlanner,
    SendHistory,
    probe_cluster_size,
)
from sfu.downlink import HOLD_US, RTX_BURST_BYTES, DownlinkEstimate


class Link:
    """A bottleneck: ``capacity_bps``, a queue of at most ``queue_ms`` (tail drop), random ``loss``."""

    def __init__(self, capacity_bps: float, queue_ms: float = 50, loss: float = 0.0, seed: int = 1) -> None:
        self.capacity_bps = capacity_bps
        self.queue_us = queue_ms * 1000
        self.loss = loss
        self.free_at = 0.0
        self.random = random.Random(seed)

    def carry(self, send_us: int, size: int) -> int | None:
        start = max(float(send_us), self.free_at)
        if start - send_us > self.queue_us or self.random.random() < self.loss:
            return None
        self.free_at = start + size * 8 * 1_000_000 / self.capacity_bps
        return int(self.free_at) + 3_000  # plus a fixed propagation delay


def run(estimator: GccEstimator, link: Link, send_bps: float, start_us: int, seconds: float, size: int = 1200) -> int:
    """Send at ``send_bps`` (packets of ``size``) for ``seconds``, feedback every 50 ms; returns the end time."""
    interval = size * 8 * 1_000_000 / send_bps
    now = float(start_us)
    end = start_us + seconds * 1_000_000
    batch: list[PacketResult] = []
    next_feedback = start_us + 50_000
    while now < end:
        batch.append(PacketResult(int(now), link.carry(int(now), size), size))
        now += interval
        if now >= next_feedback:
            estimator.on_feedback(batch, int(now))
            batch = []
            next_feedback += 50_000
    return int(now)


def test_on_an_unconstrained_link_the_estimate_grows_but_stays_near_what_is_sent() -> None:
    estimator = GccEstimator(start_bps=300_000)
    run(estimator, Link(50_000_000), 600_000, 0, 5)
    assert estimator.estimate_bps > 1.3 * 300_000  # 8 % per second (probing is the fast way up)
    assert estimator.estimate_bps <= 1.5 * 600_000 + 10_000 + 1  # the draft's bound on increases
    assert estimator.decreases == 0


def test_sending_above_the_capacity_steps_down_below_it_within_half_a_second() -> None:
    estimator = GccEstimator(start_bps=2_500_000)
    t = run(estimator, Link(3_000_000), 2_000_000, 0, 3)
    assert estimator.estimate_bps >= 2_000_000
    narrow = Link(300_000)
    narrow.free_at = t
    run(estimator, narrow, 2_000_000, t, 0.5)
    assert estimator.estimate_bps < 300_000, (estimator.estimate_bps, estimator.detector_state)
    assert estimator.decreases >= 1


def test_a_growing_queue_without_loss_is_seen_as_overuse() -> None:
    estimator = GccEstimator(start_bps=1_000_000)
    t = run(estimator, Link(10_000_000), 800_000, 0, 2)
    deep = Link(700_000, queue_ms=10_000)  # no drops: only the delay says it
    deep.free_at = t
    run(estimator, deep, 800_000, t, 1.0)
    assert estimator.decreases >= 1 and estimator.loss == 0.0
    assert estimator.estimate_bps < 700_000


def test_heavy_random_loss_lowers_the_estimate_and_light_loss_does_not() -> None:
    lossy = GccEstimator(start_bps=1_000_000)
    run(lossy, Link(50_000_000, loss=0.3), 1_000_000, 0, 3)
    assert lossy.estimate_bps < 600_000 and lossy.loss > 0.1
    light = GccEstimator(start_bps=1_000_000)
    run(light, Link(50_000_000, loss=0.01), 1_000_000, 0, 3)
    assert light.estimate_bps >= 1_000_000


def test_a_probe_measures_what_the_bottleneck_carries() -> None:
    for capacity in (400_000, 1_500_000, 6_000_000):
        estimator = GccEstimator(start_bps=200_000)
        link = Link(capacity, queue_ms=200)
        t = run(estimator, link, 150_000, 0, 2)
        target = 3_000_000
        results = [
            PacketResult(t + i * 10, link.carry(t + i * 10, 280), 280, probe=0)
            for i in range(probe_cluster_size(target))
        ]
        estimator.on_feedback(results, t + 100_000)
        rate = estimator.probe_result(0, target)
        assert rate is not None
        assert 0.8 * min(capacity, target) <= rate <= 1.05 * min(capacity, target), (capacity, rate)
        assert estimator.estimate_bps == rate or estimator.estimate_bps >= rate


def test_a_probe_that_mostly_vanished_tells_nothing() -> None:
    estimator = GccEstimator(start_bps=200_000)
    results = [PacketResult(i * 10, 5_000 if i < 3 else None, 280, probe=0) for i in range(20)]
    estimator.on_feedback(results, 100_000)
    assert estimator.probe_result(0, 3_000_000) is None
    assert estimator.estimate_bps == 200_000


def test_the_planner_probes_only_when_more_is_wanted_and_backs_off_after_failures() -> None:
    planner = ProbePlanner()
    assert planner.want(0, 500_000, None, "normal", 0.0) is None  # nothing bigger to go to
    assert planner.want(0, 500_000, 400_000, "normal", 0.0) is None  # the estimate already allows it
    assert planner.want(0, 200_000, 500_000, OVERUSE, 0.0) is None
    assert planner.want(0, 200_000, 500_000, "normal", 0.05) is None
    target = planner.want(0, 200_000, 500_000, "normal", 0.0)
    assert target is not None and target >= 500_000
    planner.started(target, 0)
    assert planner.want(10, 200_000, 500_000, "normal", 0.0) is None  # one in flight
    planner.settled(None, 200_000, 500_000)  # failed
    assert planner.want(1_500_000, 200_000, 500_000, "normal", 0.0) is None  # waits 2 s now
    assert planner.want(2_000_000, 200_000, 500_000, "normal", 0.0) is not None
    planner.started(600_000, 2_000_000)
    planner.settled(None, 200_000, 500_000)
    planner.started(600_000, 5_000_000)
    planner.settled(None, 200_000, 500_000)
    assert planner.interval_us == 2_000_000  # capped
    planner.started(600_000, 8_000_000)
    planner.settled(700_000, 200_000, 500_000)
    assert planner.interval_us == AFTER_SUCCESS_US and planner.successes == 1  # the layer above may come next


def test_the_send_history_joins_feedback_across_the_wrap_and_skips_unknown_numbers() -> None:
    history = SendHistory()
    history.next_seq = 65534
    seqs = [history.sent(1000 + i, 10 * i) for i in range(4)]
    assert seqs == [65534, 65535, 0, 1]
    results = history.results(65533, (None, 5, None, 7, 8))  # 65533 was never sent
    assert [(r.send_us, r.arrival_us, r.size) for r in results] == [
        (0, 5, 1000),
        (10, None, 1001),
        (20, 7, 1002),
        (30, 8, 1003),
    ]


def probe_over(link: Link, start_us: int, padding_bps: int, count: int, probe: int = 0) -> list[PacketResult]:
    """A paced probe cluster of ``count`` padding packets (280 bytes) at ``padding_bps``, through ``link``."""
    gap = int(280 * 8 * 1_000_000 / padding_bps)
    return [
        PacketResult(start_us + i * gap, link.carry(start_us + i * gap, 280), 280, probe=probe) for i in range(count)
    ]


def test_a_probe_that_overfills_a_narrow_link_does_not_lower_the_estimate_by_its_own_losses() -> None:
    # a viewer on a 400 kbit/s link, getting 250 kbit/s: a probe toward a bigger layer must not cost it the estimate
    # its current layer needs (its losses settle the probe, not the loss-based estimate)
    estimator = GccEstimator(start_bps=400_000)
    link = Link(400_000, queue_ms=30)
    t = run(estimator, link, 250_000, 0, 3)
    before = estimator.estimate_bps
    assert before >= 300_000
    estimator.on_feedback(probe_over(link, t, 2_000_000, 60), t + 50_000)
    estimator.probe_result(0, 1_000_000)
    run(estimator, link, 250_000, t + 50_000, 0.3)
    assert estimator.estimate_bps >= before
    assert estimator.loss < 0.1  # the media got through


def test_a_probe_counts_what_the_link_carried_of_media_and_padding_together() -> None:
    estimator = GccEstimator(start_bps=200_000)
    link = Link(500_000, queue_ms=200)
    t = run(estimator, link, 300_000, 0, 2)
    # padding at 400 kbit/s on top of 300 kbit/s of media, interleaved, through a 500 kbit/s link
    results: list[PacketResult] = []
    media_gap, padding_gap = int(1200 * 8 * 1e6 / 300_000), int(280 * 8 * 1e6 / 400_000)
    media = [(t + i * media_gap, 1200, -1) for i in range(10)]
    events = sorted(media + [(t + i * padding_gap, 280, 0) for i in range(40)])
    for send, size, probe in events:
        results.append(PacketResult(send, link.carry(send, size), size, probe))
    estimator.on_feedback(results, t + 300_000)
    rate = estimator.probe_result(0, 700_000)
    assert rate is not None and 420_000 <= rate <= 560_000, rate  # the link's 500 kbit/s, not the padding's share


def test_a_probe_that_arrived_faster_than_it_was_sent_is_no_measurement() -> None:
    estimator = GccEstimator(start_bps=200_000)
    # sent over 150 ms, stamped by a receiver that was busy as arriving within 2 ms
    results = [PacketResult(i * 5_000, 200_000 + i * 100, 280, probe=0) for i in range(30)]
    estimator.on_feedback(results, 300_000)
    assert estimator.probe_result(0, 3_000_000) is None
    assert estimator.estimate_bps == 200_000


def test_an_overuse_while_a_probe_drains_stops_at_the_estimate_the_probe_started_from() -> None:
    estimator = GccEstimator(start_bps=1_000_000)
    t = run(estimator, Link(10_000_000), 800_000, 0, 2)
    before = estimator.estimate_bps
    estimator.guard(t + 2_000_000)
    deep = Link(500_000, queue_ms=10_000)
    deep.free_at = t
    t = run(estimator, deep, 800_000, t, 1.0)
    assert estimator.decreases >= 1 and estimator.estimate_bps >= before
    # once the guard is over, the same over-use lowers it
    run(estimator, deep, 800_000, t + 1_000_000, 1.0)
    assert estimator.estimate_bps < before


def test_a_standing_queue_shows_a_link_narrower_than_what_is_sent_and_a_burst_does_not() -> None:
    estimator = GccEstimator(start_bps=1_000_000)
    link = Link(2_000_000, queue_ms=500)
    t = run(estimator, link, 1_000_000, 0, 2)
    # a keyframe's burst: 30 packets at once, then the same rate again
    estimator.on_feedback([PacketResult(t, link.carry(t, 1200), 1200) for _ in range(30)], t + 50_000)
    t = run(estimator, link, 1_000_000, t + 1, 0.5)
    queue = estimator.standing_queue_us()
    assert queue is not None and queue < 10_000, queue
    narrow = Link(700_000, queue_ms=500)
    narrow.free_at = t
    run(estimator, narrow, 1_000_000, t, 1.0)
    queue = estimator.standing_queue_us()
    assert queue is not None and queue > 100_000, queue


def test_an_estimate_under_the_current_layer_holds_it_a_while_unless_the_link_shows_congestion() -> None:
    downlink = DownlinkEstimate()
    assert downlink.hold(0, 300_000, 400_000) == 400_000
    assert downlink.hold(2_000_000, 300_000, 400_000) == 400_000
    assert downlink.hold(HOLD_US + 1, 300_000, 400_000) == 300_000  # under it for too long: it goes
    assert downlink.hold(3_000_000, 500_000, 400_000) == 500_000  # fits again: the clock starts over
    assert downlink.hold(3_100_000, 300_000, 400_000) == 400_000
    downlink.estimator.loss = 0.2  # the link loses packets: at once
    downlink.estimator.last_feedback_us = 3_150_000
    assert downlink.hold(3_200_000, 300_000, 400_000) == 300_000
    assert downlink.hold(3_300_000, 300_000, None) == 300_000  # on no layer: nothing to hold
    # a loss seen long ago (no feedback since: a paused viewer's) says nothing about the link now
    assert downlink.hold(4_500_000, 300_000, 400_000) == 400_000


def test_retransmissions_to_a_viewer_stay_within_a_share_of_its_estimate() -> None:
    downlink = DownlinkEstimate()
    downlink.estimator.delay_bps = 100_000.0  # a narrow link: 30 kbit/s (3,750 bytes/s) of retransmissions
    now = 1_000_000
    resent = sum(downlink.may_retransmit(1_000, now) for _ in range(100))
    assert resent == RTX_BURST_BYTES // 1_000  # the bucket's burst, then nothing
    assert not downlink.may_retransmit(1_000, now + 100_000)  # 375 bytes back
    assert downlink.may_retransmit(1_000, now + 400_000)
    assert downlink.retransmits_refused == 100 - resent + 1


def test_repairs_of_the_layer_a_viewer_left_leave_half_the_budget_to_the_layer_it_is_on() -> None:
    downlink = DownlinkEstimate()
    downlink.estimator.delay_bps = 100_000.0
    left = sum(downlink.may_retransmit(1_000, 1_000_000, spare=True) for _ in range(20))
    assert left == RTX_BURST_BYTES // 2 // 1_000
    assert sum(downlink.may_retransmit(1_000, 1_000_000) for _ in range(20)) == RTX_BURST_BYTES // 2 // 1_000


def test_a_paused_viewer_probes_again_although_its_last_feedback_showed_loss() -> None:
    downlink = DownlinkEstimate()
    downlink.first_feedback_us = 0
    downlink.estimator.loss = 0.7  # the window that paused its video
    downlink.estimator.last_feedback_us = 1_000_000
    downlink.estimator.delay_bps = 80_000.0
    assert downlink.tick(1_200_000, 150_000) is None  # the loss is news: no probe
    probe = downlink.tick(3_000_000, 150_000)  # no feedback since (no video flows): probe toward the lowest layer
    assert probe is not None


def test_a_probe_that_falls_short_of_the_next_layer_leaves_the_estimate_alone() -> None:
    estimator = GccEstimator(start_bps=200_000)
    link = Link(400_000, queue_ms=200)
    t = run(estimator, link, 150_000, 0, 2)
    before = estimator.estimate_bps
    estimator.on_feedback(probe_over(link, t, 3_000_000, 40), t + 100_000)
    rate = estimator.probe_result(0, 3_000_000, wanted_bps=600_000)
    assert rate is not None and rate < 600_000
    assert estimator.estimate_bps == before


def test_congestion_soon_after_a_successful_probe_makes_the_next_probe_wait() -> None:
    planner = ProbePlanner()
    planner.started(600_000, 0)
    planner.settled(700_000, 200_000, 500_000)  # success: the viewer moves up
    planner.moved_down(1_500_000)  # ...and has to come down for congestion
    assert planner.penalties == 1
    assert planner.want(1_500_000 + PENALTY_US - 1, 200_000, 500_000, "normal", 0.0) is None
    assert planner.want(1_500_000 + PENALTY_US, 200_000, 500_000, "normal", 0.0) is not None
    planner.moved_down(20_000_000)  # long after: not the probe's fault
    assert planner.penalties == 1


def test_heavy_loss_shows_before_the_loss_window_ends() -> None:
    # a link that narrowed to a third loses most of what is sent: the loss is known from the first feedback that
    # reports ten packets, not 200 ms later (the viewer's move down waits for it)
    estimator = GccEstimator(start_bps=2_000_000)
    t = run(estimator, Link(10_000_000), 1_000_000, 0, 2)
    assert estimator.loss == 0.0
    narrow = Link(300_000, queue_ms=20)
    narrow.free_at = t
    run(estimator, narrow, 1_000_000, t, 0.1)
    assert estimator.loss > 0.3


def test_a_link_that_narrows_under_what_is_sent_shows_congestion_within_a_quarter_second() -> None:
    # 15 frames a second of 4 packets each (528 kbit/s; an SFU forwards unpaced: one group of packets per frame), into
    # a link that falls from 3 Mbit/s to 300 kbit/s with a 160 ms queue (the bench's tc htb): every packet waits from
    # ~70 ms on, losses start only once the queue is full (~0.35 s), and the delay trend over 20 groups lags
    estimator = GccEstimator(start_bps=2_000_000)
    downlink = DownlinkEstimate()
    downlink.estimator = estimator
    wide = Link(3_000_000, queue_ms=160)
    frame_us = 66_667

    def frames(link: Link, start: int, count: int) -> int:
        batch: list[PacketResult] = []
        t = start
        for index in range(count):
            t = start + index * frame_us
            batch = [PacketResult(t + k * 100, link.carry(t + k * 100, 1_100), 1_100) for k in range(4)]
            estimator.on_feedback(batch, t + 60_000)  # feedback after each frame (Chromium's, at this rate)
        return t + frame_us

    t = frames(wide, 0, 45)
    assert not downlink.congested(t) and estimator.estimate_bps > 600_000
    narrow = Link(300_000, queue_ms=160)
    narrow.free_at = t
    t = frames(narrow, t, 4)  # 0.27 s after the drop
    assert downlink.congested(t + 60_000)
    # under what the link carries (what arrived while the queue stood), not 0.85 x the last 300 ms of arrivals, which
    # still hold the faster ones from before the drop (a layer that did not fit was chosen by it)
    assert estimator.estimate_bps < 300_000, estimator.estimate_bps


def test_a_probe_that_confirms_the_next_layer_leaves_an_estimate_that_fits_it() -> None:
    # the probe wanted int(layer / 0.85); once the estimate was exactly that, its usable share (rounded down) was one
    # bit per second short of the layer: no move up, and no probe either (the estimate was what the probe wanted)
    downlink = DownlinkEstimate()
    downlink.first_feedback_us = 0
    downlink.estimator.delay_bps = downlink.estimator.loss_bps = 200_000.0
    layer = 257_656
    assert downlink.tick(2_000_000, layer, layer) is not None
    probe = downlink._probe
    assert probe is not None and probe[4] is not None
    wanted = probe[4]
    downlink.estimator.delay_bps = downlink.estimator.loss_bps = float(wanted)  # what a success sets (rate <= wanted)
    assert (downlink.usable_bps(2_500_000) or 0) >= layer
