"""A circuit breaker in front of the hot-path Redis calls (rate limits, presence, recent chat, live gift state).

A Redis that *refuses* connections fails fast on its own; one that *hangs* (paused, swapping, a network path that
drops packets) would hold every call for the client's socket timeout. So each guarded call gets a short deadline
(``HUB_REDIS_CALL_TIMEOUT_S``); the first call that times out or cannot connect opens the breaker, and from then on
guarded calls do not touch Redis at all: they raise ``RedisUnavailableError`` at once and the caller uses its per-node
behaviour (this node's own rate limiter, this node's viewer count, recent chat from the database, gifts without combo
or live leaderboard). One background probe pings Redis every ``HUB_REDIS_PROBE_INTERVAL_S``; when it answers, the
breaker closes and shared behaviour resumes. There is no half-open trickle of real calls: only the probe tests Redis,
so no request ever pays the deadline while Redis is known to be away.

Errors Redis *answers* with (a script error, a wrong type) are not outages: they pass through and do not trip.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast

from prometheus_client import CollectorRegistry, Counter, Gauge
from redis.exceptions import ClusterDownError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from core.errors import UnavailableError
from core.ratelimit import Rate, RateLimiter
from core.tasks import cancel_and_wait
from hub.settings import hub_default

log = logging.getLogger(__name__)

T = TypeVar("T")

# What says "Redis is not answering" (not "Redis answered no"): our deadline, the client's own socket timeout,
# a refused or reset connection.
# On a Redis Cluster also: the cluster says it is down, or a slot has no reachable master.
OUTAGE: tuple[type[BaseException], ...] = (
    TimeoutError,
    RedisTimeoutError,
    RedisConnectionError,
    OSError,
    ClusterDownError,
    SlotNotCoveredError,
)


class RedisUnavailableError(UnavailableError):
    """Redis did not answer in time, or the breaker is open: use this node's own state."""

    code = "unavailable"


class RedisBreaker:
    def __init__(
        self,
        ping: Callable[[], Awaitable[Any]],
        *,
        call_timeout_s: float = hub_default("redis_call_timeout_s"),
        probe_interval_s: float = hub_default("redis_probe_interval_s"),
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._ping = ping
        self.call_timeout_s = call_timeout_s
        self.probe_interval_s = probe_interval_s
        self._open = False
        self._probe: asyncio.Task[None] | None = None
        self._closed = False
        self._on_recover: list[Callable[[], Awaitable[None]]] = []
        self.trips = 0
        self._state = Gauge(
            "hub_redis_breaker_open",
            "1 while hot-path Redis calls are skipped (Redis timed out or refused; per-node fallbacks in use)",
            registry=registry,
        )
        self._trips = Counter("hub_redis_breaker_trips", "times the Redis breaker opened", registry=registry)
        self._skipped = Counter(
            "hub_redis_breaker_short_circuited",
            "hot-path Redis calls answered by the per-node fallback without asking Redis (breaker open)",
            registry=registry,
        )
        self._failures = Counter(
            "hub_redis_call_failures",
            "hot-path Redis calls that failed, by reason (timeout: no answer within HUB_REDIS_CALL_TIMEOUT_S)",
            ["reason"],
            registry=registry,
        )
        for reason in ("timeout", "connection"):
            self._failures.labels(reason)

    @property
    def is_open(self) -> bool:
        return self._open

    def on_recover(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``callback`` each time the breaker closes (e.g. rewrite this node's viewers into the shared state)."""
        self._on_recover.append(callback)

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one Redis operation under the deadline, or refuse at once while the breaker is open."""
        if self._open:
            self._skipped.inc()
            raise RedisUnavailableError("Redis is unavailable; using this node's state", retry_after_s=1)
        try:
            async with asyncio.timeout(self.call_timeout_s):  # no extra task per call (unlike wait_for on 3.11)
                return await operation()
        except OUTAGE as exc:
            timed_out = isinstance(exc, TimeoutError | RedisTimeoutError)
            self._failures.labels("timeout" if timed_out else "connection").inc()
            self.trip(type(exc).__name__)
            raise RedisUnavailableError("Redis did not answer; using this node's state", retry_after_s=1) from exc

    def trip(self, why: str) -> None:
        if self._open or self._closed:
            return
        self._open = True
        self.trips += 1
        self._trips.inc()
        self._state.set(1)
        log.warning(
            "Redis breaker open (%s): rate limits, presence and live state fall back to this node; probing every %g s",
            why,
            self.probe_interval_s,
        )
        if self._probe is None or self._probe.done():
            self._probe = asyncio.get_running_loop().create_task(self._probe_until_answered(), name="redis-probe")

    async def _probe_until_answered(self) -> None:
        while self._open:
            await asyncio.sleep(self.probe_interval_s)
            try:
                await asyncio.wait_for(self._ping(), self.call_timeout_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # still away: keep the breaker open
                log.debug("Redis probe failed: %s", type(exc).__name__)
                continue
            self._open = False
            self._state.set(0)
            log.warning("Redis breaker closed: Redis answers again; shared state resumes")
            for callback in self._on_recover:
                try:
                    await callback()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("after Redis came back, %s failed: %s", callback.__qualname__, type(exc).__name__)

    async def close(self) -> None:
        self._closed = True
        task, self._probe = self._probe, None
        await cancel_and_wait(task)


class GuardedRateLimiter:
    """The shared (Redis) limiter behind the breaker, this node's own limiter whenever Redis does not answer."""

    def __init__(self, shared: RateLimiter, local: RateLimiter, breaker: RedisBreaker) -> None:
        self._shared = shared
        self._local = local
        self._breaker = breaker

    async def hit(self, key: str, rate: Rate, cost: int = 1) -> float:
        try:
            return await self._breaker.call(lambda: self._shared.hit(key, rate, cost))
        except RedisUnavailableError:
            return await self._local.hit(key, rate, cost)


class _Guarded:
    def __init__(self, inner: Any, breaker: RedisBreaker) -> None:
        self._inner = inner
        self._breaker = breaker

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._inner, name)
        if not asyncio.iscoroutinefunction(target):
            return target

        @functools.wraps(target)
        async def guarded_call(*args: Any, **kwargs: Any) -> Any:
            return await self._breaker.call(lambda: target(*args, **kwargs))

        return guarded_call


def guarded(inner: T, breaker: RedisBreaker) -> T:
    """``inner`` (a Redis-backed store) with every coroutine method behind ``breaker``: an outage surfaces as
    ``RedisUnavailableError`` (an ``UnavailableError``), at once while the breaker is open."""
    return cast(T, _Guarded(inner, breaker))
