"""The official Socket.IO JavaScript client (npm ``socket.io-client``, pinned in tests/js) works unchanged, with the
default JSON parser and with ``socket.io-msgpack-parser`` on the msgpack endpoint; a ``room:batch`` is an ordinary
event to it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.coins import give_coins
from tests.support.servers import serve_asgi

JS_DIR = Path(__file__).resolve().parents[1] / "js"


@pytest.mark.slow
async def test_official_js_client_joins_chats_likes_gets_room_batches_and_error_acks(
    db_name: str, mongo_client: Any
) -> None:
    node = shutil.which("node")
    assert node is not None, "node is needed for the JS interop test"
    assert (JS_DIR / "node_modules" / "socket.io-client").is_dir(), "run `npm ci` in tests/js (scripts/test does)"
    hub = Hub(make_settings(db_name, likes_interval_s=0.1), mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url) as http:
        owner = await register(http, "Owner")
        viewer = await register(http, "Viewer")
        stream = await create_stream(http, owner)
        r = await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(owner))
        assert r.status_code == 200, r.text
        await give_coins(http, hub, viewer["user"]["id"], 10)
        r = await http.put(
            f"/api/v1/streams/{stream['id']}/goal",
            json={"kind": "gift", "target": 5, "gift_id": "rose", "title": "5 roses"},
            headers=auth(owner),
        )
        assert r.status_code == 200, r.text
        proc = await asyncio.create_subprocess_exec(
            node,
            "interop.mjs",
            url,
            owner["access_token"],
            viewer["access_token"],
            stream["id"],
            cwd=JS_DIR,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["ok"], (repr(result), err.decode()[-2000:])
    assert all(result["checks"].values()) and len(result["checks"]) == 14
