"""Bad input never reaches a 500: each malformed request gets a 4xx problem document, and a real unexpected
failure is a 500 problem with a request id while the keep-alive connection keeps serving."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from accounts.models import Role
from core.ids import UserId
from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.support.api import auth, create_stream, register
from tests.support.sdp_offers import offer
from tests.support.servers import serve_asgi
from tests.support.stripe_events import event, sign

SDP = {"Content-Type": "application/sdp"}
PROBLEM = "application/problem+json"


def _assert_problem(r: httpx.Response, status: int | None = None) -> dict[str, Any]:
    assert r.headers["content-type"].startswith(PROBLEM), (r.status_code, r.text[:300])
    body: dict[str, Any] = r.json()
    if status is not None:
        assert r.status_code == status, (r.status_code, body)
    else:
        assert 400 <= r.status_code < 500, (r.status_code, body)
    assert body["status"] == r.status_code
    assert "Traceback" not in r.text
    return body


@pytest.fixture
async def served(hub: Hub) -> AsyncIterator[str]:
    async with serve_asgi(create_app(hub, own_hub=False)) as base:
        yield base


def _cursor(values: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


BAD_CURSORS = [
    "%%%",
    "not-base64!",
    _cursor({"a": 1}),
    _cursor([1]),
    _cursor(["abc", "x"]),
    _cursor([10**30, "x"]),
    _cursor([-(10**30), "x"]),
    _cursor([None, None]),
    _cursor([{"$gt": ""}, "x"]),
    _cursor([[1], {"a": 2}]),
    _cursor(["2020-01-01T00:00:00+99:00", "x"]),
    _cursor(["1500-01-01T00:00:00+00:00", "x"]),
    _cursor([1, 2]),
    _cursor(["9999-99-99", "x"]),
    _cursor([True, False]),
    _cursor([1.5e308, "x"]),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
]


async def test_a_json_body_nested_a_thousand_deep_is_a_422_and_the_connection_stays_usable(served: str) -> None:
    deep = "[" * 1000 + "]" * 1000
    deeper = '{"a":' * 100_000 + "1" + "}" * 100_000
    async with httpx.AsyncClient(base_url=served, limits=httpx.Limits(max_connections=1)) as c:
        for body in (deep, deeper):
            r = await c.post("/api/v1/auth/login", content=body, headers={"Content-Type": "application/json"})
            assert _assert_problem(r)["code"] in ("invalid_input", "payload_too_large")
        assert (await c.get("/healthz")).status_code == 200


async def test_every_cursor_parameter_refuses_a_bad_cursor_with_a_422(client: httpx.AsyncClient, hub: Hub) -> None:
    owner = await register(client, "Cursors")
    # An admin who owns a stream: every paged list answers them past its policy, so the cursor is what is refused.
    await hub.accounts.set_role(UserId(owner["user"]["id"]), Role.ADMIN)
    stream = await create_stream(client, owner)
    doc = (await client.get("/api/v1/openapi.json")).json()
    checked = []
    for path, ops in doc["paths"].items():
        get = ops.get("get")
        if get is None or not any(p["name"] == "cursor" for p in get.get("parameters", [])):
            continue
        url = path.replace("{stream_id}", stream["id"]).replace("{user_id}", owner["user"]["id"])
        assert "{" not in url, url
        for cursor in BAD_CURSORS:
            r = await client.get(url, params={"cursor": cursor}, headers=auth(owner))
            body = _assert_problem(r, 422) if r.status_code != 200 else pytest.fail(f"{url} {cursor}")
            assert body["code"] == "invalid_input"
            assert any(e["field"] == "cursor" for e in body["errors"]), body
        checked.append(path)
    assert "/api/v1/wallet/transactions" in checked
    assert "/api/v1/streams" in checked
    assert "/api/v1/admin/audit" in checked and "/api/v1/admin/reports" in checked


async def test_a_signed_stripe_event_with_a_list_as_data_is_a_400(client: httpx.AsyncClient) -> None:
    for data in ([], [1, 2], "text", 5, {"object": []}, {"object": "x"}, {"object": {"metadata": []}}, None):
        evt = event("payment_intent.succeeded", {})
        evt["data"] = data
        payload, signature = sign(evt, TEST_WEBHOOK_SECRET)
        r = await client.post(
            "/api/v1/stripe/webhook",
            content=payload,
            headers={"Content-Type": "application/json", "Stripe-Signature": signature},
        )
        assert r.status_code < 500, (data, r.status_code, r.text)
        if r.status_code >= 400:
            _assert_problem(r)


FMTP_WITHOUT_RTPMAP = (
    "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\na=group:BUNDLE 0\r\n"
    "m=video 9 UDP/TLS/RTP/SAVPF 96 97\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtcp-mux\r\n"
    "a=ice-ufrag:abcd\r\na=ice-pwd:abcdefghijklmnopqrstuvwx\r\n"
    "a=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\na=setup:actpass\r\n"
    "a=rtpmap:96 VP8/90000\r\na=fmtp:97 apt=96\r\n"
)


async def test_a_whep_offer_with_fmtp_for_an_unmapped_payload_type_is_a_400(client: httpx.AsyncClient) -> None:
    for stream_id in ("no-such-stream", "x" * 64):
        r = await client.post(f"/api/v1/whep/{stream_id}", content=FMTP_WITHOUT_RTPMAP, headers=SDP)
        assert _assert_problem(r)["code"] in ("invalid_sdp", "stream_not_live")
    # A live stream: the offer reaches the parser.
    owner = await register(client, "Fmtp")
    stream = await create_stream(client, owner)
    key = {"Authorization": f"Bearer {stream['stream_key']}", **SDP}
    published = await client.post(f"/api/v1/whip/{stream['id']}", content=offer("chromium", "sendonly"), headers=key)
    assert published.status_code == 201, published.text
    try:
        r = await client.post(f"/api/v1/whep/{stream['id']}", content=FMTP_WITHOUT_RTPMAP, headers=SDP)
        assert _assert_problem(r, 400)["code"] == "invalid_sdp"
    finally:
        await client.delete(published.headers["location"])


async def test_a_whip_offer_with_a_bogus_bundle_group_is_a_400(client: httpx.AsyncClient, hub: Hub) -> None:
    owner = await register(client, "Bundler")
    stream = await create_stream(client, owner)
    key = {"Authorization": f"Bearer {stream['stream_key']}", **SDP}
    offer = FMTP_WITHOUT_RTPMAP.replace("a=fmtp:97 apt=96\r\n", "").replace("recvonly", "sendonly")
    for bundle in ("a=group:BUNDLE 7", "a=group:BUNDLE", "a=group:BUNDLE 0 0 1 zz", "a=group:"):
        r = await client.post(
            f"/api/v1/whip/{stream['id']}", content=offer.replace("a=group:BUNDLE 0", bundle), headers=key
        )
        assert _assert_problem(r, 400)["code"] == "invalid_sdp", bundle
    stats = hub.sfu.stats()
    assert stats["publishers"] == stats["viewers"] == 0


async def test_an_unexpected_failure_is_a_500_problem_with_a_request_id_and_the_connection_survives(
    served: str, hub: Hub, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(hub.streams, "directory", broken)
    transport = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
    peers: set[Any] = set()

    async def note_peer(response: httpx.Response) -> None:
        stream = response.extensions.get("network_stream")
        if stream is not None:
            peers.add(stream.get_extra_info("client_addr"))

    caplog.set_level(logging.INFO)
    async with httpx.AsyncClient(base_url=served, transport=transport, event_hooks={"response": [note_peer]}) as c:
        assert (await c.get("/healthz")).status_code == 200
        caplog.clear()
        r = await c.get("/api/v1/streams")
        body = _assert_problem_500(r)
        request_id = body["request_id"]
        assert r.headers["x-request-id"] == request_id
        assert "secret internal detail" not in r.text
        assert (await c.get("/healthz")).status_code == 200
    assert len(peers) == 1, "the keep-alive connection was dropped after the 500"
    lines = [rec.getMessage() for rec in caplog.records if request_id in rec.getMessage()]
    assert len(lines) == 1, lines
    assert all(rec.exc_info is None for rec in caplog.records if rec.levelno >= logging.ERROR)


def _assert_problem_500(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 500
    assert r.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = r.json()
    assert body["code"] == "internal_error" and body["status"] == 500
    assert "Traceback" not in r.text
    return body


async def test_invalid_input_has_one_shape_whether_the_schema_or_the_service_refuses(
    client: httpx.AsyncClient,
) -> None:
    by_service = await client.post(
        "/api/v1/auth/register",
        json={"email": "shape@example.com", "password": "correct horse", "nickname": "Shape", "phone": "12"},
    )
    by_schema = await client.post("/api/v1/auth/register", json={"email": 5, "password": "x", "nickname": "S"})
    not_json = await client.post("/api/v1/auth/login", content=b"{", headers={"Content-Type": "application/json"})
    for r in (by_service, by_schema, not_json):
        body = _assert_problem(r, 422)
        assert body["code"] == "invalid_input"
        assert "field" not in body, body
        assert body["errors"] and all(set(e) == {"field", "message"} for e in body["errors"]), body
    assert by_service.json()["errors"] == [{"field": "phone", "message": by_service.json()["detail"]}]
    assert not_json.json()["errors"][0]["field"] == "body"
