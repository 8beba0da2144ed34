"""Every HTTP operation and socket event is authorized the way the policy table says: each request reaches
``app/policy.py`` with the action ``EDGE_ACTIONS`` (tests/unit/app/test_policy.py) maps it to. The table's mapping
test checks only that every operation and event is named; these check that the name is true, so an edge handler that
calls a domain service without a use case (no policy asked), or a use case that asks for another action, fails
here."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

import app.access
import app.policy
from app.policy import Action
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.live import live_clients
from tests.support.servers import serve_asgi
from tests.unit.app.test_policy import EDGE_ACTIONS

ADMIN_EMAIL = "admin-routes@example.com"
GARBAGE_SDP = "v=0\r\nthis is not an offer\r\n"


def _record_policy(monkeypatch: pytest.MonkeyPatch) -> list[Action]:
    """The actions the policy is asked about from now on."""
    asked: list[Action] = []
    decide = app.policy.decide

    def recording(action: Action, who: Any, room: Any = None) -> Any:
        asked.append(action)
        return decide(action, who, room)

    monkeypatch.setattr(app.policy, "decide", recording)  # every require() and RoomAccess.authorize
    monkeypatch.setattr(app.access, "decide", recording)  # RoomAccess.moderates
    return asked


@pytest.fixture
async def admin_client(db_name: str, mongo_client: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A hub (stand-in database, no Redis) whose ``ADMIN_EMAIL`` account is an admin, and a client of its API."""
    hub = Hub(make_settings(db_name, admin_emails=(ADMIN_EMAIL,)), mongo_client=mongo_client)
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False), client=("127.0.0.1", 50001))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client
    finally:
        await hub.close()


def _bodies(other: str) -> dict[str, Any]:
    """A well-formed body for each operation that takes one (what happens after the policy does not matter here)."""
    return {
        "POST /auth/register": {
            "email": f"new-{secrets.token_hex(4)}@example.com",
            "password": "correct horse",
            "nickname": "newcomer",
        },
        "POST /auth/login": {"login": ADMIN_EMAIL, "password": "correct horse"},
        "PATCH /me": {},
        "POST /admin/users/{user_id}/role": {"role": "viewer"},
        "POST /admin/users/{user_id}/suspension": {"suspended": False},
        "POST /admin/users/{user_id}/identity": {"verified": True},
        "POST /streams": {"title": "another"},
        "POST /streams/{stream_id}/moderators": {"user_id": other},
        "DELETE /streams/{stream_id}/moderators": {"user_id": other},
        "POST /streams/{stream_id}/mod-actions": {"action": "slow", "value": 5},
        "POST /streams/{stream_id}/reports": {"reason": "spam in chat"},
        "POST /streams/{stream_id}/reports/{report_id}/resolve": {},
        "POST /admin/gifts": {
            "id": "route_gift",
            "names": {"en": "Route", "ru": "Route"},
            "coins": 1,
            "beans": 0,
            "effect": {"animation": "pop", "duration_ms": 1000},
        },
        "PATCH /admin/gifts/{gift_id}": {},
        "POST /streams/{stream_id}/gifts": {"gift_id": "rose", "idempotency_key": "route-1"},
        "PUT /streams/{stream_id}/goal": {"kind": "beans", "target": 10},
        "PUT /streams/{stream_id}/transcoding": {"enabled": True},
        "POST /streams/{stream_id}/overlays/test-alert": {},
        "POST /admin/reports/{report_id}/resolve": {},
        "POST /admin/streams/{stream_id}/takedown": {"reason": "route check"},
        "POST /wallet/topups": {"pack_id": "no-such-pack"},
        "POST /wallet/cashouts": {"beans": 1},
        "POST /admin/cashouts/{cashout_id}/approve": {},
        "POST /admin/cashouts/{cashout_id}/reject": {},
        "POST /admin/wallet/adjustments": {
            "user_id": other,
            "currency": "coins",
            "amount": 1,
            "reason": "route check",
            "idempotency_key": "route-adj",
        },
        "POST /admin/users/{user_id}/wallet-freeze": {"frozen": False},
        "POST /admin/wallet/verify": {},
        "POST /notifications/read": {},
        "POST /notifications/push/subscriptions": {
            "endpoint": "https://fcm.googleapis.com/fcm/send/route",
            "keys": {"p256dh": "BAAA", "auth": "AAAAAAAAAAAAAAAAAAAAAA"},
        },
        "DELETE /notifications/push/subscriptions": {"endpoint": "https://fcm.googleapis.com/fcm/send/route"},
        "POST /channels/{user_id}/subscription": {"tier_id": "no-such-tier"},
        "POST /channels/{user_id}/subscription/tier": {"tier_id": "tier2"},
        "POST /channels/{user_id}/subscription-gifts": {
            "recipient_id": other,
            "tier_id": "no-such-tier",
            "idempotency_key": "route-sub",
        },
        "POST /streams/{stream_id}/rewards": {"kind": "request", "title": "Route", "cost": 1},
        "PATCH /streams/{stream_id}/rewards/{reward_id}": {},
        "POST /streams/{stream_id}/rewards/{reward_id}/redeem": {"idempotency_key": "route-key-1", "text": "hi"},
        "PUT /me/recording-settings": {"auto_record": False},
    }


