"""The Redis breaker's rules, with the operations as plain coroutines (the real Redis cases are in
``tests/integration/test_redis_hang.py``)."""

from __future__ import annotations

import asyncio
import time

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from core.clock import ManualClock
from core.ratelimit import InProcessRateLimiter, Rate
from hub.redis_breaker import GuardedRateLimiter, RedisBreaker, RedisUnavailableError


class Server:
    def __init__(self) -> None:
        self.hung = False
        self.calls = 0

    async def ping(self) -> bool:
        self.calls += 1
        if self.hung:
            await asyncio.sleep(3600)
        return True


async def test_a_call_that_misses_the_deadline_opens_the_breaker_and_later_calls_do_not_wait() -> None:
    server = Server()
    breaker = RedisBreaker(server.ping, call_timeout_s=0.05, probe_interval_s=0.05)
    try:
        assert await breaker.call(server.ping) is True
        server.hung = True
        with pytest.raises(RedisUnavailableError):
            await breaker.call(server.ping)
        assert breaker.is_open and breaker.trips == 1
        calls = server.calls
        start = time.monotonic()
        for _ in range(100):
            with pytest.raises(RedisUnavailableError):
                await breaker.call(server.ping)
        assert time.monotonic() - start < 0.05
        await asyncio.sleep(0.02)
        assert server.calls - calls <= 1  # only the background probe touched the server meanwhile
    finally:
        await breaker.close()


async def test_the_probe_closes_the_breaker_when_redis_answers_and_runs_the_recovery_hooks() -> None:
    server = Server()
    recovered: list[bool] = []

    async def on_recover() -> None:
        recovered.append(True)

    breaker = RedisBreaker(server.ping, call_timeout_s=0.05, probe_interval_s=0.05)
    breaker.on_recover(on_recover)
    try:
        server.hung = True
        with pytest.raises(RedisUnavailableError):
            await breaker.call(server.ping)
        await asyncio.sleep(0.2)
        assert breaker.is_open and not recovered
        server.hung = False
        for _ in range(100):
            if not breaker.is_open:
                break
            await asyncio.sleep(0.02)
        assert not breaker.is_open and recovered == [True]
        assert await breaker.call(server.ping) is True
    finally:
        await breaker.close()


async def test_an_answer_from_redis_that_is_an_error_passes_through_and_does_not_trip() -> None:
    breaker = RedisBreaker(Server().ping, call_timeout_s=0.05)

    async def bad_script() -> None:
        raise ResponseError("ERR wrong number of arguments")

    with pytest.raises(ResponseError):
        await breaker.call(bad_script)
    assert not breaker.is_open

    async def refused() -> None:
        raise RedisConnectionError("Connection refused")

    with pytest.raises(RedisUnavailableError):
        await breaker.call(refused)
    assert breaker.is_open
    await breaker.close()


async def test_the_guarded_limiter_limits_on_the_node_while_redis_is_away() -> None:
    server = Server()
    breaker = RedisBreaker(server.ping, call_timeout_s=0.05, probe_interval_s=10)

    class HungShared:
        async def hit(self, key: str, rate: Rate, cost: int = 1) -> float:
            await asyncio.sleep(3600)
            return 0.0

    limiter = GuardedRateLimiter(HungShared(), InProcessRateLimiter(ManualClock()), breaker)
    rate = Rate(burst=2, per_second=0.001)
    try:
        waits = [await limiter.hit("chat:u1", rate) for _ in range(3)]
        assert waits[:2] == [0.0, 0.0] and waits[2] > 0
        assert breaker.is_open
    finally:
        await breaker.close()
