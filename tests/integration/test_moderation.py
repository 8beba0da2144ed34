"""Every moderation action and its permission check, over Socket.IO and the HTTP API (one node)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accounts.models import Role
from core.ids import UserId
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.live import LiveClient, live_clients
from tests.support.servers import serve_asgi

ADMIN_EMAIL = "admin@example.com"


class Room:
    def __init__(self, url: str, http: httpx.AsyncClient, hub: Hub, open_client: Any) -> None:
        self.url, self.http, self.hub, self._open = url, http, hub, open_client
        self.stream: dict[str, Any] = {}
        self.people: dict[str, dict[str, Any]] = {}
        self.clients: dict[str, LiveClient] = {}

    @property
    def sid(self) -> str:
        return str(self.stream["id"])

    def uid(self, name: str) -> str:
        return str(self.people[name]["user"]["id"])

    async def act(self, who: str, action: str, **fields: Any) -> dict[str, Any]:
        return dict(await self.clients[who].call("mod:action", {"stream_id": self.sid, "action": action, **fields}))

    async def say(self, who: str, text: str) -> dict[str, Any]:
        return dict(await self.clients[who].call("chat:send", {"stream_id": self.sid, "text": text}))


@pytest.fixture
async def room(db_name: str, mongo_client: Any) -> AsyncIterator[Room]:
    settings = make_settings(
        db_name, chat_burst=100, chat_per_second=100.0, admin_emails=(ADMIN_EMAIL,), viewers_interval_s=5.0
    )
    hub = Hub(settings, mongo_client=mongo_client)
    async with (
        serve_asgi(create_app(hub)) as url,
        httpx.AsyncClient(base_url=url) as http,
        live_clients() as open_client,
    ):
        r = Room(url, http, hub, open_client)
        r.people["owner"] = await register(http, "Owner")
        r.people["admin"] = await register(http, "Admin", email=ADMIN_EMAIL)
        for name in ("mod", "mod2", "staff", "viewer", "viewer2"):
            r.people[name] = await register(http, name.capitalize())
        r.stream = await create_stream(http, r.people["owner"])
        for name in ("mod", "mod2"):
            resp = await http.post(
                f"/api/v1/streams/{r.sid}/moderators", json={"user_id": r.uid(name)}, headers=auth(r.people["owner"])
            )
            assert resp.status_code == 200
        await hub.accounts.set_role(UserId(r.uid("staff")), Role.MODERATOR)
        for name, session in r.people.items():
            if name == "staff":  # a fresh token carries the new role
                login = await http.post(
                    "/api/v1/auth/login", json={"login": session["email"], "password": "correct horse"}
                )
                session["access_token"] = login.json()["access_token"]
            client = await open_client(url, session["access_token"])
            await client.ok("stream:join", {"stream_id": r.sid})
            r.clients[name] = client
        yield r
    await mongo_client.drop_database(db_name)


async def test_roles_are_reported_on_join(room: Room) -> None:
    roles = {}
    for name, client in room.clients.items():
        roles[name] = (await client.ok("stream:join", {"stream_id": room.sid}))["role"]
    assert roles == {
        "owner": "owner",
        "admin": "admin",
        "mod": "moderator",
        "mod2": "moderator",
        "staff": "staff",
        "viewer": "viewer",
        "viewer2": "viewer",
    }


async def test_viewers_cannot_moderate(room: Room) -> None:
    for action, extra in (
        ("delete", {"message_id": "x"}),
        ("timeout", {"target_user_id": room.uid("viewer2"), "duration_s": 60}),
        ("ban", {"target_user_id": room.uid("viewer2")}),
        ("slow", {"value": 5}),
        ("clear", {}),
        ("end_stream", {}),
    ):
        ack = await room.act("viewer", action, **extra)
        assert ack["error"]["code"] == "forbidden", (action, ack)


async def test_delete_removes_a_message_everywhere_but_not_a_stronger_roles(room: Room) -> None:
    sent = await room.say("viewer", "delete me")
    kept = await room.say("owner", "owner speaks")
    ack = await room.act("mod", "delete", message_id=sent["message"]["id"])
    assert ack["ok"], ack
    deleted = await room.clients["viewer2"].wait_event("chat:deleted")
    assert deleted == {"stream_id": room.sid, "message_id": sent["message"]["id"]}
    join = await room.clients["viewer2"].ok("stream:join", {"stream_id": room.sid})
    assert [m["text"] for m in join["recent_chat"]] == ["owner speaks"]
    assert (await room.act("mod", "delete", message_id=kept["message"]["id"]))["error"]["code"] == "target_protected"
    assert (await room.act("mod", "delete", message_id="missing"))["error"]["code"] == "message_not_found"
    history = await room.http.get(f"/api/v1/streams/{room.sid}/chat")
    assert [m["text"] for m in history.json()["items"]] == ["owner speaks"]
    full = await room.http.get(
        f"/api/v1/streams/{room.sid}/chat?include_removed=true", headers=auth(room.people["mod"])
    )
    assert [m["deleted"] for m in full.json()["items"]] == [False, True]
    refused = await room.http.get(
        f"/api/v1/streams/{room.sid}/chat?include_removed=true", headers=auth(room.people["viewer"])
    )
    assert refused.status_code == 403


async def test_timeout_bounds_target_protection_and_effect(room: Room) -> None:
    target = room.uid("viewer")
    for bad in (0, 14 * 24 * 3600 + 1, None):
        ack = await room.act("mod", "timeout", target_user_id=target, duration_s=bad)
        assert ack["error"]["code"] == "invalid_input", (bad, ack)
    assert (await room.act("mod", "timeout", target_user_id=room.uid("mod2"), duration_s=60))["error"][
        "code"
    ] == "target_protected"
    assert (await room.act("mod", "timeout", target_user_id=room.uid("owner"), duration_s=60))["error"][
        "code"
    ] == "target_protected"
    assert (await room.act("owner", "timeout", target_user_id=room.uid("staff"), duration_s=60))["error"][
        "code"
    ] == "target_protected"
    assert (await room.act("mod", "timeout", target_user_id=room.uid("mod"), duration_s=60))["error"][
        "code"
    ] == "invalid_input"
    ack = await room.act("mod", "timeout", target_user_id=target, duration_s=600, reason="calm down")
    assert ack["ok"] and ack["restriction"]["kind"] == "timeout"
    pushed = await room.clients["viewer"].wait_event("you:restricted")
    assert pushed["kind"] == "timeout" and pushed["until"] is not None and pushed["reason"] == "calm down"
    assert (await room.say("viewer", "hi"))["error"]["code"] == "restricted"
    # The owner may time out a room moderator; staff may time out the owner.
    assert (await room.act("owner", "timeout", target_user_id=room.uid("mod2"), duration_s=1))["ok"]
    assert (await room.act("staff", "timeout", target_user_id=room.uid("owner"), duration_s=1))["ok"]


async def test_ban_and_unban(room: Room) -> None:
    target = room.uid("viewer")
    assert (await room.act("mod", "unban", target_user_id=target))["error"]["code"] == "not_restricted"
    assert (await room.act("mod", "ban", target_user_id=target))["ok"]
    assert (await room.say("viewer", "hi"))["error"]["code"] == "restricted"
    listed = await room.http.get(f"/api/v1/streams/{room.sid}/restrictions", headers=auth(room.people["mod"]))
    assert [r["user_id"] for r in listed.json()["items"]] == [target]
    assert (await room.act("mod", "unban", target_user_id=target))["ok"]
    lifted = await room.clients["viewer"].wait_event("you:restricted", where=lambda d: d["kind"] == "none")
    assert lifted["until"] is None
    assert (await room.say("viewer", "hi again"))["ok"]


async def test_slow_mode_bounds_and_effect_moderators_exempt(room: Room) -> None:
    for bad in (2, 121, "5", True):
        assert (await room.act("mod", "slow", value=bad))["error"]["code"] == "invalid_input", bad
    assert (await room.act("mod", "slow", value=3))["ok"]
    settings = await room.clients["viewer"].wait_event("room:settings")
    assert settings["slow_s"] == 3
    assert (await room.say("viewer", "one"))["ok"]
    err = (await room.say("viewer", "two"))["error"]
    assert err["code"] == "slow_mode" and err["retry_after_s"] > 0
    assert (await room.say("mod", "a"))["ok"] and (await room.say("mod", "b"))["ok"]
    assert (await room.act("mod", "slow", value=0))["ok"]
    assert (await room.say("viewer", "three"))["ok"]


async def test_followers_only_with_minimum_follow_age(room: Room) -> None:
    assert (await room.act("mod", "followers_only", value=-1))["error"]["code"] == "invalid_input"
    assert (await room.act("mod", "followers_only", value=0))["ok"]
    assert (await room.say("viewer", "hi"))["error"]["code"] == "followers_only"
    r = await room.http.post(f"/api/v1/users/{room.uid('owner')}/follow", headers=auth(room.people["viewer"]))
    assert r.status_code in (200, 201, 204), r.text
    assert (await room.say("viewer", "now I follow"))["ok"]
    assert (await room.act("mod", "followers_only", value=3600))["ok"]
    assert (await room.say("viewer", "too fresh"))["error"]["code"] == "followers_only"
    assert (await room.act("mod", "followers_only", value=None))["ok"]
    assert (await room.say("viewer2", "anyone"))["ok"]


async def test_clear_empties_the_chat(room: Room) -> None:
    await room.say("viewer", "a")
    await room.say("viewer2", "b")
    assert (await room.act("mod", "clear"))["ok"]
    assert await room.clients["viewer"].wait_event("chat:cleared") == {"stream_id": room.sid}
    join = await room.clients["viewer"].ok("stream:join", {"stream_id": room.sid})
    assert join["recent_chat"] == []


async def test_blocked_terms_with_wildcards(room: Room) -> None:
    assert (await room.act("mod", "block_term", value="b*d"))["error"]["code"] == "invalid_input"
    assert (await room.act("mod", "block_term", value="bad*"))["ok"]
    assert (await room.act("mod", "block_term", value="*spam"))["ok"]
    assert (await room.say("viewer", "this is BADLY done"))["error"]["code"] == "blocked_term"
    assert (await room.say("viewer", "eggspam!"))["error"]["code"] == "blocked_term"
    assert (await room.say("viewer", "a bard, not spammy"))["ok"]  # neither "bad*" nor "*spam" matches
    assert (await room.act("mod", "unblock_term", value="bad*"))["ok"]
    assert (await room.say("viewer", "this is badly done"))["ok"]
    settings = await room.http.get(f"/api/v1/streams/{room.sid}/room-settings", headers=auth(room.people["mod"]))
    assert settings.json()["blocked_terms"] == ["*spam"]


async def test_shield_mode_switches_a_preset_on_and_off(room: Room) -> None:
    preset = {"slow_s": 5, "followers_only_min_s": None, "min_account_age_s": 0}
    assert (await room.act("mod", "shield", value={"enabled": True, "preset": preset}))["ok"]
    settings = await room.clients["viewer"].wait_event("room:settings", where=lambda d: d["shield"])
    assert settings["slow_s"] == 5
    assert (await room.say("viewer", "one"))["ok"]
    assert (await room.say("viewer", "two"))["error"]["code"] == "slow_mode"
    assert (await room.act("mod", "shield", value=False))["ok"]
    off = await room.clients["viewer"].wait_event("room:settings", where=lambda d: not d["shield"])
    assert off["slow_s"] == 0
    assert (await room.say("viewer", "three"))["ok"]
    # Switching shield on again applies the saved preset in one action.
    assert (await room.act("mod", "shield", value=True))["ok"]
    assert (await room.say("viewer2", "one"))["ok"]
    assert (await room.say("viewer2", "two"))["error"]["code"] == "slow_mode"


async def test_the_default_shield_preset_keeps_brand_new_accounts_out(room: Room) -> None:
    assert (await room.act("mod", "shield", value=True))["ok"]
    assert (await room.say("viewer", "new here"))["error"]["code"] == "account_too_new"
    assert (await room.say("mod", "moderators are exempt"))["ok"]


async def test_end_stream_is_for_the_owner_and_admins(room: Room) -> None:
    assert (await room.act("mod", "end_stream"))["error"]["code"] == "forbidden"
    assert (await room.act("staff", "end_stream"))["error"]["code"] == "forbidden"
    ack = await room.act("admin", "end_stream", reason="terms of service")
    assert ack["ok"] and ack["stream"]["status"] == "ended"
    ended = await room.clients["viewer"].wait_event("stream:ended")
    assert ended == {"stream_id": room.sid, "reason": "ended_by_staff"}


async def test_modlog_is_append_only_and_for_moderators(room: Room) -> None:
    await room.act("mod", "slow", value=10)
    await room.act("owner", "ban", target_user_id=room.uid("viewer"), reason="spam")
    event = await room.clients["mod2"].wait_event("mod:event", where=lambda d: d["entry"]["action"] == "ban")
    assert event["entry"]["reason"] == "spam"
    r = await room.http.get(f"/api/v1/streams/{room.sid}/modlog", headers=auth(room.people["mod2"]))
    items = r.json()["items"]
    assert [(e["action"], e["actor_id"]) for e in items] == [("ban", room.uid("owner")), ("slow", room.uid("mod"))]
    r = await room.http.get(f"/api/v1/streams/{room.sid}/modlog?limit=1", headers=auth(room.people["mod2"]))
    nxt = await room.http.get(
        f"/api/v1/streams/{room.sid}/modlog?limit=1&cursor={r.json()['next_cursor']}", headers=auth(room.people["mod2"])
    )
    assert nxt.json()["items"][0]["action"] == "slow" and nxt.json()["next_cursor"] is None
    for who, status in (("viewer2", 403), (None, 401)):
        headers = auth(room.people[who]) if who else {}
        assert (await room.http.get(f"/api/v1/streams/{room.sid}/modlog", headers=headers)).status_code == status


async def test_reports_queue_for_moderators(room: Room) -> None:
    sent = await room.say("viewer", "nasty")
    ack = await room.clients["viewer2"].ok(
        "report:send", {"stream_id": room.sid, "message_id": sent["message"]["id"], "reason": "harassment"}
    )
    event = await room.clients["mod"].wait_event("mod:event", where=lambda d: d["type"] == "report")
    assert event["report"]["id"] == ack["report_id"]
    r = await room.http.get(f"/api/v1/streams/{room.sid}/reports", headers=auth(room.people["mod"]))
    assert [x["reason"] for x in r.json()["items"]] == ["harassment"]
    assert (
        await room.http.get(f"/api/v1/streams/{room.sid}/reports", headers=auth(room.people["viewer"]))
    ).status_code == 403
    done = await room.http.post(
        f"/api/v1/streams/{room.sid}/reports/{ack['report_id']}/resolve",
        json={"resolution": "timed out"},
        headers=auth(room.people["mod"]),
    )
    assert done.status_code == 200 and done.json()["status"] == "resolved"
    r = await room.http.get(f"/api/v1/streams/{room.sid}/reports", headers=auth(room.people["mod"]))
    assert r.json()["items"] == []
    bad = await room.clients["viewer2"].error("report:send", {"stream_id": room.sid, "reason": "no target"})
    assert bad["code"] == "invalid_input"


async def test_mod_actions_over_http_follow_the_same_rules(room: Room) -> None:
    url = f"/api/v1/streams/{room.sid}/mod-actions"
    r = await room.http.post(url, json={"action": "slow", "value": 7}, headers=auth(room.people["viewer"]))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await room.http.post(url, json={"action": "slow", "value": 7}, headers=auth(room.people["mod"]))
    assert r.status_code == 200 and r.json()["settings"]["slow_s"] == 7
    assert (await room.clients["viewer"].wait_event("room:settings"))["slow_s"] == 7
    r = await room.http.get(f"/api/v1/streams/{room.sid}/viewers", headers=auth(room.people["mod"]))
    body = r.json()
    assert body["count"] == 7 and len(body["users"]) == 7
