"""``hub wallet verify`` as an operator runs it: a real process, exit status and report.

Without ``HUB_MONGO_URL`` there is no ledger the command could read (the stand-in lives inside the running node), so
it refuses; pointed at a running node (``--url``, an admin's token) it verifies that node's ledger, real transfers
included, through ``POST /api/v1/admin/wallet/verify``.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.coins import give_coins
from tests.support.servers import free_port, serve_asgi
from wallet.accounts import user_coins

ADMIN_EMAIL = "ledger-admin@example.com"


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_") and "proxy" not in k.lower()}
    return {**env, "HUB_LOG_LEVEL": "ERROR", **extra}


async def hub_cli(*args: str, **env: str) -> tuple[int, str, str]:
    """Run ``hub`` in its own process without blocking this loop (the node under test serves from it)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hub.cli",
        *args,
        env=_env(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def _report(stdout: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(stdout[stdout.index("{") :])
    return data


async def test_hub_wallet_verify_without_a_database_refuses_and_says_how_to_verify_the_running_node() -> None:
    code, out, err = await hub_cli("wallet", "verify", "--json")
    assert code == 2
    assert "verifies clean" not in out and '"ok"' not in out
    assert "HUB_MONGO_URL is not set" in err
    assert "inside the running `hub serve`" in err
    assert "hub wallet verify --url http://127.0.0.1:8080 --token" in err


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    settings = make_settings(db_name, bean_hold_s=0.0, admin_emails=(ADMIN_EMAIL,), gift_burst=100)
    hub = Hub(settings, mongo_client=mongo_client)
    async with serve_asgi(create_app(hub)) as url, httpx.AsyncClient(base_url=url, timeout=20) as http:
        yield url, http, hub
    await mongo_client.drop_database(db_name)


async def _real_transfers(http: httpx.AsyncClient, hub: Hub) -> None:
    """A paid top-up and two gifts: what a node's ledger holds after an evening."""
    streamer = await register(http, "Star")
    fan = await register(http, "Fan")
    stream = await create_stream(http, streamer)
    assert (await http.post(f"/api/v1/streams/{stream['id']}/live", headers=auth(streamer))).status_code == 200
    await give_coins(http, hub, fan["user"]["id"], 500)
    for key in ("g1", "g2"):
        r = await http.post(
            f"/api/v1/streams/{stream['id']}/gifts",
            json={"gift_id": "rose", "count": 1, "idempotency_key": key},
            headers=auth(fan),
        )
        assert r.status_code == 200, r.text


async def test_hub_wallet_verify_url_verifies_the_running_nodes_ledger_with_its_real_transfers(
    node: tuple[str, httpx.AsyncClient, Hub],
) -> None:
    url, http, hub = node
    admin = await register(http, "Admin", email=ADMIN_EMAIL)
    await _real_transfers(http, hub)

    code, out, err = await hub_cli("wallet", "verify", "--url", url, "--token", admin["access_token"], "--json")
    assert code == 0, err
    report = _report(out)
    assert report["ok"] is True and report["problems"] == []
    assert report["transfers"] >= 3  # the top-up and both gifts, not an empty stand-in
    assert report["totals"]["coins_bought"] == 500
    assert report["totals"]["coins_held"] + report["totals"]["coins_spent"] == 500
    assert report["totals"]["coins_spent"] > 0

    # the token from the environment, the human-readable report
    code, out, _ = await hub_cli("wallet", "verify", "--url", url, "--reconcile", HUB_ADMIN_TOKEN=admin["access_token"])
    assert code == 0 and "ledger verifies clean" in out and "coins_bought: 500" in out


async def test_hub_wallet_verify_url_exits_one_when_the_running_nodes_ledger_differs(
    node: tuple[str, httpx.AsyncClient, Hub],
) -> None:
    url, http, hub = node
    admin = await register(http, "Admin", email=ADMIN_EMAIL)
    fan = await register(http, "Fan")
    await give_coins(http, hub, fan["user"]["id"], 300)
    # a balance edited behind the ledger's back (what the check exists to catch)
    await hub.db["wallet_accounts"].update_one({"_id": user_coins(fan["user"]["id"])}, {"$inc": {"balance": 7}})

    code, out, _ = await hub_cli("wallet", "verify", "--url", url, "--token", admin["access_token"], "--json")
    assert code == 1
    report = _report(out)
    assert report["ok"] is False
    assert any("balance 307 but the ledger says 300" in p for p in report["problems"])


async def test_hub_wallet_verify_url_refuses_without_an_admin_token(node: tuple[str, httpx.AsyncClient, Hub]) -> None:
    url, http, _ = node
    plain = await register(http, "Plain")
    code, out, err = await hub_cli("wallet", "verify", "--url", url)
    assert code == 2 and "needs an admin's access token" in err
    code, out, err = await hub_cli("wallet", "verify", "--url", url, "--token", plain["access_token"])
    assert code == 2 and "403" in err and "admins only" in err and "verifies clean" not in out
    code, out, err = await hub_cli("wallet", "verify", "--url", url, "--token", "not-a-token")
    assert code == 2 and "401" in err
    code, out, err = await hub_cli("wallet", "verify", "--url", f"http://127.0.0.1:{free_port()}", "--token", "t")
    assert code == 2 and "cannot reach" in err


async def test_admin_wallet_verify_endpoint_is_for_admins_and_declared_in_the_openapi(
    node: tuple[str, httpx.AsyncClient, Hub],
) -> None:
    _, http, hub = node
    admin = await register(http, "Admin", email=ADMIN_EMAIL)
    plain = await register(http, "Plain")
    await give_coins(http, hub, plain["user"]["id"], 70)
    assert (await http.post("/api/v1/admin/wallet/verify", json={})).status_code == 401
    r = await http.post("/api/v1/admin/wallet/verify", json={}, headers=auth(plain))
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    r = await http.post("/api/v1/admin/wallet/verify", json={"reconcile": True}, headers=auth(admin))
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["totals"]["coins_bought"] == 70
    r = await http.post("/api/v1/admin/wallet/verify", json={"reconcile": "yes"}, headers=auth(admin))
    assert r.status_code == 422

    op = (await http.get("/api/v1/openapi.json")).json()["paths"]["/api/v1/admin/wallet/verify"]["post"]
    assert {"200", "401", "403", "422", "503"} <= set(op["responses"])
    schema = op["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema != {"type": "object"}


async def test_hub_wallet_verify_covers_the_channel_points_ledger(node: tuple[str, httpx.AsyncClient, Hub]) -> None:
    url, http, hub = node
    admin = await register(http, "Admin", email=ADMIN_EMAIL)
    streamer, fan = await register(http, "Streamer"), await register(http, "Fan")
    r = await http.post(f"/api/v1/users/{streamer['user']['id']}/follow", headers=auth(fan))
    assert r.status_code < 300, r.text  # the follow earns channel points

    code, out, err = await hub_cli("wallet", "verify", "--url", url, "--token", admin["access_token"], "--json")
    assert code == 0, err
    assert _report(out)["totals"]["points_held"] == 50
    # a points balance edited behind the points ledger's back
    await hub.db["loyalty_accounts"].update_one(
        {"_id": f"points:{streamer['user']['id']}:{fan['user']['id']}"}, {"$inc": {"balance": 1000}}
    )
    code, out, err = await hub_cli("wallet", "verify", "--url", url, "--token", admin["access_token"])
    assert code == 1, (out, err)
    assert "DIFFERENCE: points: points account" in err and "balance 1050 but the ledger says 50" in err
