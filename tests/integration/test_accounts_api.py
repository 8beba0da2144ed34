"""Accounts over HTTP: registration, login, token rotation and revocation, profiles and follows."""

from __future__ import annotations

from datetime import timedelta

import httpx
import jwt

from hub.wiring import Hub
from tests.conftest import TEST_JWT_SECRET
from tests.support.api import auth, register


async def test_register_returns_user_and_tokens_and_me_works(client: httpx.AsyncClient) -> None:
    s = await register(client, "Alice", phone="+1 415 555 0100")
    assert s["user"]["nickname"] == "Alice"
    assert s["user"]["phone"] == "+14155550100"
    assert "password_hash" not in s["user"]
    r = await client.get("/api/v1/me", headers=auth(s))
    assert r.status_code == 200
    assert r.json()["email"] == s["email"]


async def test_duplicate_email_and_phone_are_refused_with_a_clear_error(client: httpx.AsyncClient) -> None:
    s = await register(client, "Bob", phone="+442071234567")
    r = await client.post(
        "/api/v1/auth/register",
        json={"email": s["email"].upper(), "password": "another pass", "nickname": "Bob2"},
    )
    assert r.status_code == 409
    assert r.json()["code"] == "duplicate_account"
    assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.post(
        "/api/v1/auth/register",
        json={"email": "other@example.com", "password": "another pass", "nickname": "Bob3", "phone": "+442071234567"},
    )
    assert r.status_code == 409
    assert r.json()["field"] == "phone"


async def test_login_with_email_or_phone(client: httpx.AsyncClient) -> None:
    s = await register(client, "Carol", phone="+33612345678")
    for login in (s["email"], "+33 6 12 34 56 78"):
        r = await client.post("/api/v1/auth/login", json={"login": login, "password": s["password"]})
        assert r.status_code == 200, r.text
        assert r.json()["user"]["id"] == s["user"]["id"]
    r = await client.post("/api/v1/auth/login", json={"login": s["email"], "password": "wrong password"})
    assert r.status_code == 401
    assert r.json()["code"] == "invalid_credentials"


async def test_login_attempts_are_rate_limited(client: httpx.AsyncClient) -> None:
    s = await register(client, "Dave")
    codes = []
    for _ in range(8):
        r = await client.post("/api/v1/auth/login", json={"login": s["email"], "password": "wrong password"})
        codes.append(r.status_code)
    assert codes[:5] == [401] * 5
    assert 429 in codes[5:]
    limited = next(r for r in [r] if r.status_code == 429)
    assert int(limited.headers["Retry-After"]) >= 1