async def test_every_http_operation_asks_the_policy_for_its_action(
    admin_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = admin_client
    admin = await register(client, "admin", email=ADMIN_EMAIL)
    other = str((await register(client, "other"))["user"]["id"])
    stream = await create_stream(client, admin, "routes")
    # A recording to read and delete: started (nobody publishes, so nothing is written) and stopped at once.
    started = await client.post(f"/api/v1/streams/{stream['id']}/recordings", headers=auth(admin))
    assert started.status_code == 201, started.text
    await client.post(f"/api/v1/streams/{stream['id']}/recordings/stop", headers=auth(admin))
    values = {
        "recording_id": started.json()["id"],
        "stream_id": stream["id"],
        "user_id": other,
        "gift_id": "route_gift",
        "topup_id": "no-such-topup",
        "cashout_id": "no-such-cashout",
        "report_id": "no-such-report",
        "session_id": "no-such-session",
        "emote_id": "no-such-emote",
        "reward_id": "no-such-reward",
        "redemption_id": "no-such-redemption",
    }

    asked = _record_policy(monkeypatch)

    bodies = _bodies(other)
    http_ops = {op: action for op, action in EDGE_ACTIONS.items() if " /" in op and action is not None}
    # Ending the stream and signing out change what later requests find: they go last.
    last = ("POST /streams/{stream_id}/end", "POST /admin/streams/{stream_id}/takedown", "POST /auth/logout")
    order = [op for op in http_ops if op not in last] + list(last)
    wrong = {}
    for op in order:
        method, template = op.split(" ", 1)
        path = "/api/v1" + template.format(**values)
        headers = auth(admin)
        content: str | None = None
        if op == "POST /auth/refresh":
            fresh = await register(client, "refresher")
            body: Any = {"refresh_token": fresh["refresh_token"]}
        elif op == "POST /auth/logout":
            headers = auth(await register(client, "leaver"))
            body = None
        else:
            body = bodies.get(op)
        if template.startswith(("/whip/", "/whep/")):
            content, body = GARBAGE_SDP, None
            headers = {"Content-Type": "application/sdp"}
            if template.startswith("/whip/"):
                mine = (await client.get(f"/api/v1/streams/{stream['id']}", headers=auth(admin))).json()
                headers["Authorization"] = f"Bearer {mine['stream_key']}"  # the key rotates above
        asked.clear()
        r = await client.request(method, path, json=body, content=content, headers=headers)
        assert r.status_code < 500, (op, r.status_code, r.text)
        if http_ops[op] not in asked:
            wrong[op] = (http_ops[op].value, [a.value for a in asked], r.status_code)
    assert wrong == {}


async def test_every_socket_event_asks_the_policy_for_its_action(
    db_name: str, mongo_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub = Hub(make_settings(db_name), mongo_client=mongo_client)
    async with (
        serve_asgi(create_app(hub)) as url,
        httpx.AsyncClient(base_url=url, timeout=20) as http,
        live_clients() as open_client,
    ):
        owner = await register(http, "owner")
        stream_id = (await create_stream(http, owner, "events"))["id"]
        client = await open_client(url, owner["access_token"])
        payloads: dict[str, Any] = {
            "stream:join": {"stream_id": stream_id},
            "chat:send": {"stream_id": stream_id, "text": "hello"},
            "like:send": {"stream_id": stream_id},
            "mod:action": {"stream_id": stream_id, "action": "slow", "value": 5},
            "report:send": {"stream_id": stream_id, "reason": "spam in chat"},
            "gift:send": {"stream_id": stream_id, "gift_id": "rose", "idempotency_key": "event-1"},
            "rtc:publish": {"stream_id": stream_id, "sdp": GARBAGE_SDP},
            "rtc:subscribe": {"stream_id": stream_id, "sdp": GARBAGE_SDP},
            "overlay:join": {},
            "pk:invite": {"stream_id": stream_id, "opponent_stream_id": stream_id},
            "pk:accept": {"stream_id": stream_id, "battle_id": "no-such-battle"},
            "pk:decline": {"stream_id": stream_id, "battle_id": "no-such-battle"},
            "pk:cancel": {"stream_id": stream_id, "battle_id": "no-such-battle"},
            "pk:quit": {"stream_id": stream_id, "battle_id": "no-such-battle"},
            "pk:match": {"stream_id": stream_id},
            "pk:match_cancel": {"stream_id": stream_id},
            "pk:state": {"stream_id": stream_id},
        }
        events = {e: a for e, a in EDGE_ACTIONS.items() if " /" not in e and a is not None}
        assert set(events) == set(payloads)
        asked = _record_policy(monkeypatch)
        wrong = {}
        for event, payload in payloads.items():  # stream:join first: the room events need a joined room
            asked.clear()
            ack = await client.call(event, payload)
            assert ack["ok"] or ack["error"]["code"] != "internal", (event, ack)
            if events[event] not in asked:
                wrong[event] = (events[event].value, [a.value for a in asked], ack)
        assert wrong == {}
