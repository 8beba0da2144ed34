"""A viewer's estimate without transport-cc: from the loss in its receiver reports (its REMB is only recorded).

Viewers that do not negotiate transport-cc (aiortc, older clients) still send RTCP receiver reports about once a
second (RFC 3550: the fraction lost since the previous report), and many send REMB (draft-alvestrand-rmcat-remb: the
receiver's own delay-based estimate). This is the loss-based half of GCC (draft-ietf-rmcat-gcc-02, section 6), fed by
those reports, with the rate the SFU actually sent this viewer as its reference:

- loss above 10 %: the estimate becomes the sent rate times (1 - loss / 2), and the sent rate at that moment becomes
  a *ceiling* the estimate stays under for a hold time (5 s; doubled, up to 60 s, each time a try above the ceiling
  fails again; back to 5 s after a minute without a decrease): a link that cannot carry a layer is not made to try
  it every few seconds;
- loss under 2 %: the estimate grows by 20 % per report (a layer step is 2-5x, so a climb takes seconds, not minutes);
- in between: it holds.
- A REMB is recorded (the console shows it) but does not move the estimate: a receiver's REMB follows the rate it
  receives, so it would keep a viewer on a small layer forever (nothing probes these viewers), and right after each
  step up to a bigger layer it lags far below what is sent. Used as a "strong congestion" signal (two in a row under
  half the sent rate) it sent an aiortc viewer back down after every step up: 42 s to climb from l to h on an open
  link, against 11 s from the loss alone (tests/integration/test_report_bwe.py).

Until the first loss above 10 % there is no estimate (None): the viewer gets what its preference and screen say.
Rates are payload bits per second, as the layers' bitrates are (``Producer.bitrate``).
"""

from __future__ import annotations

LOSS_HIGH = 0.10
LOSS_LOW = 0.02
INCREASE = 1.2
HOLD_S = 5.0
MAX_HOLD_S = 60.0
#: A decrease this long after the previous one starts the hold from ``HOLD_S`` again.
HOLD_RESET_S = 60.0
MAX_BPS = 100_000_000
MIN_BPS = 10_000
#: Reports closer than this to the previous one do not measure a sending rate (aiortc sends RR and SR blocks).
MIN_INTERVAL_S = 0.2


class ReportEstimate:
    def __init__(self) -> None:
        self.estimate_bps: int | None = None
        self.ceiling_bps: int | None = None
        self.ceiling_until = 0.0
        self.hold_s = HOLD_S
        self.last_decrease_at: float | None = None
        self.remb_bps: int | None = None
        self.loss = 0.0
        self.sent_bps = 0
        self.reports = 0
        self.rembs = 0
        self.decreases = 0
        self._mark: tuple[float, int] | None = None

    def _sent_rate(self, now: float, sent_bytes: int) -> int | None:
        mark = self._mark
        if mark is not None and now - mark[0] < MIN_INTERVAL_S:
            return None
        self._mark = (now, sent_bytes)
        if mark is None:
            return None
        self.sent_bps = max(0, round((sent_bytes - mark[1]) * 8 / (now - mark[0])))
        return self.sent_bps

    def on_report(self, fraction_lost: float, now: float, sent_bytes: int) -> None:
        """A receiver report for this viewer's video: ``fraction_lost`` 0..1, ``sent_bytes`` the payload octets sent
        to it so far."""
        sent = self._sent_rate(now, sent_bytes)
        if sent is None:
            return
        self.reports += 1
        self.loss = fraction_lost
        if fraction_lost > LOSS_HIGH:
            self._decrease(round(sent * (1 - fraction_lost / 2)), sent, now)
        elif fraction_lost < LOSS_LOW and self.estimate_bps is not None:
            grown = round(self.estimate_bps * INCREASE)
            if self.ceiling_bps is not None:
                if now < self.ceiling_until:
                    grown = min(grown, round(self.ceiling_bps * 0.95))
                else:
                    self.ceiling_bps = None
            self.estimate_bps = max(self.estimate_bps, min(grown, MAX_BPS))

    def on_remb(self, bitrate_bps: int, now: float) -> None:
        """Recorded only (see the module's note)."""
        self.rembs += 1
        self.remb_bps = bitrate_bps

    def _decrease(self, target: int, sent: int, now: float) -> None:
        target = max(MIN_BPS, target)
        if self.estimate_bps is not None and target >= self.estimate_bps:
            return
        last = self.last_decrease_at
        if last is None or now - last > HOLD_RESET_S:
            self.hold_s = HOLD_S
        elif now >= self.ceiling_until:  # a try above the last ceiling failed again: wait longer before the next
            self.hold_s = min(MAX_HOLD_S, self.hold_s * 2)
        self.estimate_bps = target
        self.ceiling_bps = max(sent, target)
        self.ceiling_until = now + self.hold_s
        self.last_decrease_at = now
        self.decreases += 1

    def stats(self) -> dict[str, object]:
        return {
            "source": "loss",
            "estimate_bps": self.estimate_bps,
            "remb_bps": self.remb_bps,
            "loss": round(self.loss, 4),
            "sent_bps": self.sent_bps,
            "ceiling_bps": self.ceiling_bps,
            "reports": self.reports,
            "rembs": self.rembs,
            "decreases": self.decreases,
        }