async def test_refresh_rotates_and_reuse_revokes_the_family(client: httpx.AsyncClient) -> None:
    s = await register(client, "Erin")
    r1 = await client.post("/api/v1/auth/refresh", json={"refresh_token": s["refresh_token"]})
    assert r1.status_code == 200
    pair = r1.json()
    assert pair["refresh_token"] != s["refresh_token"]
    # The old token again: reuse. The whole family is revoked, including the new pair.
    r2 = await client.post("/api/v1/auth/refresh", json={"refresh_token": s["refresh_token"]})
    assert r2.status_code == 401
    assert r2.json()["code"] == "token_reused"
    r3 = await client.post("/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r3.status_code == 401
    r4 = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert r4.status_code == 401


async def test_logout_revokes_access_and_refresh(client: httpx.AsyncClient) -> None:
    s = await register(client, "Frank")
    r = await client.post("/api/v1/auth/logout", headers=auth(s))
    assert r.status_code == 204
    assert (await client.get("/api/v1/me", headers=auth(s))).status_code == 401
    r = await client.post("/api/v1/auth/refresh", json={"refresh_token": s["refresh_token"]})
    assert r.status_code == 401


async def test_forged_expired_and_malformed_tokens_are_refused(client: httpx.AsyncClient, hub: Hub) -> None:
    s = await register(client, "Grace")
    claims = jwt.decode(s["access_token"], options={"verify_signature": False})
    forged = jwt.encode({**claims, "role": "admin"}, "another-secret-" + "q" * 40, algorithm="HS256")
    now = hub.clock.now()
    expired = jwt.encode(
        {**claims, "exp": int((now - timedelta(minutes=5)).timestamp())}, TEST_JWT_SECRET, algorithm="HS256"
    )
    unsigned = jwt.encode({**claims}, None, algorithm="none")
    for token, code in (
        (forged, "invalid_token"),
        (expired, "token_expired"),
        (unsigned, "invalid_token"),
        ("garbage", "invalid_token"),
    ):
        r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, token
        assert r.json()["code"] == code
    r = await client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert r.status_code == 401


async def test_clock_skew_allowance_accepts_a_token_just_past_expiry(client: httpx.AsyncClient, hub: Hub) -> None:
    s = await register(client, "Heidi")
    claims = jwt.decode(s["access_token"], options={"verify_signature": False})
    now = hub.clock.now()
    just_expired = jwt.encode(
        {**claims, "exp": int((now - timedelta(seconds=10)).timestamp())}, TEST_JWT_SECRET, algorithm="HS256"
    )
    r = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {just_expired}"})
    assert r.status_code == 200  # within the 30 s leeway


async def test_profile_update_and_public_profile_and_follow(client: httpx.AsyncClient) -> None:
    a = await register(client, "Ivan")
    b = await register(client, "Judy")
    r = await client.patch("/api/v1/me", json={"bio": "  hello  ", "nickname": "Ivan the Great"}, headers=auth(a))
    assert r.status_code == 200
    assert r.json()["bio"] == "hello"
    r = await client.patch("/api/v1/me", json={"nickname": "x\u0007y"}, headers=auth(a))
    assert r.status_code == 422
    r = await client.post(f"/api/v1/users/{a['user']['id']}/follow", headers=auth(b))
    assert r.status_code == 204
    r = await client.post(f"/api/v1/users/{a['user']['id']}/follow", headers=auth(b))  # idempotent
    assert r.status_code == 204
    profile = (await client.get(f"/api/v1/users/{a['user']['id']}")).json()
    assert profile["followers"] == 1
    assert profile["nickname"] == "Ivan the Great"
    assert "email" not in profile
    r = await client.post(f"/api/v1/users/{a['user']['id']}/follow", headers=auth(a))
    assert r.status_code == 422
    r = await client.delete(f"/api/v1/users/{a['user']['id']}/follow", headers=auth(b))
    assert r.status_code == 204
    assert (await client.get(f"/api/v1/users/{a['user']['id']}")).json()["followers"] == 0
    assert (await client.get("/api/v1/users/nope")).status_code == 404


async def test_bad_bodies_get_problem_json_and_change_nothing(client: httpx.AsyncClient) -> None:
    cases = [
        (b"not json", "invalid_input"),
        (b'{"email": 5, "password": "x", "nickname": "n"}', "invalid_input"),
        (b'{"email": "a@b.co", "password": "short", "nickname": "Kim"}', "invalid_input"),
        (b'{"email": "no-at-sign", "password": "long enough", "nickname": "Kim"}', "invalid_input"),
        (b'{"email": "a@b.co", "password": "long enough", "nickname": "Kim", "extra": 1}', "invalid_input"),
        (b"", "invalid_input"),
    ]
    for body, code in cases:
        r = await client.post("/api/v1/auth/register", content=body, headers={"content-type": "application/json"})
        assert r.status_code == 422, body
        assert r.json()["code"] == code
        assert "Traceback" not in r.text
    r = await client.post("/api/v1/auth/login", json={"login": "a@b.co", "password": "long enough"})
    assert r.status_code == 401  # nothing was registered


async def test_oversized_body_is_refused_with_413(client: httpx.AsyncClient) -> None:
    big = b'{"email": "' + b"a" * (2 << 20) + b'"}'
    r = await client.post("/api/v1/auth/register", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413
    assert r.json()["code"] == "payload_too_large"


async def test_admin_emails_from_settings_become_admins(settings: object, mongo_client: object) -> None:
    from dataclasses import replace

    from hub.app import create_app

    hub = Hub(
        replace(settings, accounts=replace(settings.accounts, admin_emails=("boss@example.com",))),
        mongo_client=mongo_client,
    )  # type: ignore[type-var]
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        r = await c.post(
            "/api/v1/auth/register", json={"email": "Boss@Example.com", "password": "boss password", "nickname": "Boss"}
        )
        assert r.json()["user"]["role"] == "admin"
        r = await c.post(
            "/api/v1/auth/register", json={"email": "pleb@example.com", "password": "pleb password", "nickname": "Pleb"}
        )
        assert r.json()["user"]["role"] == "viewer"


async def test_admin_only_endpoints_refuse_other_roles_and_admins_manage_accounts(
    settings: object, mongo_client: object
) -> None:
    from dataclasses import replace

    from hub.app import create_app

    hub = Hub(
        replace(settings, accounts=replace(settings.accounts, admin_emails=("root@example.com",))),
        mongo_client=mongo_client,
    )  # type: ignore[type-var]
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        admin = await register(c, "Root", email="root@example.com")
        mod = await register(c, "Moddy")
        user = await register(c, "Target")
        target = user["user"]["id"]
        for who in (mod, user):
            for path, body in (("role", {"role": "admin"}), ("suspension", {"suspended": True})):
                r = await c.post(f"/api/v1/admin/users/{target}/{path}", json=body, headers=auth(who))
                assert r.status_code == 403, (path, r.text)
        r = await c.post(
            f"/api/v1/admin/users/{mod['user']['id']}/role", json={"role": "moderator"}, headers=auth(admin)
        )
        assert r.status_code == 200 and r.json()["role"] == "moderator"
        r = await c.post(f"/api/v1/admin/users/{target}/role", json={"role": "emperor"}, headers=auth(admin))
        assert r.status_code == 422
        # A suspension signs the user out everywhere and refuses logins.
        r = await c.post(f"/api/v1/admin/users/{target}/suspension", json={"suspended": True}, headers=auth(admin))
        assert r.status_code == 200 and r.json()["suspended"] is True
        assert (await c.get("/api/v1/me", headers=auth(user))).status_code == 401
        r = await c.post("/api/v1/auth/login", json={"login": user["email"], "password": user["password"]})
        assert r.status_code == 403 and r.json()["code"] == "account_suspended"
        r = await c.post("/api/v1/auth/refresh", json={"refresh_token": user["refresh_token"]})
        assert r.status_code == 401
        r = await c.post(f"/api/v1/admin/users/{target}/suspension", json={"suspended": False}, headers=auth(admin))
        r = await c.post("/api/v1/auth/login", json={"login": user["email"], "password": user["password"]})
        assert r.status_code == 200
