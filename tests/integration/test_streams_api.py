"""Streams over HTTP: create, list with cursors, following, moderators, end with stats, keys."""

from __future__ import annotations

import httpx

from accounts.models import Role
from core.ids import StreamId
from hub.wiring import Hub
from tests.support.api import auth, create_stream, register


async def test_create_stream_makes_a_streamer_and_returns_a_key_only_to_the_owner(client: httpx.AsyncClient) -> None:
    s = await register(client, "Streamer")
    stream = await create_stream(client, s, "Hello world")
    assert stream["stream_key"].startswith("sk_")
    assert stream["status"] == "created"
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": s["refresh_token"]})
    me = (await client.get("/api/v1/me", headers={"Authorization": f"Bearer {r.json()['access_token']}"})).json()
    assert me["role"] == "streamer"
    other = await register(client, "Other")
    seen = (await client.get(f"/api/v1/streams/{stream['id']}", headers=auth(other))).json()
    assert "stream_key" not in seen
    assert (await client.get(f"/api/v1/streams/{stream['id']}", headers=auth(s))).json()["stream_key"]


async def test_live_directory_paginates_with_cursors(client: httpx.AsyncClient, hub: Hub) -> None:
    s = await register(client, "Many")
    ids = []
    for i in range(5):
        stream = await create_stream(client, s, f"Stream {i}")
        await hub.streams.go_live(StreamId(stream["id"]))
        ids.append(stream["id"])
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/streams", params=params)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    r = await client.get("/api/v1/streams", params={"cursor": "!!!"})
    assert r.status_code == 422
    r = await client.get("/api/v1/streams", params={"limit": 1000})
    assert r.status_code == 422


async def test_following_lists_live_streams_of_followed_users(client: httpx.AsyncClient, hub: Hub) -> None:
    a = await register(client, "Followed")
    b = await register(client, "Unfollowed")
    fan = await register(client, "Fan")
    sa = await create_stream(client, a)
    sb = await create_stream(client, b)
    await hub.streams.go_live(StreamId(sa["id"]))
    await hub.streams.go_live(StreamId(sb["id"]))
    await client.post(f"/api/v1/users/{a['user']['id']}/follow", headers=auth(fan))
    page = (await client.get("/api/v1/streams/following", headers=auth(fan))).json()
    assert [i["id"] for i in page["items"]] == [sa["id"]]


async def test_end_stream_keeps_stats_and_only_owner_or_staff_may_end(client: httpx.AsyncClient, hub: Hub) -> None:
    s = await register(client, "Ender")
    other = await register(client, "NotOwner")
    stream = await create_stream(client, s)
    await hub.streams.go_live(StreamId(stream["id"]))
    await hub.streams.record_stats(StreamId(stream["id"]), peak_viewers=7, inc={"likes": 3})
    await hub.streams.record_stats(StreamId(stream["id"]), peak_viewers=5)
    r = await client.post(f"/api/v1/streams/{stream['id']}/end", headers=auth(other))
    assert r.status_code == 403
    r = await client.post(f"/api/v1/streams/{stream['id']}/end", headers=auth(s))
    assert r.status_code == 200
    ended = r.json()
    assert ended["status"] == "ended"
    assert ended["stats"]["peak_viewers"] == 7
    assert ended["stats"]["likes"] == 3
    live = (await client.get("/api/v1/streams")).json()["items"]
    assert stream["id"] not in [i["id"] for i in live]
    again = await client.post(f"/api/v1/streams/{stream['id']}/end", headers=auth(s))
    assert again.status_code == 200  # idempotent


async def test_owner_names_and_removes_room_moderators(client: httpx.AsyncClient) -> None:
    s = await register(client, "Owner")
    mod = await register(client, "Mod")
    stream = await create_stream(client, s)
    url = f"/api/v1/streams/{stream['id']}/moderators"
    r = await client.post(url, json={"user_id": mod["user"]["id"]}, headers=auth(mod))
    assert r.status_code == 403
    r = await client.post(url, json={"user_id": mod["user"]["id"]}, headers=auth(s))
    assert r.json()["moderators"] == [mod["user"]["id"]]
    r = await client.post(url, json={"user_id": "does-not-exist"}, headers=auth(s))
    assert r.status_code == 404
    r = await client.request("DELETE", url, json={"user_id": mod["user"]["id"]}, headers=auth(s))
    assert r.json()["moderators"] == []


