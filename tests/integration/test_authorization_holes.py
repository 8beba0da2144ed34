"""The holes issue 11 found, each closed: stale roles, suspended broadcasters, moderator rights that outlived their
stream or their removal, and restrictions that stopped chat only. Each test failed on the code before the fix."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.ids import StreamId
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.coins import give_coins
from tests.support.live import LiveClient, live_clients
from tests.support.servers import serve_asgi
from tests.support.sfu_peers import Publisher
from tests.support.waiting import until

ADMIN_EMAIL = "admin@example.com"
SDP = {"Content-Type": "application/sdp"}


class Node:
    def __init__(self, url: str, http: httpx.AsyncClient, hub: Hub, open_client: Any) -> None:
        self.url, self.http, self.hub, self.open = url, http, hub, open_client

    async def person(self, name: str, **extra: Any) -> dict[str, Any]:
        return await register(self.http, name, **extra)

    async def post(self, who: dict[str, Any], path: str, body: Any = None) -> httpx.Response:
        return await self.http.post(f"/api/v1{path}", json=body, headers=auth(who))

    async def live(self, owner: dict[str, Any], title: str = "live") -> str:
        stream = await create_stream(self.http, owner, title)
        assert (await self.post(owner, f"/streams/{stream['id']}/live")).status_code == 200
        return str(stream["id"])

    async def socket(self, who: dict[str, Any], stream_id: str) -> LiveClient:
        client: LiveClient = await self.open(self.url, who["access_token"])
        await client.ok("stream:join", {"stream_id": stream_id})
        return client


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[Node]:
    settings = make_settings(
        db_name,
        admin_emails=(ADMIN_EMAIL,),
        chat_burst=100,
        chat_per_second=100.0,
        gift_burst=100,
        gift_per_second=100.0,
    )
    hub = Hub(settings, mongo_client=mongo_client)
    async with (
        serve_asgi(create_app(hub)) as url,
        httpx.AsyncClient(base_url=url, timeout=20) as http,
        live_clients() as open_client,
    ):
        yield Node(url, http, hub, open_client)
    await mongo_client.drop_database(db_name)


async def refused(client: LiveClient, event: str, body: Any, code: str) -> bool:
    ack = await client.call(event, body)
    return ack["ok"] is False and ack["error"]["code"] == code


async def test_a_demoted_admin_cannot_promote_themself_back_with_their_old_token(node: Node) -> None:
    root = await node.person("Root", email=ADMIN_EMAIL)
    deputy = await node.person("Deputy")
    uid = deputy["user"]["id"]
    assert (await node.post(root, f"/admin/users/{uid}/role", {"role": "admin"})).status_code == 200
    login = await node.http.post("/api/v1/auth/login", json={"login": deputy["email"], "password": "correct horse"})
    deputy["access_token"] = login.json()["access_token"]  # a token that says "admin"
    assert (await node.post(root, f"/admin/users/{uid}/role", {"role": "viewer"})).status_code == 200
    r = await node.post(deputy, f"/admin/users/{uid}/role", {"role": "admin"})
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert (await node.hub.accounts.get_user(uid)).role.value == "viewer"


async def test_a_demoted_global_moderator_loses_staff_on_an_open_socket_at_once(node: Node) -> None:
    root = await node.person("Root", email=ADMIN_EMAIL)
    owner, viewer, reporter = await node.person("Owner"), await node.person("Viewer"), await node.person("Reporter")
    staff = await node.person("Staff")
    assert (await node.post(root, f"/admin/users/{staff['user']['id']}/role", {"role": "moderator"})).status_code == 200
    login = await node.http.post("/api/v1/auth/login", json={"login": staff["email"], "password": "correct horse"})
    staff["access_token"] = login.json()["access_token"]
    sid = await node.live(owner)
    staff_socket = await node.socket(staff, sid)
    reporter_socket = await node.socket(reporter, sid)
    assert (await node.post(root, f"/admin/users/{staff['user']['id']}/role", {"role": "viewer"})).status_code == 200
    slow_off = {"stream_id": sid, "action": "slow", "value": 0}
    assert await until(lambda: refused(staff_socket, "mod:action", slow_off, "forbidden"), 3.0)
    assert staff_socket.received("you:changed") == [{"reason": "role", "role": "viewer"}]
    ban = {"stream_id": sid, "action": "ban", "target_user_id": viewer["user"]["id"]}
    assert (await staff_socket.error("mod:action", ban))["code"] == "forbidden"
    timeout = {"stream_id": sid, "action": "timeout", "target_user_id": owner["user"]["id"], "duration_s": 1209600}
    assert (await staff_socket.error("mod:action", timeout))["code"] == "forbidden"
    await reporter_socket.ok("report:send", {"stream_id": sid, "target_user_id": viewer["user"]["id"], "reason": "x"})
    await asyncio.sleep(0.5)
    assert staff_socket.received("mod:event") == []


async def test_suspension_ends_live_streams_and_refuses_whip_with_any_of_their_keys(node: Node) -> None:
    root = await node.person("Root", email=ADMIN_EMAIL)
    owner, viewer = await node.person("Broadcaster"), await node.person("Viewer")
    sid = await node.live(owner)
    spare = await create_stream(node.http, owner, "another key")
    watching = await node.socket(viewer, sid)
    r = await node.post(root, f"/admin/users/{owner['user']['id']}/suspension", {"suspended": True})
    assert r.status_code == 200
    ended = await watching.wait_event("stream:ended")
    assert ended == {"stream_id": sid, "reason": "owner_suspended"}
    assert (await node.hub.streams.get(StreamId(sid))).status.value == "ended"
    publisher = Publisher()
    try:
        headers = {**SDP, "Authorization": f"Bearer {spare['stream_key']}"}
        r = await node.http.post(f"/api/v1/whip/{spare['id']}", content=await publisher.offer(), headers=headers)
        assert r.status_code == 403 and r.json()["code"] == "account_suspended", r.text
    finally:
        await publisher.close()
    assert (await node.hub.streams.get(StreamId(spare["id"]))).status.value == "created"


async def test_moderators_belong_to_the_channel_and_hold_in_its_next_stream(node: Node) -> None:
    owner, mod, viewer = await node.person("Owner"), await node.person("Mod"), await node.person("Viewer")
    first = await node.live(owner, "monday")
    assert (await node.post(owner, f"/streams/{first}/moderators", {"user_id": mod["user"]["id"]})).status_code == 200
    await node.post(owner, f"/streams/{first}/end")
    second = await node.live(owner, "tuesday")
    assert (await node.http.get(f"/api/v1/streams/{second}")).json()["moderators"] == [mod["user"]["id"]]
    ban = {"action": "ban", "target_user_id": viewer["user"]["id"]}
    r = await node.post(mod, f"/streams/{second}/mod-actions", ban)
    assert r.status_code == 200, r.text
    # The ban is the channel's: the viewer is banned in the next stream too.
    third_id = (await create_stream(node.http, owner, "wednesday"))["id"]
    restrictions = await node.http.get(f"/api/v1/streams/{third_id}/restrictions", headers=auth(mod))
    assert [e["user_id"] for e in restrictions.json()["items"]] == [viewer["user"]["id"]]


async def test_nobody_moderates_through_an_ended_streams_id(node: Node) -> None:
    owner, mod, viewer = await node.person("Owner"), await node.person("Mod"), await node.person("Viewer")
    old = await node.live(owner, "yesterday")
    await node.post(owner, f"/streams/{old}/moderators", {"user_id": mod["user"]["id"]})
    await node.post(owner, f"/streams/{old}/end")
    ban = {"action": "ban", "target_user_id": viewer["user"]["id"]}
    r = await node.post(mod, f"/streams/{old}/mod-actions", ban)
    assert r.status_code == 409 and r.json()["code"] == "stream_ended"


async def test_a_removed_moderator_loses_every_power_and_mod_event_at_once(node: Node) -> None:
    owner, mod = await node.person("Owner"), await node.person("Mod")
    viewer, reporter = await node.person("Viewer"), await node.person("Reporter")
    sid = await node.live(owner)
    await node.post(owner, f"/streams/{sid}/moderators", {"user_id": mod["user"]["id"]})
    mod_socket = await node.socket(mod, sid)
    reporter_socket = await node.socket(reporter, sid)
    report = {"stream_id": sid, "target_user_id": viewer["user"]["id"], "reason": "spam"}
    await reporter_socket.ok("report:send", report)
    await mod_socket.wait_event("mod:event")  # a moderator while named
    r = await node.http.request(
        "DELETE", f"/api/v1/streams/{sid}/moderators", json={"user_id": mod["user"]["id"]}, headers=auth(owner)
    )
    assert r.status_code == 200
    clear = {"stream_id": sid, "action": "clear"}
    assert await until(lambda: refused(mod_socket, "mod:action", clear, "forbidden"), 3.0)
    before = len(mod_socket.received("mod:event"))
    await reporter_socket.ok("report:send", {**report, "reason": "more spam"})
    await asyncio.sleep(0.5)
    assert len(mod_socket.received("mod:event")) == before
    ban = {"stream_id": sid, "action": "ban", "target_user_id": viewer["user"]["id"]}
    assert (await mod_socket.error("mod:action", ban))["code"] == "forbidden"
    r = await node.http.get(f"/api/v1/streams/{sid}/reports", headers=auth(mod))
    assert r.status_code == 403


async def test_a_banned_person_cannot_like_gift_report_or_chat_and_their_name_never_reaches_the_room(
    node: Node,
) -> None:
    owner, troll, fan = await node.person("Owner"), await node.person("Troll"), await node.person("Fan")
    sid = await node.live(owner)
    await give_coins(node.http, node.hub, troll["user"]["id"], 100)
    troll_socket, fan_socket = await node.socket(troll, sid), await node.socket(fan, sid)
    ban = {"action": "ban", "target_user_id": troll["user"]["id"]}
    assert (await node.post(owner, f"/streams/{sid}/mod-actions", ban)).status_code == 200
    for event, body in (
        ("chat:send", {"stream_id": sid, "text": "hi"}),
        ("like:send", {"stream_id": sid, "count": 5}),
        ("report:send", {"stream_id": sid, "target_user_id": fan["user"]["id"], "reason": "revenge"}),
        ("gift:send", {"stream_id": sid, "gift_id": "rose", "idempotency_key": "k1"}),
    ):
        error = await troll_socket.error(event, body)
        assert error["code"] == "restricted" and error["kind"] == "ban", (event, error)
    r = await node.post(troll, f"/streams/{sid}/gifts", {"gift_id": "rose", "idempotency_key": "k2"})
    assert r.status_code == 403 and r.json()["code"] == "restricted"
    await asyncio.sleep(0.5)
    assert fan_socket.received("gift:received") == []
    wallet = await node.http.get("/api/v1/wallet", headers=auth(troll))
    assert wallet.json()["coins"] == 100
