from __future__ import annotations

import redis.asyncio as aioredis

from core.clock import ManualClock
from core.ratelimit import InProcessRateLimiter, Rate
from hub.redis_ratelimit import RedisRateLimiter


async def test_in_process_bucket_allows_burst_then_refills() -> None:
    clock = ManualClock()
    limiter = InProcessRateLimiter(clock)
    rate = Rate(burst=3, per_second=1)
    assert [await limiter.hit("k", rate) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = await limiter.hit("k", rate)
    assert 0 < wait <= 1
    clock.advance(1.0)
    assert await limiter.hit("k", rate) == 0.0
    assert await limiter.hit("other", rate) == 0.0


async def test_redis_bucket_is_shared_between_limiters(clean_redis: str) -> None:
    a = aioredis.Redis.from_url(clean_redis)
    b = aioredis.Redis.from_url(clean_redis)
    try:
        la, lb = RedisRateLimiter(a), RedisRateLimiter(b)
        rate = Rate(burst=2, per_second=0.5)
        assert await la.hit("shared", rate) == 0.0
        assert await lb.hit("shared", rate) == 0.0
        assert await la.hit("shared", rate) > 0  # the second node's hit counted
    finally:
        await a.aclose()
        await b.aclose()
