"""A live socket does not outlive its session: after logout or a suspension, the next event is refused and the
connection continues as a guest's (it may watch, not chat)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

import httpx
import pytest
import socketio

import signaling.server
from hub.app import create_app
from hub.settings import Settings
from hub.wiring import Hub
from tests.support.api import auth, create_stream, register
from tests.support.servers import serve_asgi


async def test_suspension_and_logout_turn_open_sockets_into_guests(
    settings: Settings, mongo_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(signaling.server, "SESSION_RECHECK_S", 0.0)
    hub = Hub(
        replace(settings, accounts=replace(settings.accounts, admin_emails=("admin@example.com",))),
        mongo_client=mongo_client,
    )
    async with serve_asgi(create_app(hub)) as base, httpx.AsyncClient(base_url=base) as http:
        admin = await register(http, "Admin", email="admin@example.com")
        owner = await register(http, "Owner")
        stream = await create_stream(http, owner)
        await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(owner))
        troll = await register(http, "Troll")
        leaver = await register(http, "Leaver")
        sockets: dict[str, socketio.AsyncClient] = {}
        restricted: dict[str, list[Any]] = {"Troll": [], "Leaver": []}
        for name, person in (("Troll", troll), ("Leaver", leaver)):
            sio = socketio.AsyncClient(reconnection=False)
            sio.on("you:restricted", restricted[name].append, namespace="/live")
            await sio.connect(
                base, namespaces=["/live"], transports=["websocket"], auth={"token": person["access_token"]}
            )
            ack = await sio.call("stream:join", {"stream_id": stream["id"]}, namespace="/live", timeout=5)
            assert ack["ok"], ack
            sockets[name] = sio
        r = await http.post(
            f"/api/v1/admin/users/{troll['user']['id']}/suspension", json={"suspended": True}, headers=auth(admin)
        )
        assert r.status_code == 200
        assert (await http.post("/api/v1/auth/logout", headers=auth(leaver))).status_code == 204
        for name in ("Troll", "Leaver"):
            sio = sockets[name]
            ack = await sio.call(
                "chat:send", {"stream_id": stream["id"], "text": "still here?"}, namespace="/live", timeout=5
            )
            assert ack == {"ok": False, "error": {"code": "session_revoked", "message": ack["error"]["message"]}}
            for _ in range(50):
                if restricted[name]:
                    break
                await asyncio.sleep(0.05)
            assert restricted[name] and restricted[name][0]["kind"] == "signed_out"
            ack = await sio.call("like:send", {"stream_id": stream["id"], "count": 1}, namespace="/live", timeout=5)
            assert ack["ok"] is False and ack["error"]["code"] == "unauthenticated", ack
            assert sio.connected  # still watching, as a guest
            await sio.disconnect()
        history = (await http.get(f"/api/v1/streams/{stream['id']}/chat")).json()["items"]
        assert not [m for m in history if m.get("text") == "still here?"]
