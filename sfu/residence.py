"""Residence time (a packet's tap in → a viewer's send) as a cumulative histogram in seconds, for Prometheus.

One histogram per process: producers come and go, but the counts only grow (a worker process reports its own;
the pool adds them up). The producer also keeps a bounded window of raw samples for percentiles (benchmarks).
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

#: Upper bounds in seconds; residence is normally tens of microseconds per viewer.
BUCKETS_S: tuple[float, ...] = (
    0.00001,
    0.000025,
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.1,
)
_BOUNDS_US = tuple(b * 1e6 for b in BUCKETS_S)


class ResidenceHistogram:
    __slots__ = ("counts", "sum_s")

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)  # the last one is +Inf
        self.sum_s = 0.0

    def observe_us(self, microseconds: float) -> None:
        self.counts[bisect_left(_BOUNDS_US, microseconds)] += 1
        self.sum_s += microseconds / 1e6

    def to_dict(self) -> dict[str, Any]:
        return {"counts": list(self.counts), "sum_s": self.sum_s}


def merge(reports: list[dict[str, Any] | None]) -> dict[str, Any]:
    """Several processes' ``to_dict()`` added up."""
    counts = [0] * (len(BUCKETS_S) + 1)
    total = 0.0
    for report in reports:
        if not report:
            continue
        for i, n in enumerate(report["counts"][: len(counts)]):
            counts[i] += int(n)
        total += float(report["sum_s"])
    return {"counts": counts, "sum_s": total}


def cumulative_buckets(report: dict[str, Any]) -> list[tuple[str, float]]:
    """Prometheus buckets (``le`` → cumulative count), ending with ``+Inf``."""
    out: list[tuple[str, float]] = []
    running = 0
    for bound, n in zip((*(repr(b) for b in BUCKETS_S), "+Inf"), report["counts"], strict=True):
        running += n
        out.append((bound, float(running)))
    return out


#: This process's residence histogram, fed by every producer here.
RESIDENCE = ResidenceHistogram()
