"""Rate limiting as a seam. The in-process limiter is the embedded default; ``hub`` wires a Redis one for many nodes."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from core.clock import Clock


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``burst`` events at once, refilled at ``per_second`` events per second (a token bucket)."""

    burst: int
    per_second: float

    def __post_init__(self) -> None:
        if self.burst < 1 or self.per_second <= 0:
            raise ValueError("a rate needs burst >= 1 and per_second > 0")


class RateLimiter(Protocol):
    async def hit(self, key: str, rate: Rate, cost: int = 1) -> float:
        """Take ``cost`` tokens from ``key``'s bucket. Returns 0.0 if allowed, else seconds until it would be."""


class InProcessRateLimiter:
    def __init__(self, clock: Clock, max_keys: int = 100_000) -> None:
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._max_keys = max_keys

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> float:
        now = self._clock.monotonic()
        tokens, last = self._buckets.get(key, (float(rate.burst), now))
        tokens = min(float(rate.burst), tokens + (now - last) * rate.per_second)
        if tokens >= cost:
            self._store(key, tokens - cost, now)
            return 0.0
        self._store(key, tokens, now)
        return math.ceil((cost - tokens) / rate.per_second * 1000) / 1000

    def _store(self, key: str, tokens: float, now: float) -> None:
        if key not in self._buckets and len(self._buckets) >= self._max_keys:
            # Bounded memory: forget the oldest bucket (dicts keep insertion order).
            self._buckets.pop(next(iter(self._buckets)))
        self._buckets[key] = (tokens, now)
