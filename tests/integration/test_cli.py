"""``hub serve`` on the embedded defaults starts a working hub; production mode refuses missing secrets."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx

from tests.support.servers import free_port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(extra)
    return env


def test_hub_serve_starts_on_embedded_defaults_and_registers_a_user() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "serve", "--port", str(port)],
        env=_env(HUB_BCRYPT_ROUNDS="4"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "hub serve did not come up"
            assert proc.poll() is None, "hub serve exited"
            time.sleep(0.1)
        r = httpx.post(
            base + "/api/v1/auth/register",
            json={"email": "cli@example.com", "password": "cli password", "nickname": "Cli"},
        )
        assert r.status_code == 201
        token = r.json()["access_token"]
        r = httpx.post(
            base + "/api/v1/streams", json={"title": "From the CLI"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert r.status_code == 201
        assert (
            httpx.get(base + "/api/v1/streams", params={"status": "created"}).json()["items"][0]["title"]
            == "From the CLI"
        )
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert f"http://127.0.0.1:{port}/" in out
    assert "HUB_JWT_SECRET is not set; generated" in out


def test_production_mode_without_secrets_exits_with_a_clear_message() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve"],
        env=_env(HUB_MODE="production"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "HUB_JWT_SECRET" in r.stderr and "HUB_MONGO_URL" in r.stderr


def test_production_mode_with_weak_secrets_exits_naming_each_and_why() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "hub.cli", "serve"],
        env=_env(
            HUB_MODE="production",
            HUB_JWT_SECRET="a" * 32,
            HUB_STRIPE_SECRET_KEY="sk_test_51NcXyZAbCdEfGhIjKlMnOpQrStUvWxYz01234",
            HUB_STRIPE_WEBHOOK_SECRET="x",
            HUB_MONGO_URL="mongodb://127.0.0.1:1",
            HUB_VAPID_PRIVATE_KEY="A" * 42 + "E",
        ),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2
    assert "HUB_JWT_SECRET is too predictable" in r.stderr
    assert "HUB_VAPID_PRIVATE_KEY is too predictable" in r.stderr
    assert "HUB_STRIPE_SECRET_KEY is a test-mode key (sk_test_" in r.stderr
    assert "HUB_STRIPE_WEBHOOK_SECRET is not a Stripe webhook signing secret" in r.stderr
    assert "live hub listening" not in r.stdout
