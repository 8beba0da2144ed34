"""Channel points on two hub nodes sharing one real Redis (the watch test also on a three-master Redis Cluster) and
one database: watch time is credited from the cluster-wide presence exactly once per interval across a reconnect and
a move to the other node, and concurrent redemptions sent to both nodes never overspend."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from typing import Any

import httpx

from core.clock import ManualClock
from hub.loyalty_wiring import RoomsPresence
from loyalty.earning import Earning
from loyalty.ledger import PointsLedger
from loyalty.settings import LoyaltySettings
from loyalty.verify import verify_points
from tests.support.api import auth, live_stream, register
from tests.support.live import live_clients
from tests.support.nodes import Node, hub_nodes
from tests.support.redis_cluster import SharedRedis
from tests.support.waiting import until

# The nodes' own samplers wait an hour before their first pass: the test samples by hand, on a manual clock.
NODE_SETTINGS = {"loyalty_watch_interval_s": 7200}
WATCH = LoyaltySettings(watch_interval_s=60, watch_points=2)


def earner(node: Node, clock: ManualClock) -> Earning:
    """The node's watch-time sampler as ``hub/loyalty_wiring.py`` builds it (its presence, the shared ledger),
    on a clock the test moves."""
    ledger = PointsLedger(node.hub.loyalty.store, clock, node_id=node.hub.settings.node_id)
    return Earning(ledger, clock, WATCH, RoomsPresence(node.hub.presence, node.hub.streams))


async def balance(http: httpx.AsyncClient, stream_id: str, who: dict[str, Any]) -> int:
    r = await http.get(f"/api/v1/streams/{stream_id}/rewards", headers=auth(who))
    assert r.status_code == 200, r.text
    return int(r.json()["balance"])


async def test_a_viewer_present_for_n_minutes_earns_exactly_n_intervals_across_a_reconnect_and_a_node_change(
    any_redis: SharedRedis, db_name: str, mongo_client: Any
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 10, 0, 5, tzinfo=UTC))
    async with hub_nodes(2, db_name, mongo_client, any_redis, **NODE_SETTINGS) as (n1, n2), live_clients() as open_:
        owner, fan = await register(n1.http, "Owner"), await register(n1.http, "Fan")
        stream = await live_stream(n1.http, owner)
        sid = stream["id"]
        studio = await open_(n1.url, owner["access_token"])
        await studio.ok("stream:join", {"stream_id": sid})
        e1, e2 = earner(n1, clock), earner(n2, clock)

        async def present() -> bool:
            return fan["user"]["id"] in await n1.hub.presence.viewers(sid, 100)

        async def sample_both(times: int = 2) -> None:
            for _ in range(times):  # both nodes at once, twice per interval, as their loops do
                await asyncio.gather(e1.sample_once(), e2.sample_once())

        fan_id = fan["user"]["id"]
        on_1 = await open_(n1.url, fan["access_token"])
        await on_1.ok("stream:join", {"stream_id": sid})
        await sample_both()  # interval 0 (10:00:05)
        clock.advance(60)
        await sample_both()  # interval 1
        clock.advance(20)
        await on_1.close()  # a reconnect, still in interval 1
        again = await open_(n1.url, fan["access_token"])
        await again.ok("stream:join", {"stream_id": sid})
        assert await until(present, 5)
        await sample_both()
        clock.advance(40)  # interval 2: the viewer moves to the other node
        on_2 = await open_(n2.url, fan["access_token"])
        await on_2.ok("stream:join", {"stream_id": sid})
        await sample_both()
        await again.close()
        assert await until(lambda: fan_id not in n1.hub.presence.local_viewers(sid), 5)
        await sample_both()
        clock.advance(60)  # interval 3, on node 2 only
        await sample_both()
        clock.advance(60)  # interval 4
        await sample_both()
        assert await balance(n2.http, sid, fan) == 5 * WATCH.watch_points
        clock.advance(60)  # interval 5: gone
        await on_2.close()
        assert await until(lambda: _absent(n2, sid, fan_id), 5)
        await sample_both()
        assert await balance(n1.http, sid, fan) == 5 * WATCH.watch_points
        assert await balance(n1.http, sid, owner) == 0  # the streamer earns nothing in their own channel
        report = await verify_points(n1.hub.loyalty.store)
        assert report.ok, report.problems


async def _absent(node: Node, sid: str, user_id: str) -> bool:
    return user_id not in node.hub.presence.local_viewers(sid) and user_id not in await node.hub.presence.viewers(
        sid, 100
    )


async def test_concurrent_redemptions_on_two_nodes_never_overspend(
    clean_redis: str, db_name: str, mongo_client: Any
) -> None:
    async with hub_nodes(2, db_name, mongo_client, clean_redis, **NODE_SETTINGS) as (n1, n2):
        owner, fan = await register(n1.http, "Owner"), await register(n2.http, "Fan")
        stream = await live_stream(n1.http, owner)
        sid = stream["id"]
        r = await n2.http.post(f"/api/v1/users/{owner['user']['id']}/follow", headers=auth(fan))
        assert r.status_code < 300  # 50 points
        r = await n1.http.post(
            f"/api/v1/streams/{sid}/rewards", json={"kind": "request", "title": "Hug", "cost": 15}, headers=auth(owner)
        )
        reward = r.json()

        async def redeem(node: Node, i: int) -> int:
            r = await node.http.post(
                f"/api/v1/streams/{sid}/rewards/{reward['id']}/redeem",
                json={"idempotency_key": f"k-{i:03d}-{secrets.token_hex(4)}", "text": "hug"},
                headers=auth(fan),
            )
            return r.status_code

        codes = await asyncio.gather(*(redeem(n1 if i % 2 else n2, i) for i in range(24)))
        assert sorted(codes).count(200) == 3 and sorted(codes).count(409) == 21, codes
        assert await balance(n1.http, sid, fan) == 5
        queue = (await n2.http.get(f"/api/v1/streams/{sid}/redemptions", headers=auth(owner))).json()["items"]
        assert len(queue) == 3
        report = await verify_points(n1.hub.loyalty.store)
        assert report.ok and report.totals["points_redeemed"] == 45, report.problems
