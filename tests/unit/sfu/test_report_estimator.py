"""The estimate of a viewer without transport-cc, from its receiver reports' loss and its REMB (sfu/report_bwe.py)."""

from __future__ import annotations

from sfu.report_bwe import HOLD_S, ReportEstimate


def feed(estimate: ReportEstimate, t: float, sent_bytes: int, loss: float) -> int:
    estimate.on_report(loss, t, sent_bytes)
    return sent_bytes


def test_no_estimate_until_loss_then_down_to_what_the_link_carried_and_back_up_after_the_hold() -> None:
    e = ReportEstimate()
    sent = feed(e, 0.0, 0, 0.0)
    for t in range(1, 5):  # 1 Mbit/s without loss: no cap
        sent = feed(e, float(t), sent + 125_000, 0.0)
    assert e.estimate_bps is None and e.sent_bps == 1_000_000
    sent = feed(e, 5.0, sent + 125_000, 0.4)  # 40 % lost at 1 Mbit/s
    assert e.estimate_bps == 800_000 and e.ceiling_bps == 1_000_000 and e.decreases == 1
    sent = feed(e, 6.0, sent + 50_000, 0.05)  # 400 kbit/s, some loss: hold
    assert e.estimate_bps == 800_000
    t = 7.0
    while t < 5.0 + HOLD_S:  # clean, but under the ceiling while the hold runs
        sent = feed(e, t, sent + 50_000, 0.0)
        t += 1.0
    assert e.estimate_bps == 950_000
    sent = feed(e, t, sent + 50_000, 0.0)  # the hold ran out: above the old ceiling
    assert e.estimate_bps is not None and e.estimate_bps > 1_000_000 and e.ceiling_bps is None


def test_a_second_failed_try_above_the_ceiling_doubles_the_hold() -> None:
    e = ReportEstimate()
    sent = feed(e, 0.0, 0, 0.0)
    sent = feed(e, 1.0, sent + 125_000, 0.3)
    assert e.hold_s == HOLD_S
    sent = feed(e, 1.5, sent + 60_000, 0.3)  # same congestion, during the hold: same hold
    assert e.hold_s == HOLD_S
    sent = feed(e, 1.0 + HOLD_S + 2, sent + 125_000 * 6, 0.3)  # tried again after the hold: failed again
    assert e.hold_s == 2 * HOLD_S and e.decreases == 3


def test_a_remb_is_recorded_but_does_not_move_the_estimate() -> None:
    e = ReportEstimate()
    sent = feed(e, 0.0, 0, 0.0)
    sent = feed(e, 1.0, sent + 125_000, 0.0)  # 1 Mbit/s sent
    for t in (1.1, 1.2, 1.3):  # far below what is sent, as right after a step up to a bigger layer
        e.on_remb(100_000, t)
    assert e.estimate_bps is None and e.remb_bps == 100_000 and e.rembs == 3
