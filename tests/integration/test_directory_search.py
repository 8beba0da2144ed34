"""The directory: category and tag filters, search by title and streamer (normalized keywords, the same query on
MongoDB and the stand-in), and live viewer counts from the room's presence, WHEP viewers included."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.wiring import Hub
from tests.support.api import auth, register
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

SDP = {"Content-Type": "application/sdp"}


async def _live(client: httpx.AsyncClient, who: dict[str, Any], title: str, **extra: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/streams", json={"title": title, **extra}, headers=auth(who))
    assert r.status_code == 201, r.text
    stream: dict[str, Any] = r.json()
    r = await client.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(who))
    assert r.status_code == 200, r.text
    return stream


async def _titles(client: httpx.AsyncClient, **query: str) -> list[str]:
    r = await client.get("/api/v1/streams", params=query)
    assert r.status_code == 200, r.text
    return sorted(s["title"] for s in r.json()["items"])


async def test_the_directory_filters_by_category_and_tags_and_finds_by_title_and_streamer(
    client: httpx.AsyncClient,
) -> None:
    ana, bob = await register(client, "AnaSpeed"), await register(client, "Bob")
    await _live(client, ana, "Speedrun night: Zelda any%", category="Games", tags=["speedrun", "zelda"])
    await _live(client, bob, "Cooking ramen", category="Food", tags=["cooking"])
    await _live(client, bob, "Zelda chill", category="Games", tags=["zelda"])
    created = await client.post("/api/v1/streams", json={"title": "Zelda later"}, headers=auth(bob))
    assert created.status_code == 201  # not live: not in the live directory

    assert await _titles(client, category="Games") == ["Speedrun night: Zelda any%", "Zelda chill"]
    assert await _titles(client, tags="zelda") == ["Speedrun night: Zelda any%", "Zelda chill"]
    assert await _titles(client, tags="ZELDA,speedrun") == ["Speedrun night: Zelda any%"]
    assert await _titles(client, q="zelda") == ["Speedrun night: Zelda any%", "Zelda chill"]
    assert await _titles(client, q="spee") == ["Speedrun night: Zelda any%"]  # a prefix, any case
    assert await _titles(client, q="anaspeed") == ["Speedrun night: Zelda any%"]  # by the streamer's nickname
    assert await _titles(client, q="bob zel") == ["Zelda chill"]
    assert await _titles(client, q="RAMEN!") == ["Cooking ramen"]
    assert await _titles(client, q="zelda", category="Food") == []
    assert await _titles(client, q="nothing like it") == []
    assert await _titles(client, q="zelda", status="created") == ["Zelda later"]
    r = await client.get("/api/v1/streams", params={"q": "x" * 201})
    assert r.status_code == 422


@pytest.mark.slow
async def test_live_streams_in_the_directory_count_socket_and_whep_viewers(client: httpx.AsyncClient, hub: Hub) -> None:
    owner = await register(client, "Caster")
    r = await client.post("/api/v1/streams", json={"title": "Counted"}, headers=auth(owner))
    stream = r.json()
    publisher, viewer = Publisher(), Viewer()
    try:
        key = {"Authorization": f"Bearer {stream['stream_key']}"}
        r = await client.post(f"/api/v1/whip/{stream['id']}", content=await publisher.offer(), headers={**SDP, **key})
        assert r.status_code == 201, r.text
        await publisher.accept(r.text)

        async def viewers() -> int | None:
            items = (await client.get("/api/v1/streams")).json()["items"]
            return next((s.get("viewers") for s in items if s["id"] == stream["id"]), None)

        assert await until(lambda: _equals(viewers, 0), timeout=10)
        await hub.presence.join(stream["id"], "someone-in-the-room")  # a socket viewer, as stream:join counts it
        r = await client.post(f"/api/v1/whep/{stream['id']}", content=await viewer.offer(), headers=SDP)
        assert r.status_code == 201, r.text
        await viewer.accept(r.text)
        assert await viewers() == 2
        r = await client.delete(r.headers["location"])
        assert r.status_code in (200, 204)
        assert await until(lambda: _equals(viewers, 1), timeout=10)
    finally:
        await viewer.close()
        await publisher.close()


async def _equals(read: Any, value: int) -> bool:
    return bool(await read() == value)
