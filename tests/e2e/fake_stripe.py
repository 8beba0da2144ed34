"""A stand-in for the two Stripe endpoints the browser flow touches: creating a Checkout Session (the hub's SDK call,
pointed here by ``stripe_api_base``) and the hosted Checkout page the browser is sent to. Paying is then completed the
way Stripe completes it: a signed ``checkout.session.completed`` webhook to the hub, and a redirect to ``success_url``.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import stripe
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route


def _nest(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's form encoding (``metadata[topup_id]=...``) back into nested dicts."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return out


@dataclass
class FakeStripe:
    base_url: str = ""
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)

    def app(self) -> Starlette:
        async def create_session(request: Request) -> Response:
            params = _nest(parse_qsl((await request.body()).decode()))
            sid = "cs_test_" + secrets.token_hex(12)
            item = params["line_items"]["0"]["price_data"]
            session = {
                "id": sid,
                "object": "checkout.session",
                "url": f"{self.base_url}/pay/{sid}",
                "payment_intent": "pi_test_" + secrets.token_hex(12),
                "payment_status": "unpaid",
                "status": "open",
                "amount_total": int(item["unit_amount"]),
                "currency": item["currency"],
                "metadata": params.get("metadata", {}),
                "client_reference_id": params.get("client_reference_id"),
                "success_url": params["success_url"],
                "cancel_url": params["cancel_url"],
            }
            self.sessions[sid] = session
            return JSONResponse(session)

        async def pay_page(request: Request) -> Response:
            sid = request.path_params["sid"]
            if sid not in self.sessions:
                return HTMLResponse("no such session", status_code=404)
            amount = self.sessions[sid]["amount_total"] / 100
            page = '<!doctype html><link rel="icon" href="data:,"><title>Test checkout</title>'
            return HTMLResponse(f"{page}<h1 id=pay>Pay ${amount:.2f}</h1>")

        return Starlette(
            routes=[
                Route("/v1/checkout/sessions", create_session, methods=["POST"]),
                Route("/pay/{sid}", pay_page, methods=["GET"]),
            ]
        )

    def completed_event(self, sid: str) -> dict[str, Any]:
        session = {**self.sessions[sid], "payment_status": "paid", "status": "complete"}
        self.sessions[sid] = session
        return {
            "id": "evt_test_" + secrets.token_hex(12),
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "livemode": False,
            "data": {"object": session},
        }


def signed(event: dict[str, Any], webhook_secret: str) -> tuple[bytes, str]:
    """The body and the ``Stripe-Signature`` header Stripe would send, made with the SDK's own helper."""
    payload = json.dumps(event)
    return payload.encode(), stripe.WebhookSignature.generate_signature_header(payload, webhook_secret)
