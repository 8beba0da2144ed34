"""The Socket.IO acks and pushes the pages read carry the fields ``docs/protocol.md`` documents.

The fields are parsed from the document's tables (``| event | payload | ack on success |`` and
``| event | payload | to |``), not copied here; every client → server event and every server → client event the
pages handle is then produced by a real hub with real Socket.IO clients (and aiortc peers for ``rtc:*``), and each
documented field must be in what the server actually sent. The browser pages read exactly these fields (no
``ack.a ?? ack.b`` guessing), so a renamed field fails here before it breaks a page.
"""

from __future__ import annotations

import json
import re
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.coins import give_coins
from tests.support.live import live_clients
from tests.support.servers import serve_asgi
from tests.support.sfu_peers import Publisher, Viewer

PROTOCOL = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
ADMIN_EMAIL = "boss@example.com"

# Server → client events the pages handle (hub/static/js); each must be documented with its payload.
PAGE_PUSHES = (
    "chat:message",
    "room:batch",
    "chat:deleted",
    "chat:cleared",
    "viewers:count",
    "likes:update",
    "room:settings",
    "you:restricted",
    "mod:event",
    "stream:ended",
    "gift:received",
    "leaderboard:update",
    "goal:progress",
    "pk:invited",
    "pk:declined",
    "pk:cancelled",
    "pk:expired",
    "pk:started",
    "pk:score",
    "pk:ended",
    "pk:closed",
)


def top_level_fields(shape: str) -> set[str] | None:
    """``{a, b: {x, y}, c?, ...}`` → {"a", "b"} (optional ``c?`` and ``...`` left out); None if not an object."""
    shape = shape.strip().strip("`").strip()
    if not (shape.startswith("{") and "}" in shape):
        return None
    body = shape[1 : shape.rindex("}")]
    parts, depth, current = [], 0, ""
    for ch in body:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    fields = set()
    for part in parts:
        name = part.split(":", 1)[0].strip()
        if not name or name.startswith("...") or name.endswith("?") or not re.fullmatch(r"[a-z_]+", name):
            continue
        fields.add(name)
    return fields


def documented() -> tuple[dict[str, set[str]], dict[str, list[set[str]]]]:
    """(ack fields per client → server event, payload shapes per server → client event: a payload must carry every
    field of one of them, e.g. ``mod:event``'s ``{type: "action", entry}`` / ``{type: "report", report}``)."""
    acks: dict[str, set[str]] = {}
    pushes: dict[str, list[set[str]]] = {}
    header: list[str] = []
    for line in PROTOCOL.read_text().splitlines():
        if not line.startswith("|"):
            header = []
            continue
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if not header:
            header = [c.lower() for c in cells]
            continue
        if set(cells[0]) <= {"-", ":", " "}:
            continue
        events = re.findall(r"`([a-z]+:[a-z_]+)`", cells[0])
        if header[:3] == ["event", "payload", "ack on success"]:
            fields = top_level_fields(cells[2].replace("\\|", "|"))
            for event in events:
                acks.setdefault(event, set()).update(fields or set())
        elif header[:3] in (["event", "payload", "to"], ["server → client", "payload", "to"]):
            shapes = [top_level_fields(alt) for alt in cells[1].replace("\\|", "|").split(" / ")]
            for event in events:
                pushes.setdefault(event, []).extend(shape for shape in shapes if shape is not None)
    # payloads documented by reference: "a message (above)" is the JSON example of the chat rules, "the public
    # settings (as in `stream:join`)" the `settings` object described under the join ack
    text = PROTOCOL.read_text()
    example = re.search(r"### Chat rules.*?```json\n(.*?)```", text, re.S)
    assert example, "the chat message example is gone from protocol.md"
    message = set(json.loads(example.group(1)))
    pushes["chat:message"] = [message]
    settings = re.search(r"`settings` — the room's chat settings \(`(\{[^`]*\})`", text)
    assert settings, "the settings fields are gone from protocol.md"
    pushes["room:settings"] = [top_level_fields(settings.group(1)) or set()]
    acks["chat:send:message"] = message  # the ack's `message` is the stored message
    return acks, pushes


