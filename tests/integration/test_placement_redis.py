"""The placement registry against a real redis-server: leases, heartbeats, origins, least-loaded choice."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from cluster.models import NodeLoad, least_loaded
from cluster.store_redis import RedisPlacement
from tests.support.waiting import until

HEARTBEAT_S = 0.2
LEASE_S = 1.5


class FakeLoad:
    """This node's load as the hub would report it (our own seam, not Redis)."""

    def __init__(self, node_id: str, capacity: int = 100) -> None:
        self.node_id = node_id
        self.viewers: dict[str, int] = {}
        self.capacity = capacity

    def __call__(self) -> NodeLoad:
        return NodeLoad(
            self.node_id,
            f"http://{self.node_id}.test",
            viewers=sum(self.viewers.values()),
            capacity=self.capacity,
            streams=len(self.viewers),
            stream_viewers=tuple(sorted(self.viewers.items())),
        )


@pytest.fixture
async def redis_client(clean_redis: str) -> AsyncIterator[Any]:
    client = aioredis.Redis.from_url(clean_redis)
    yield client
    await client.aclose()


@contextlib.asynccontextmanager
async def placements(redis_client: Any, *loads: FakeLoad) -> AsyncIterator[list[RedisPlacement]]:
    nodes = [
        RedisPlacement(redis_client, load.node_id, load, heartbeat_s=HEARTBEAT_S, lease_s=LEASE_S) for load in loads
    ]
    for node in nodes:
        await node.start()
    try:
        yield nodes
    finally:
        for node in nodes:
            await node.close()


async def test_nodes_find_each_other_and_see_each_others_load_after_a_heartbeat(redis_client: Any) -> None:
    a, b = FakeLoad("a"), FakeLoad("b")
    async with placements(redis_client, a, b) as (pa, pb):
        assert {n.node_id for n in await pa.nodes()} == {"a", "b"}
        b.viewers["s1"] = 7

        async def a_sees_b_busy() -> bool:
            return any(n.node_id == "b" and n.viewers == 7 for n in await pa.nodes())

        assert await until(a_sees_b_busy, 6.0)
        assert pb.heartbeats >= 1


async def test_a_dead_nodes_lease_runs_out_with_the_origins_it_held(redis_client: Any) -> None:
    async with placements(redis_client, FakeLoad("a"), FakeLoad("b")) as (pa, pb):
        await pb.claim_origin("s1", worker=1)
        origin = await pa.origin("s1")
        assert origin is not None and (origin.node_id, origin.url, origin.worker) == ("b", "http://b.test", 1)

        await pb.abandon()  # b stops heartbeating without a word, as a crashed node does
        started = time.monotonic()

        async def b_gone() -> bool:
            return {n.node_id for n in await pa.nodes()} == {"a"} and await pa.origin("s1") is None

        assert await until(b_gone, 6.0)
        assert time.monotonic() - started < LEASE_S + 2.0


async def test_a_live_node_keeps_its_origin_past_many_leases(redis_client: Any) -> None:
    async with placements(redis_client, FakeLoad("a"), FakeLoad("b")) as (pa, pb):
        await pb.claim_origin("s1")
        await asyncio.sleep(LEASE_S * 3)
        origin = await pa.origin("s1")
        assert origin is not None and origin.node_id == "b"


async def test_a_publisher_reconnecting_elsewhere_takes_the_origin_over_and_the_old_node_is_told(
    redis_client: Any,
) -> None:
    async with placements(redis_client, FakeLoad("a"), FakeLoad("b")) as (pa, pb):
        lost: list[str] = []

        async def on_lost(stream_id: str) -> None:
            lost.append(stream_id)

        pa.on_origin_moved(on_lost)
        first = await pa.claim_origin("s1")
        second = await pb.claim_origin("s1")
        assert second.epoch > first.epoch

        async def a_was_told() -> bool:
            return lost == ["s1"]

        assert await until(a_was_told, 6.0)
        assert not pa.holds("s1")
        origin = await pa.origin("s1")
        assert origin is not None and origin.node_id == "b"
        await pa.release_origin("s1")  # the old holder letting go does not remove the new one's claim
        assert (await pb.origin("s1")) == second


async def test_an_end_announced_on_one_node_reaches_every_other_within_a_second(redis_client: Any) -> None:
    async with placements(redis_client, FakeLoad("a"), FakeLoad("b"), FakeLoad("c")) as (pa, pb, pc):
        heard: dict[str, list[str]] = {"a": [], "b": [], "c": []}
        for node in (pa, pb, pc):

            async def listener(stream_id: str, name: str = node.node_id) -> None:
                heard[name].append(stream_id)

            node.on_ended(listener)
        await pa.claim_origin("s1")
        started = time.monotonic()
        await pc.announce_ended("s1")

        async def all_heard() -> bool:
            return heard["a"] == ["s1"] and heard["b"] == ["s1"]

        assert await until(all_heard, 1.0)
        assert time.monotonic() - started < 1.0
        assert heard["c"] == []  # the announcing node ends its own copy itself
        assert await pb.origin("s1") is None


async def test_viewer_counts_add_up_over_live_nodes_only(redis_client: Any) -> None:
    a, b, c = FakeLoad("a"), FakeLoad("b"), FakeLoad("c")
    a.viewers["s1"], b.viewers["s1"], c.viewers["s1"] = 2, 3, 4
    async with placements(redis_client, a, b, c) as (pa, _pb, pc):
        assert await pa.stream_viewers("s1") == 9
        a.viewers["s1"] = 5  # this node's own figure is current at once
        assert await pa.stream_viewers("s1") == 12
        await pc.abandon()

        async def c_not_counted() -> bool:
            return await pa.stream_viewers("s1") == 8

        assert await until(c_not_counted, 6.0)


async def test_the_least_loaded_node_with_room_is_chosen_from_the_registry(redis_client: Any) -> None:
    a, b, c = FakeLoad("a", capacity=10), FakeLoad("b", capacity=100), FakeLoad("c", capacity=4)
    a.viewers["s1"], b.viewers["s1"], c.viewers["s1"] = 10, 40, 1
    async with placements(redis_client, a, b, c) as (pa, _pb, _pc):
        seen = await pa.nodes()
        chosen = least_loaded(seen)
        assert chosen is not None and (chosen.node_id, chosen.url) == ("c", "http://c.test"), seen
        c.viewers["s1"] = 4  # c is full now

        async def b_chosen() -> bool:
            choice = least_loaded(await pa.nodes())
            return choice is not None and choice.node_id == "b"

        assert await until(b_chosen, 6.0)


async def test_a_node_that_leaves_cleanly_is_gone_at_once(redis_client: Any) -> None:
    async with placements(redis_client, FakeLoad("a"), FakeLoad("b")) as (pa, pb):
        await pb.claim_origin("s1")
        await pb.close()
        assert {n.node_id for n in await pa.nodes()} == {"a"}
        assert await pa.origin("s1") is None
