"""PK battles end to end over real Socket.IO clients, two hub nodes and a real redis-server: invitations, the
countdown, live scores from both audiences, the result from the ledger, and the rules (who may battle, leaving)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, live_stream, register
from tests.support.coins import give_coins, verify_at_rest
from tests.support.live import LiveClient, live_clients
from tests.support.servers import serve_asgi
from wallet.models import TransferKind

ADMIN_EMAIL = "pk-admin@example.com"


def settings_for(db_name: str, **overrides: Any) -> Any:
    base = {
        "gift_burst": 1000,
        "gift_per_second": 1000.0,
        "admin_emails": (ADMIN_EMAIL,),
        "pk_duration_s": 3,
        "pk_after_s": 1,
        "pk_poll_s": 0.2,
    }
    return make_settings(db_name, **(base | overrides))


@contextlib.asynccontextmanager
async def nodes(
    db_name: str, mongo_client: Any, redis_url: str | None, count: int = 2, **overrides: Any
) -> AsyncIterator[list[tuple[str, httpx.AsyncClient, Hub]]]:
    async with contextlib.AsyncExitStack() as stack:
        out = []
        for i in range(count):
            hub = Hub(
                settings_for(db_name, redis_url=redis_url, node_id=f"pk-node-{i}", **overrides),
                mongo_client=mongo_client,
            )
            url = await stack.enter_async_context(serve_asgi(create_app(hub)))
            http = await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=20))
            out.append((url, http, hub))
        yield out
    await mongo_client.drop_database(db_name)


def pk_events(client: LiveClient, stream_id: str) -> list[tuple[str, dict[str, Any]]]:
    return [(e, d) for e, d in client.events if e.startswith("pk:") and d.get("stream_id") == stream_id]


async def ledger_beans(hub: Hub, battle_id: str) -> dict[str, int]:
    rows = await hub.wallet.totals_by(TransferKind.GIFT, {"battle_id": battle_id}, "battle_side", "beans", 2)
    return {side: total for side, total, _ in rows}


async def test_a_battle_across_two_nodes_counts_both_audiences_gifts_once_and_the_ledger_decides(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with (
        nodes(db_name, mongo_client, clean_redis) as [(url_a, http_a, hub_a), (url_b, http_b, hub_b)],
        live_clients() as open_client,
    ):
        ann, bob = await register(http_a, "Ann"), await register(http_b, "Bob")
        fan_a, fan_b = await register(http_a, "FanA"), await register(http_b, "FanB")
        stream_a, stream_b = await live_stream(http_a, ann), await live_stream(http_b, bob)
        await give_coins(http_a, hub_a, fan_a["user"]["id"], 500)
        await give_coins(http_b, hub_b, fan_b["user"]["id"], 500)
        studio_a = await open_client(url_a, ann["access_token"])
        studio_b = await open_client(url_b, bob["access_token"])
        await studio_a.ok("stream:join", {"stream_id": stream_a["id"]})
        await studio_b.ok("stream:join", {"stream_id": stream_b["id"]})
        # Viewers of each room on both nodes (the gifting fans among them).
        sock_fan_a = await open_client(url_a, fan_a["access_token"])
        sock_fan_b = await open_client(url_b, fan_b["access_token"])
        await sock_fan_a.ok("stream:join", {"stream_id": stream_a["id"]})
        await sock_fan_b.ok("stream:join", {"stream_id": stream_b["id"]})
        guest_a_on_b = await open_client(url_b)
        guest_b_on_a = await open_client(url_a)
        await guest_a_on_b.ok("stream:join", {"stream_id": stream_a["id"]})
        await guest_b_on_a.ok("stream:join", {"stream_id": stream_b["id"]})
        room_a = [(studio_a, stream_a["id"]), (sock_fan_a, stream_a["id"]), (guest_a_on_b, stream_a["id"])]
        room_b = [(studio_b, stream_b["id"]), (sock_fan_b, stream_b["id"]), (guest_b_on_a, stream_b["id"])]
        everyone = room_a + room_b

        invited = await studio_a.ok("pk:invite", {"stream_id": stream_a["id"], "opponent_stream_id": stream_b["id"]})
        battle_id = invited["battle"]["id"]
        assert invited["battle"]["state"] == "invited" and invited["battle"]["b"]["stream_id"] == stream_b["id"]
        await studio_b.wait_event("pk:invited", where=lambda d: d["battle"]["id"] == battle_id)
        started = await studio_b.ok("pk:accept", {"stream_id": stream_b["id"], "battle_id": battle_id})
        assert started["battle"]["state"] == "live" and 0 < started["battle"]["remaining_ms"] <= 3000
        for client, _ in everyone:
            await client.wait_event("pk:started", where=lambda d: d["battle"]["id"] == battle_id)

        # Gifts from both audiences, each on its own node; one retried (same key) from the other node.
        heart = {"stream_id": stream_a["id"], "gift_id": "heart", "count": 2, "idempotency_key": "a-1"}
        acks = [await sock_fan_a.ok("gift:send", heart)]
        retry_sock = await open_client(url_b, fan_a["access_token"])
        assert (await retry_sock.ok("gift:send", heart))["transfer_id"] == acks[0]["transfer_id"]
        acks.append(await sock_fan_a.ok("gift:send", {**heart, "idempotency_key": "a-2", "count": 1}))
        for i in range(3):
            body = {"stream_id": stream_b["id"], "gift_id": "ice_cream", "idempotency_key": f"b-{i}"}
            acks.append(await sock_fan_b.ok("gift:send", body))
        r = await http_a.post(
            f"/api/v1/streams/{stream_b['id']}/gifts",
            json={"gift_id": "rose", "idempotency_key": "b-http"},
            headers=auth(fan_b),
        )
        assert r.status_code == 200, r.text
        ledger = await ledger_beans(hub_a, battle_id)
        # heart: 50 beans of value, 80 % to the streamer = 40 per heart; ice cream 100 → 80; rose 10 → 8.
        assert ledger == {"a": 3 * 40, "b": 3 * 80 + 8}

        def scores_seen(client: LiveClient, stream_id: str) -> Any:
            events = [d["battle"] for e, d in pk_events(client, stream_id) if e == "pk:score"]
            best = max(events, key=lambda b: b["version"], default=None)
            return best is not None and (best["a"]["score"], best["b"]["score"]) == (ledger["a"], ledger["b"])

        for client, stream_id in everyone:
            await client.wait_for(lambda c=client, s=stream_id: scores_seen(c, s))

        ended = [await c.wait_event("pk:ended", timeout=8) for c, _ in everyone]
        results = {
            (d["battle"]["a"]["score"], d["battle"]["b"]["score"], d["battle"]["result"]["winner"]) for d in ended
        }
        assert results == {(ledger["a"], ledger["b"], "b")}, results
        assert ended[0]["battle"]["result"]["winner_stream_id"] == stream_b["id"]
        assert ended[0]["battle"]["result"]["reason"] == "time"
        for client, stream_id in everyone:
            await client.wait_event("pk:closed", timeout=5)
            names = [e for e, _ in pk_events(client, stream_id)]
            # In order on every node: started before any score, the end after every score, closed last.
            assert names.index("pk:started") < names.index("pk:ended") < names.index("pk:closed")
            assert all(i < names.index("pk:ended") for i, n in enumerate(names) if n == "pk:score")
        # Battle is over: a later gift counts for nobody; the streamers are free again.
        late = await sock_fan_a.ok("gift:send", {**heart, "idempotency_key": "a-late"})
        assert late["ok"] and await ledger_beans(hub_b, battle_id) == ledger
        assert (await studio_a.ok("pk:state", {"stream_id": stream_a["id"]}))["battle"] is None
        assert (await verify_at_rest(hub_a)).ok and (await verify_at_rest(hub_b)).ok


async def test_a_node_that_stops_mid_battle_loses_no_gift_and_another_node_ends_it_on_time(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    """The live score is only a projection: lost (as a crash between a gift's apply and its count would leave it)
    and the starting node gone, the battle still ends at its stored deadline on the other node, with the scores
    summed from the ledger; a gift applied and relayed twice counts once."""
    async with (
        nodes(db_name, mongo_client, clean_redis, pk_duration_s=4) as [(url_a, http_a, hub_a), (url_b, _, hub_b)],
        live_clients() as open_client,
    ):
        ann, bob, fan = await register(http_a, "Ann"), await register(http_a, "Bob"), await register(http_a, "Fan")
        stream_a, stream_b = await live_stream(http_a, ann), await live_stream(http_a, bob)
        await give_coins(http_a, hub_a, fan["user"]["id"], 500)
        studio_a, studio_b = (
            await open_client(url_a, ann["access_token"]),
            await open_client(url_a, bob["access_token"]),
        )
        watcher = await open_client(url_b)
        await watcher.ok("stream:join", {"stream_id": stream_a["id"]})
        battle = (await studio_a.ok("pk:invite", {"stream_id": stream_a["id"], "opponent_stream_id": stream_b["id"]}))[
            "battle"
        ]
        await studio_b.ok("pk:accept", {"stream_id": stream_b["id"], "battle_id": battle["id"]})
        sock = await open_client(url_a, fan["access_token"])
        for i in range(4):
            await sock.ok("gift:send", {"stream_id": stream_a["id"], "gift_id": "heart", "idempotency_key": f"k{i}"})
        ack = await sock.ok("gift:send", {"stream_id": stream_b["id"], "gift_id": "rose", "idempotency_key": "kb"})
        # The outbox relay and the apply both tell the battle of the same transfer, and again after a "restart".
        await hub_b.battles.service.count(ack["transfer_id"], battle["id"], "b", 8)
        await hub_b.battles.service.count(ack["transfer_id"], battle["id"], "b", 8)
        await hub_a.battles.service.scores_added()
        await hub_b.battles.service.scores_added()
        stored = await hub_b.battles.service.get(battle["id"])
        assert (stored.a.score, stored.b.score) == (4 * 40, 8)
        await hub_a.db["pk_battles"].update_one({"_id": battle["id"]}, {"$set": {"score_a": 0, "score_b": 0}})
        await hub_a.close()  # its timer loop is gone; node b holds only the stored deadline
        ended = await watcher.wait_event("pk:ended", timeout=10)
        assert (ended["battle"]["a"]["score"], ended["battle"]["b"]["score"]) == (160, 8)
        assert ended["battle"]["result"]["winner"] == "a"
        assert await ledger_beans(hub_b, battle["id"]) == {"a": 160, "b": 8}


async def test_who_may_battle_live_streamers_only_not_banned_by_the_other_and_one_battle_at_a_time(
    db_name: str, mongo_client: Any
) -> None:
    async with (
        nodes(db_name, mongo_client, None, count=1, pk_invite_ttl_s=1) as [(url, http, _)],
        live_clients() as open_client,
    ):
        ann, bob, cid, dan = [await register(http, n) for n in ("Ann", "Bob", "Cid", "Dan")]
        s_ann, s_bob, s_dan = [await live_stream(http, p) for p in (ann, bob, dan)]
        s_cid = (await http.post("/api/v1/streams", json={"title": "later"}, headers=auth(cid))).json()
        a, b, d = [await open_client(url, p["access_token"]) for p in (ann, bob, dan)]
        guest = await open_client(url)

        def invite(stream: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
            return {"stream_id": stream["id"], "opponent_stream_id": other["id"]}

        assert (await guest.error("pk:invite", invite(s_ann, s_bob)))["code"] == "unauthenticated"
        assert (await b.error("pk:invite", invite(s_ann, s_dan)))["code"] == "not_owner"
        assert (await a.error("pk:invite", invite(s_ann, s_cid)))["code"] == "streamer_not_live"
        assert (await a.error("pk:invite", invite(s_ann, s_ann)))["code"] == "self_battle"
        battle = (await a.ok("pk:invite", invite(s_ann, s_bob)))["battle"]
        assert (await d.error("pk:invite", invite(s_dan, s_bob)))["code"] == "streamer_busy"
        assert (await d.error("pk:invite", invite(s_dan, s_ann)))["code"] == "streamer_busy"
        assert (await a.error("pk:invite", invite(s_ann, s_dan)))["code"] == "streamer_busy"
        on_battle = {"stream_id": s_ann["id"], "battle_id": battle["id"]}
        assert (await a.error("pk:accept", on_battle))["code"] == "not_in_battle"  # only the invited side answers
        outsider = {"stream_id": s_dan["id"], "battle_id": battle["id"]}
        assert (await d.error("pk:accept", outsider))["code"] == "not_in_battle"
        declined = await b.ok("pk:decline", {"stream_id": s_bob["id"], "battle_id": battle["id"]})
        assert declined["battle"]["state"] == "declined"
        # Free again: Ann invites Dan, the invitation is not answered and expires; Bob cannot accept it late.
        late = (await a.ok("pk:invite", invite(s_ann, s_dan)))["battle"]
        watcher = await open_client(url)
        await watcher.ok("stream:join", {"stream_id": s_dan["id"]})
        await watcher.wait_event("pk:expired", timeout=5)
        assert (await d.error("pk:accept", {"stream_id": s_dan["id"], "battle_id": late["id"]}))[
            "code"
        ] == "battle_state"
        # Dan bans Ann in his channel: no battle between them either way.
        r = await http.post(
            f"/api/v1/streams/{s_dan['id']}/mod-actions",
            json={"action": "ban", "target_user_id": ann["user"]["id"]},
            headers=auth(dan),
        )
        assert r.status_code < 300, r.text
        assert (await a.error("pk:invite", invite(s_ann, s_dan)))["code"] == "battle_not_allowed"
        assert (await d.error("pk:invite", invite(s_dan, s_ann)))["code"] == "battle_not_allowed"
        # An invitation can be withdrawn by the inviter only.
        third = (await a.ok("pk:invite", invite(s_ann, s_bob)))["battle"]
        assert (await b.error("pk:cancel", {"stream_id": s_bob["id"], "battle_id": third["id"]}))[
            "code"
        ] == "not_in_battle"
        cancelled = await a.ok("pk:cancel", {"stream_id": s_ann["id"], "battle_id": third["id"]})
        assert cancelled["battle"]["state"] == "cancelled"


async def test_the_side_that_quits_or_ends_its_stream_loses_and_both_rooms_are_told(
    db_name: str, mongo_client: Any
) -> None:
    async with (
        nodes(db_name, mongo_client, None, count=1, pk_duration_s=60) as [(url, http, hub)],
        live_clients() as open_client,
    ):
        ann, bob, dan, fan = [await register(http, n) for n in ("Ann", "Bob", "Dan", "Fan")]
        s_ann, s_bob, s_dan = [await live_stream(http, p) for p in (ann, bob, dan)]
        a, b, d = [await open_client(url, p["access_token"]) for p in (ann, bob, dan)]
        viewer = await open_client(url)
        await viewer.ok("stream:join", {"stream_id": s_ann["id"]})
        await give_coins(http, hub, fan["user"]["id"], 100)
        sock = await open_client(url, fan["access_token"])

        battle = (await a.ok("pk:invite", {"stream_id": s_ann["id"], "opponent_stream_id": s_bob["id"]}))["battle"]
        await b.ok("pk:accept", {"stream_id": s_bob["id"], "battle_id": battle["id"]})
        await sock.ok("gift:send", {"stream_id": s_bob["id"], "gift_id": "ice_cream", "idempotency_key": "x1"})
        # Bob leads, then ends his stream: he loses all the same.
        r = await http.post(f"/api/v1/streams/{s_bob['id']}/end", headers=auth(bob))
        assert r.status_code == 200, r.text
        ended = await viewer.wait_event("pk:ended", where=lambda d: d["battle"]["id"] == battle["id"])
        result = ended["battle"]["result"]
        assert (result["winner"], result["reason"], result["by"]) == ("a", "stream_ended", "b")
        assert ended["battle"]["b"]["score"] == 80

        # Ann may leave the after-period at once, then battle Dan, who quits: Ann wins.
        await a.ok("pk:quit", {"stream_id": s_ann["id"], "battle_id": battle["id"]})
        await viewer.wait_event("pk:closed", where=lambda d: d["battle"]["id"] == battle["id"])
        second = (await d.ok("pk:invite", {"stream_id": s_dan["id"], "opponent_stream_id": s_ann["id"]}))["battle"]
        await a.ok("pk:accept", {"stream_id": s_ann["id"], "battle_id": second["id"]})
        quit_ack = await d.ok("pk:quit", {"stream_id": s_dan["id"], "battle_id": second["id"]})
        result = quit_ack["battle"]["result"]
        assert (result["winner"], result["reason"], result["by"]) == ("b", "quit", "a")
        await viewer.wait_event("pk:ended", where=lambda d: d["battle"]["id"] == second["id"])


async def test_two_streamers_asking_for_a_random_opponent_are_matched_and_battle_at_once(
    db_name: str, mongo_client: Any, clean_redis: str
) -> None:
    async with (
        nodes(db_name, mongo_client, clean_redis) as [(url_a, http_a, _), (url_b, http_b, _)],
        live_clients() as open_client,
    ):
        ann, bob = await register(http_a, "Ann"), await register(http_b, "Bob")
        s_ann, s_bob = await live_stream(http_a, ann), await live_stream(http_b, bob)
        a, b = await open_client(url_a, ann["access_token"]), await open_client(url_b, bob["access_token"])
        viewer = await open_client(url_b)
        await viewer.ok("stream:join", {"stream_id": s_ann["id"]})
        first = await a.ok("pk:match", {"stream_id": s_ann["id"]})
        assert first == {"ok": True, "battle": None, "queued": True}
        second = await b.ok("pk:match", {"stream_id": s_bob["id"]})
        assert second["queued"] is False and second["battle"]["state"] == "live"
        assert second["battle"]["mode"] == "random"
        assert {second["battle"]["a"]["stream_id"], second["battle"]["b"]["stream_id"]} == {
            s_ann["id"],
            s_bob["id"],
        }
        started = await viewer.wait_event("pk:started")
        assert started["battle"]["id"] == second["battle"]["id"]
        state = await viewer.ok("pk:state", {"stream_id": s_ann["id"]})
        assert state["battle"]["id"] == second["battle"]["id"]


async def test_a_streamer_suspended_mid_battle_loses_it_and_may_not_battle_again_while_suspended(
    db_name: str, mongo_client: Any
) -> None:
    async with (
        nodes(db_name, mongo_client, None, count=1, pk_duration_s=60) as [(url, http, _)],
        live_clients() as open_client,
    ):
        admin = await register(http, "Admin", email=ADMIN_EMAIL)
        ann, bob = await register(http, "Ann"), await register(http, "Bob")
        s_ann, s_bob = await live_stream(http, ann), await live_stream(http, bob)
        a, b = await open_client(url, ann["access_token"]), await open_client(url, bob["access_token"])
        viewer = await open_client(url)
        await viewer.ok("stream:join", {"stream_id": s_ann["id"]})
        battle = (await a.ok("pk:invite", {"stream_id": s_ann["id"], "opponent_stream_id": s_bob["id"]}))["battle"]
        await b.ok("pk:accept", {"stream_id": s_bob["id"], "battle_id": battle["id"]})
        r = await http.post(
            f"/api/v1/admin/users/{bob['user']['id']}/suspension", json={"suspended": True}, headers=auth(admin)
        )
        assert r.status_code == 200, r.text
        ended = await viewer.wait_event("pk:ended")
        result = ended["battle"]["result"]
        assert (result["winner"], result["reason"], result["by"]) == ("a", "stream_ended", "b")
        # Bob's stream ended with his suspension; a new one of his cannot battle (nor go live) while suspended.
        assert (await a.error("pk:invite", {"stream_id": s_ann["id"], "opponent_stream_id": s_bob["id"]}))[
            "code"
        ] == "streamer_not_live"
        refused = await b.call("pk:match", {"stream_id": s_bob["id"]})  # his open socket was signed out
        assert refused["ok"] is False, refused
