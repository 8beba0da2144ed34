"""The OpenAPI document is a contract: every operation, called by a guest, a plain user, a stream's owner and an
admin, answers only statuses the document declares, and every JSON success body matches its declared schema."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, ValidationError

from hub.settings import Settings
from mobile_api.app import PREFIX, build_api
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register

ADMIN_EMAIL = "contract-admin@example.com"

#: A valid body per operation (so the call gets past validation and reaches the handler).
BODIES: dict[str, Any] = {
    "register": {"email": "x-{n}@example.com", "password": "correct horse battery", "nickname": "Contract{n}"},
    "login": {"login": "nobody@example.com", "password": "wrong password"},
    "refresh": {"refresh_token": "not-a-token"},
    "patch_me": {"bio": "hello"},
    "create_stream": {"title": "Contract stream"},
    "add_moderator": {"user_id": "{user_id}"},
    "remove_moderator": {"user_id": "{user_id}"},
    "set_role": {"role": "viewer"},
    "set_suspension": {"suspended": False},
    "mod_action": {"action": "slow", "value": 5},
    "send_report": {"reason": "spam", "target_user_id": "{user_id}"},
    "resolve_report": {"resolution": "ok"},
    "create_gift": {
        "id": "g{n}",
        "names": {"en": "Gift", "ru": "Подарок"},
        "coins": 5,
        "beans": 5,
        "effect": {"animation": "sparkle", "duration_ms": 1000},
    },
    "update_gift": {"coins": 6},
    "send_gift": {"gift_id": "{gift_id}", "count": 1, "idempotency_key": "k{n}"},
    "set_goal": {"kind": "beans", "target": 100, "title": "Goal"},
    "send_test_alert": {},
    "admin_resolve_report": {},
    "take_down_stream": {"reason": "contract test"},
    "create_topup": {"pack_id": "nope"},
    "request_cashout": {"beans": 1},
    "approve_cashout": {},
    "reject_cashout": {},
    "set_identity": {"verified": True},
    "create_adjustment": {
        "user_id": "{user_id}",
        "currency": "coins",
        "amount": 10,
        "reason": "contract test",
        "idempotency_key": "adj{n}",
    },
    "set_wallet_freeze": {"frozen": False},
    "verify_wallet": {"reconcile": False},
    "subscribe": {"tier_id": "nope"},
    "gift_subscription": {"recipient_id": "{user_id}", "tier_id": "tier1", "idempotency_key": "s{n}"},
    "create_reward": {"kind": "request", "title": "Contract reward", "cost": 5},
    "change_reward": {"cost": 6},
    "redeem_reward": {"idempotency_key": "redeem-{n}", "text": "hello"},
}


@pytest.fixture
def settings(db_name: str) -> Settings:
    return make_settings(db_name, admin_emails=(ADMIN_EMAIL,))


def _fill(value: Any, names: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**names)
    if isinstance(value, dict):
        return {k: _fill(v, names) for k, v in value.items()}
    return value


def _order(item: tuple[str, str, dict[str, Any]]) -> tuple[int, str]:
    path, method, _ = item
    last = method == "delete" or path.endswith(("/end", "/takedown", "/suspension", "/role", "/key", "/logout"))
    return (2 if last else 1 if method != "get" else 0, path)


async def test_every_operation_answers_only_declared_statuses_with_declared_bodies(
    client: httpx.AsyncClient,
) -> None:
    doc = (await client.get(f"{PREFIX}/openapi.json")).json()
    models: dict[str, type[BaseModel] | None] = {ep.operation_id: ep.response for ep in build_api().endpoints}
    owner = await register(client, "Owner")
    stream = await create_stream(client, owner)
    gifts = (await client.get(f"{PREFIX}/gifts")).json()["items"]
    operations = sorted(
        ((path, method, op) for path, ops in doc["paths"].items() for method, op in ops.items()), key=_order
    )
    problems: list[str] = []
    seen: dict[str, Any] = {}
    for role in ("guest", "viewer", "owner", "admin"):
        if role == "owner":
            caller: dict[str, Any] | None = owner
        elif role == "admin":
            caller = await register(client, "Admin", email=ADMIN_EMAIL)
        elif role == "viewer":
            caller = await register(client, "Viewer")
        else:
            caller = None
        for path, method, op in operations:
            n = secrets.token_hex(3)
            names = {
                "n": n,
                "stream_id": stream["id"],
                "user_id": owner["user"]["id"],
                "gift_id": gifts[0]["id"] if gifts else "rose",
                "cashout_id": "nope",
                "report_id": "nope",
                "topup_id": "nope",
                "session_id": "nope",
                "emote_id": "nope",
                "reward_id": "nope",
                "redemption_id": "nope",
                "recording_id": "nope",
            }
            url = path.format(**names)
            headers = auth(caller) if caller is not None else {}
            kwargs: dict[str, Any] = {"headers": headers}
            content = op.get("requestBody", {}).get("content", {})
            if "application/sdp" in content:
                kwargs["content"] = "v=0\r\nnot an offer\r\n"
                kwargs["headers"] = {**headers, "Content-Type": "application/sdp"}
            elif op["operationId"] == "stripe_webhook":
                kwargs["content"] = b"{}"
                kwargs["headers"] = {**headers, "Content-Type": "application/json", "Stripe-Signature": "t=1,v1=x"}
            elif "application/json" in content:
                kwargs["json"] = _fill(BODIES.get(op["operationId"], {}), names)
            r = await client.request(method.upper(), url, **kwargs)
            where = f"{role}: {method.upper()} {path} -> {r.status_code}"
            if str(r.status_code) not in op["responses"]:
                problems.append(f"{where} is not declared ({r.text[:120]})")
                continue
            if r.status_code >= 400 or r.status_code == 204:
                continue
            if not r.headers.get("content-type", "").startswith("application/json"):
                continue
            seen.setdefault(op["operationId"], r.json())
            model = models[op["operationId"]]
            if model is None:
                problems.append(f"{where} returns JSON but declares no response model")
                continue
            try:
                model.model_validate(r.json())
            except ValidationError as exc:
                problems.append(f"{where} body does not match {model.__name__}: {exc}")
    assert len(seen) >= 35, sorted(seen)  # the walk must reach most handlers, or it proves little
    assert not problems, "\n".join(problems)


async def test_every_reference_in_the_document_resolves(client: httpx.AsyncClient) -> None:
    doc = (await client.get(f"{PREFIX}/openapi.json")).json()
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(doc)
    assert refs
    schemas = doc["components"]["schemas"]
    unresolved = sorted(
        {r for r in refs if not r.startswith("#/components/schemas/") or r.split("/")[-1] not in schemas}
    )
    assert not unresolved, unresolved
