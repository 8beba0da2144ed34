"""The per-viewer estimator (``sfu/bwe.py``, after draft-ietf-rmcat-gcc) against simulated links: a FIFO bottleneck
of a given capacity with a bounded queue (like ``tc tbf``), fed at a given send rate, feedback every 50 ms."""

from __future__ import annotations

import random

from sfu.bwe import (
    OVERUSE,
    GccEstimator,
    PacketResult,
    ProbePlanner,
    SendHistory,
    probe_cluster_size,
)


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
    assert planner.interval_us == 3_000_000  # capped
    planner.started(600_000, 8_000_000)
    planner.settled(700_000, 200_000, 500_000)
    assert planner.interval_us == 1_000_000 and planner.successes == 1


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
