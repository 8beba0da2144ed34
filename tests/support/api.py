"""Small helpers for driving the HTTP API in tests."""

from __future__ import annotations

import secrets
from typing import Any

import httpx


async def register(client: httpx.AsyncClient, nickname: str = "viewer", **extra: Any) -> dict[str, Any]:
    body = {
        "email": f"{nickname.lower()}-{secrets.token_hex(4)}@example.com",
        "password": "correct horse",
        "nickname": nickname,
    }
    body.update(extra)
    r = await client.post("/api/v1/auth/register", json=body)
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    data["email"] = body["email"]
    data["password"] = body["password"]
    return data


def auth(session: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {session['access_token']}"}


async def create_stream(client: httpx.AsyncClient, session: dict[str, Any], title: str = "My stream") -> dict[str, Any]:
    r = await client.post("/api/v1/streams", json={"title": title}, headers=auth(session))
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()
    return data


async def live_stream(client: httpx.AsyncClient, owner: dict[str, Any], title: str = "My stream") -> dict[str, Any]:
    """A new stream of ``owner``'s, put live through the API (no media: the room is open)."""
    stream = await create_stream(client, owner, title)
    r = await client.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(owner))
    assert r.status_code == 200, r.text
    return stream


async def coins_of(client: httpx.AsyncClient, session: dict[str, Any]) -> int:
    return int((await client.get("/api/v1/wallet", headers=auth(session))).json()["coins"])
