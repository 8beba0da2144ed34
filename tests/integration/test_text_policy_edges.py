"""One text policy on every user-written field, at both edges: HTTP request models and Socket.IO payloads refuse
control characters, bidi overrides and invisible-only text as ``invalid_input`` naming the field, and nothing is
stored."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.live import LiveClient, live_clients
from tests.support.servers import serve_asgi

# NUL, ESC, a right-to-left override, zero-width joiners only, a Zalgo stack, a bidi isolate.
BAD = ["Goal\x00", "Goal\x1b[31m", "Goal\u202elaog", "\u200d\u200d\u200d", "G" + "\u0300" * 10, "\u2067x\u2069"]


def refused_fields(r: httpx.Response) -> set[str]:
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "invalid_input"
    return {e["field"] for e in r.json()["errors"]}


class Room:
    def __init__(self, http: httpx.AsyncClient, owner: dict[str, Any], viewer: dict[str, Any], stream: Any) -> None:
        self.http, self.owner, self.viewer, self.stream = http, owner, viewer, stream
        self.sid = str(stream["id"])
        self.owner_live: LiveClient
        self.viewer_live: LiveClient


@pytest.fixture
async def room(db_name: str, mongo_client: Any) -> AsyncIterator[Room]:
    hub = Hub(make_settings(db_name, chat_burst=100, chat_per_second=100.0), mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url) as http, live_clients() as open_:
        owner, viewer = await register(http, "Owner"), await register(http, "Viewer")
        r = Room(http, owner, viewer, await create_stream(http, owner))
        r.owner_live = await open_(url, owner["access_token"])
        r.viewer_live = await open_(url, viewer["access_token"])
        for c in (r.owner_live, r.viewer_live):
            await c.ok("stream:join", {"stream_id": r.sid})
        yield r
    await mongo_client.drop_database(db_name)


@pytest.mark.parametrize("bad", BAD)
async def test_stream_title_category_and_tags_are_held_to_the_policy_over_http(room: Room, bad: str) -> None:
    h = auth(room.owner)
    assert refused_fields(await room.http.post("/api/v1/streams", json={"title": bad}, headers=h)) == {"title"}
    r = await room.http.post("/api/v1/streams", json={"title": "ok", "category": bad}, headers=h)
    assert refused_fields(r) == {"category"}
    r = await room.http.post("/api/v1/streams", json={"title": "ok", "tags": ["fine", bad]}, headers=h)
    assert refused_fields(r) == {"tags.1"}
    mine = await room.http.get(f"/api/v1/users/{room.owner['user']['id']}/streams", headers=h)
    assert mine.status_code in (200, 404)
    if mine.status_code == 200:
        assert len(mine.json()["items"]) == 1


@pytest.mark.parametrize("bad", BAD)
async def test_a_goal_title_with_nul_esc_or_rlo_is_refused_and_no_goal_is_set(room: Room, bad: str) -> None:
    r = await room.http.put(
        f"/api/v1/streams/{room.sid}/goal", json={"kind": "beans", "target": 5, "title": bad}, headers=auth(room.owner)
    )
    assert refused_fields(r) == {"title"}
    assert (await room.http.get(f"/api/v1/streams/{room.sid}/goal")).status_code == 404


async def test_a_goal_title_longer_than_80_characters_is_refused_not_cut(room: Room) -> None:
    r = await room.http.put(
        f"/api/v1/streams/{room.sid}/goal",
        json={"kind": "beans", "target": 5, "title": "x" * 81},
        headers=auth(room.owner),
    )
    assert refused_fields(r) == {"title"}


@pytest.mark.parametrize("bad", BAD)
async def test_report_reasons_and_bios_are_held_to_the_policy_over_http(room: Room, bad: str) -> None:
    r = await room.http.post(
        f"/api/v1/streams/{room.sid}/reports",
        json={"target_user_id": room.owner["user"]["id"], "reason": bad},
        headers=auth(room.viewer),
    )
    assert refused_fields(r) == {"reason"}
    assert refused_fields(await room.http.patch("/api/v1/me", json={"bio": bad + "x"}, headers=auth(room.viewer))) == {
        "bio"
    }


@pytest.mark.parametrize("bad", BAD)
async def test_chat_reports_and_moderation_reasons_are_held_to_the_policy_over_socketio(room: Room, bad: str) -> None:
    err = await room.viewer_live.error("chat:send", {"stream_id": room.sid, "text": bad})
    assert (err["code"], err["field"]) == ("invalid_input", "text")
    err = await room.viewer_live.error(
        "report:send", {"stream_id": room.sid, "target_user_id": room.owner["user"]["id"], "reason": bad}
    )
    assert (err["code"], err["field"]) == ("invalid_input", "reason")
    err = await room.owner_live.error(
        "mod:action",
        {"stream_id": room.sid, "action": "timeout", "target_user_id": room.viewer["user"]["id"], "reason": bad},
    )
    assert (err["code"], err["field"]) == ("invalid_input", "reason")
    history = await room.http.get(f"/api/v1/streams/{room.sid}/chat")
    assert history.status_code == 200 and history.json()["items"] == []


async def test_chat_with_emoji_sequences_counts_characters_people_see(room: Room) -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"
    text = family * 100  # 100 characters; 700 code points were over the old 500 "characters"
    await room.viewer_live.ok("chat:send", {"stream_id": room.sid, "text": text})
    history = await room.http.get(f"/api/v1/streams/{room.sid}/chat")
    assert [m["text"] for m in history.json()["items"]] == [text]
    err = await room.viewer_live.error("chat:send", {"stream_id": room.sid, "text": "x" * 501})
    assert err["field"] == "text"