def test_the_protocol_tables_are_parsed() -> None:
    acks, pushes = documented()
    assert acks["stream:join"] >= {"stream", "viewers", "likes", "recent_chat", "settings", "role", "restriction"}
    assert acks["gift:send"] >= {"transfer_id", "combo", "balance"}
    assert acks["rtc:publish"] == {"session_id", "sdp", "stream"}
    assert pushes["viewers:count"] == [{"stream_id", "count"}]
    assert pushes["likes:update"] == [{"stream_id", "total"}]
    assert {"type", "entry"} in pushes["mod:event"] and {"type", "report"} in pushes["mod:event"]
    assert top_level_fields("{a, b: {x, y}, c?, ...}") == {"a", "b"}
    assert pushes["chat:message"][0] >= {"id", "stream_id", "user", "text", "at"}
    assert pushes["room:settings"][0] >= {"slow_s", "shield"}
    missing = [e for e in PAGE_PUSHES if not pushes.get(e)]
    assert not missing, f"events the pages handle but protocol.md gives no payload for: {missing}"


def keys(value: Any) -> set[str]:
    assert isinstance(value, dict), value
    return set(value)


@pytest.mark.slow
async def test_every_ack_and_push_the_pages_read_carries_the_documented_fields(db_name: str, mongo_client: Any) -> None:
    ack_fields, push_fields = documented()
    settings = make_settings(
        db_name,
        admin_emails=(ADMIN_EMAIL,),
        likes_interval_s=0.1,
        viewers_interval_s=0.2,
        gift_burst=100,
        pk_invite_ttl_s=1,
        pk_poll_s=0.2,
    )
    hub = Hub(settings, mongo_client=mongo_client)
    publisher, viewer_peer = Publisher(audio=False), Viewer(audio=False)
    seen_acks: dict[str, dict[str, Any]] = {}
    try:
        async with (
            serve_asgi(create_app(hub)) as url,
            httpx.AsyncClient(base_url=url, timeout=20) as http,
            live_clients() as open_client,
        ):
            owner = await register(http, "Owner")
            fan = await register(http, "Fan")
            troll = await register(http, "Troll")
            stream = await create_stream(http, owner)
            sid = stream["id"]
            await give_coins(http, hub, fan["user"]["id"], 50)
            r = await http.put(
                f"/api/v1/streams/{sid}/goal",
                json={"kind": "beans", "target": 100, "title": "Goal"},
                headers=auth(owner),
            )
            assert r.status_code == 200, r.text

            o = await open_client(url, owner["access_token"])
            f = await open_client(url, fan["access_token"])
            t = await open_client(url, troll["access_token"])

            async def ok(client: Any, event: str, data: dict[str, Any]) -> dict[str, Any]:
                ack = await client.ok(event, data)
                seen_acks[event] = ack
                return ack

            pub = await ok(o, "rtc:publish", {"stream_id": sid, "sdp": await publisher.offer()})
            await publisher.accept(pub["sdp"])
            for c in (o, f, t):
                await ok(c, "stream:join", {"stream_id": sid})
            sub = await ok(f, "rtc:subscribe", {"stream_id": sid, "sdp": await viewer_peer.offer()})
            await viewer_peer.accept(sub["sdp"])
            sent = await ok(t, "chat:send", {"stream_id": sid, "text": "spam", "client_id": "c1"})
            await ok(f, "like:send", {"stream_id": sid, "count": 3})
            await ok(
                f,
                "gift:send",
                {"stream_id": sid, "gift_id": "rose", "count": 1, "idempotency_key": secrets.token_hex(8)},
            )
            await ok(f, "report:send", {"stream_id": sid, "message_id": sent["message"]["id"], "reason": "spam"})
            await ok(o, "mod:action", {"stream_id": sid, "action": "delete", "message_id": sent["message"]["id"]})
            await ok(o, "mod:action", {"stream_id": sid, "action": "slow", "value": 5})
            await ok(
                o,
                "mod:action",
                {"stream_id": sid, "action": "timeout", "target_user_id": troll["user"]["id"], "duration_s": 60},
            )
            await ok(o, "mod:action", {"stream_id": sid, "action": "clear"})
            await ok(f, "rtc:layer", {"session_id": sub["session_id"], "layer": "low"})
            await ok(f, "rtc:close", {"session_id": sub["session_id"]})

            # PK battles: a second live streamer; every step the studio takes, every event the pages draw
            rival = await register(http, "Rival")
            rival_stream = await create_stream(http, rival, "rival")
            r = await http.post(f"/api/v1/streams/{rival_stream['id']}/live", headers=auth(rival))
            assert r.status_code == 200, r.text
            rv = await open_client(url, rival["access_token"])
            on_rival = {"stream_id": rival_stream["id"]}
            invite = {"stream_id": sid, "opponent_stream_id": rival_stream["id"]}
            assert (await ok(o, "pk:match", {"stream_id": sid}))["queued"] is True
            await ok(o, "pk:match_cancel", {"stream_id": sid})
            battle = (await ok(o, "pk:invite", invite))["battle"]
            await ok(rv, "pk:decline", {**on_rival, "battle_id": battle["id"]})
            battle = (await ok(o, "pk:invite", invite))["battle"]
            await ok(o, "pk:cancel", {"stream_id": sid, "battle_id": battle["id"]})
            await o.ok("pk:invite", invite)
            await f.wait_event("pk:expired", timeout=10)
            battle = (await o.ok("pk:invite", invite))["battle"]
            await ok(rv, "pk:accept", {**on_rival, "battle_id": battle["id"]})
            gift = {"stream_id": sid, "gift_id": "rose", "count": 1, "idempotency_key": secrets.token_hex(8)}
            await f.ok("gift:send", gift)
            await f.wait_event("pk:score", timeout=10)
            await ok(f, "pk:state", {"stream_id": sid})
            await ok(o, "pk:quit", {"stream_id": sid, "battle_id": battle["id"]})  # ends it
            await f.wait_event("pk:ended", timeout=10)
            await o.ok("pk:quit", {"stream_id": sid, "battle_id": battle["id"]})  # closes the after-period

            for event in (
                "chat:message",
                "chat:deleted",
                "chat:cleared",
                "viewers:count",
                "likes:update",
                "room:settings",
                "gift:received",
                "leaderboard:update",
                "goal:progress",
                "pk:invited",
                "pk:declined",
                "pk:cancelled",
                "pk:started",
                "pk:closed",
            ):
                await f.wait_event(event, timeout=10)
            await t.wait_event("you:restricted", timeout=10)
            await o.wait_event("mod:event", timeout=10)
            await ok(f, "stream:leave", {"stream_id": sid})
            await ok(o, "mod:action", {"stream_id": sid, "action": "end_stream"})
            await t.wait_event("stream:ended", timeout=10)

            # every documented ack was produced, and carries its documented fields
            seen_acks["chat:send:message"] = seen_acks["chat:send"]["message"]
            assert set(seen_acks) == set(ack_fields), "acks documented but not checked (or the reverse)"
            for event, fields in ack_fields.items():
                missing = fields - keys(seen_acks[event])
                assert not missing, f"{event} ack lacks documented {sorted(missing)}: {seen_acks[event]}"
            # every push the pages handle carries its documented fields, each time it was sent
            clients = {"you:restricted": t, "mod:event": o, "stream:ended": t}
            for event in PAGE_PUSHES:
                payloads = clients.get(event, f).received(event)
                assert payloads, f"no {event} arrived"
                for payload in payloads:
                    shapes = push_fields[event]
                    assert any(shape <= keys(payload) for shape in shapes), f"{event} is none of {shapes}: {payload}"
            # a gift's effect, leaderboard and goal leave in one tick: one room:batch whose entries (checked above
            # as the events they carry) are {event, data}
            for batch in f.received("room:batch"):
                assert all(set(x) == {"event", "data"} for x in batch["events"]), batch
    finally:
        await publisher.close()
        await viewer_peer.close()