async def test_stream_key_rotation_and_publisher_authorization(client: httpx.AsyncClient, hub: Hub) -> None:
    s = await register(client, "Rotator")
    stream = await create_stream(client, s)
    rotated = (await client.post(f"/api/v1/streams/{stream['id']}/key", headers=auth(s))).json()
    assert rotated["stream_key"] != stream["stream_key"]
    await hub.streams.authorize_publisher(StreamId(stream["id"]), rotated["stream_key"])
    try:
        await hub.streams.authorize_publisher(StreamId(stream["id"]), stream["stream_key"])
    except Exception as exc:  # the old key no longer works
        assert getattr(exc, "code", "") == "invalid_stream_key"
    else:
        raise AssertionError("old key accepted")


async def test_invalid_stream_input_is_refused(client: httpx.AsyncClient) -> None:
    s = await register(client, "Bad")
    for body in ({"title": ""}, {"title": "x" * 141}, {"title": "ok", "tags": ["a"] * 11}, {"title": 5}):
        r = await client.post("/api/v1/streams", json=body, headers=auth(s))
        assert r.status_code == 422, body
    r = await client.post("/api/v1/streams", json={"title": "no auth"})
    assert r.status_code == 401


async def test_owner_goes_live_explicitly_and_the_stream_is_listed(client: httpx.AsyncClient) -> None:
    s = await register(client, "Explicit")
    other = await register(client, "Intruder")
    stream = await create_stream(client, s)
    assert (await client.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(other))).status_code == 403
    r = await client.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(s))
    assert r.status_code == 200
    assert r.json()["status"] == "live" and r.json()["started_at"]
    assert [i["id"] for i in (await client.get("/api/v1/streams")).json()["items"]] == [stream["id"]]
    await client.post(f"/api/v1/streams/{stream['id']}/end", headers=auth(s))
    r = await client.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(s))
    assert r.status_code == 409
    assert r.json()["code"] == "stream_ended"


async def test_moderated_lists_the_rooms_a_person_can_act_in(client: httpx.AsyncClient, hub: Hub) -> None:
    owner = await register(client, "RoomOwner")
    mod = await register(client, "RoomMod")
    nobody = await register(client, "Nobody")
    mine = await create_stream(client, owner, "Mine")
    other = await create_stream(client, nobody, "Not moderated")
    await hub.streams.go_live(StreamId(other["id"]))
    await client.post(
        f"/api/v1/streams/{mine['id']}/moderators", json={"user_id": mod["user"]["id"]}, headers=auth(owner)
    )
    ids = lambda r: [i["id"] for i in r.json()["items"]]  # noqa: E731
    assert ids(await client.get("/api/v1/streams/moderated", headers=auth(owner))) == [mine["id"]]
    assert ids(await client.get("/api/v1/streams/moderated", headers=auth(mod))) == [mine["id"]]
    assert ids(await client.get("/api/v1/streams/moderated", headers=auth(nobody))) == [other["id"]]
    await client.post(f"/api/v1/streams/{mine['id']}/end", headers=auth(owner))
    assert ids(await client.get("/api/v1/streams/moderated", headers=auth(mod))) == []
    assert (await client.get("/api/v1/streams/moderated")).status_code == 401


async def test_global_moderators_can_act_in_every_live_room(client: httpx.AsyncClient, hub: Hub) -> None:
    staff = await register(client, "GlobalMod")
    streamer = await register(client, "Someone")
    live = await create_stream(client, streamer, "Live one")
    await create_stream(client, streamer, "Not live yet")
    await hub.streams.go_live(StreamId(live["id"]))
    await hub.account_store.set_role(staff["user"]["id"], Role.MODERATOR)
    r = await client.post("/api/v1/auth/login", json={"login": staff["email"], "password": staff["password"]})
    token = {"Authorization": f"Bearer {r.json()['access_token']}"}
    items = (await client.get("/api/v1/streams/moderated", headers=token)).json()["items"]
    assert [i["id"] for i in items] == [live["id"]]
