"""A small Stripe-compatible HTTP endpoint for the Billing calls the hub makes (``localstripe`` has no Billing):
customers, products, Checkout Sessions in subscription mode, subscriptions create / update / retrieve. The real
``stripe`` SDK is pointed at it (``HUB_STRIPE_API_BASE``); it parses the SDK's form encoding, keeps its objects in
memory, and lets a test play Stripe's side (complete a checkout, renew, fail a renewal, end a subscription) and build
the matching events, which the test signs with the webhook secret (``tests/support/stripe_events.py``)."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from tests.support import stripe_events
from tests.support.servers import serve_asgi

MONTH_S = 30 * 24 * 3600


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``a[b][0][c]=v``) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = [key.split("[", 1)[0], *re.findall(r"\[([^\]]*)\]", key)]
        node: Any = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            nxt: Any = value if last else ([] if parts[i + 1].isdigit() else {})
            if isinstance(node, list):
                index = int(part)
                while len(node) <= index:
                    node.append(None)
                if node[index] is None or last:
                    node[index] = nxt
                node = node[index]
            else:
                if part not in node or last:
                    node[part] = nxt
                node = node[part]
    return root


@dataclass
class FakeStripe:
    url: str = ""
    requests: list[tuple[str, str, dict[str, Any], str | None]] = field(default_factory=list)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    products: dict[str, dict[str, Any]] = field(default_factory=dict)
    sessions: dict[str, dict[str, Any]] = field(default_factory=dict)
    subscriptions: dict[str, dict[str, Any]] = field(default_factory=dict)
    idempotent: dict[str, dict[str, Any]] = field(default_factory=dict)
    now: int = 1_800_000_000
    failing: bool = False

    # Stripe's side of the story
    def new_subscription(self, customer: str, metadata: dict[str, str], price: dict[str, Any], status: str) -> str:
        sub_id = "sub_" + secrets.token_hex(8)
        invoice_id = "in_" + secrets.token_hex(8)
        self.subscriptions[sub_id] = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": status,
            "cancel_at_period_end": False,
            "metadata": dict(metadata),
            "items": {
                "object": "list",
                "data": [
                    {
                        "id": "si_" + secrets.token_hex(6),
                        "object": "subscription_item",
                        "current_period_start": self.now,
                        "current_period_end": self.now + MONTH_S,
                        "price": {"object": "price", **price},
                    }
                ],
            },
            "latest_invoice": invoice_id,
            "_invoice": {
                "id": invoice_id,
                "object": "invoice",
                "confirmation_secret": {"client_secret": f"{invoice_id}_secret_{secrets.token_hex(6)}"},
            },
        }
        return sub_id

    def complete_checkout(self, session_id: str) -> str:
        """The buyer paid on Checkout's page: Stripe creates the active subscription."""
        session = self.sessions[session_id]
        item = session["line_items"][0]["price_data"]
        sub_id = self.new_subscription(session["customer"], session["subscription_data"]["metadata"], item, "active")
        session["subscription"] = sub_id
        return sub_id

    def set(self, sub_id: str, **fields: Any) -> dict[str, Any]:
        self.subscriptions[sub_id].update(fields)
        return self.subscriptions[sub_id]

    def renew(self, sub_id: str) -> None:
        """The next period begins (whether its invoice gets paid is another event)."""
        item = self.subscriptions[sub_id]["items"]["data"][0]
        item["current_period_start"] = item["current_period_end"]
        item["current_period_end"] += MONTH_S

    def period(self, sub_id: str) -> tuple[int, int]:
        item = self.subscriptions[sub_id]["items"]["data"][0]
        return int(item["current_period_start"]), int(item["current_period_end"])

    def subscription_event(self, kind: str, sub_id: str, *, created: int) -> dict[str, Any]:
        obj = {k: v for k, v in self.subscriptions[sub_id].items() if not k.startswith("_")}
        evt = stripe_events.event(kind, _copy(obj))
        evt["created"] = created
        return evt

    def invoice_event(
        self,
        kind: str,
        sub_id: str,
        *,
        invoice_id: str | None = None,
        amount: int | None = None,
        created: int,
        billing_reason: str = "subscription_cycle",
    ) -> dict[str, Any]:
        sub = self.subscriptions[sub_id]
        start, end = self.period(sub_id)
        price = sub["items"]["data"][0]["price"]
        due = int(price["unit_amount"]) if amount is None else amount
        paid = kind == "invoice.paid"
        invoice = {
            "id": invoice_id or "in_" + secrets.token_hex(8),
            "object": "invoice",
            "status": "paid" if paid else "open",
            "amount_due": due,
            "amount_paid": due if paid else 0,
            "currency": price["currency"],
            "customer": sub["customer"],
            "billing_reason": billing_reason,
            "charge": "ch_" + secrets.token_hex(8) if paid else None,
            "payment_intent": "pi_" + secrets.token_hex(8),
            "parent": {
                "type": "subscription_details",
                "subscription_details": {"subscription": sub_id, "metadata": dict(sub["metadata"])},
            },
            "lines": {"object": "list", "data": [{"object": "line_item", "period": {"start": start, "end": end}}]},
        }
        evt = stripe_events.event(kind, invoice)
        evt["created"] = created
        return evt

    def refund_event(
        self, paid: dict[str, Any], refunded: int, *, created: int, names_invoice: bool = True
    ) -> dict[str, Any]:
        """``charge.refunded`` for a paid invoice's charge, ``refunded`` cents in all so far (Stripe's
        ``amount_refunded`` is cumulative). Since API 2025-03-31 a charge no longer names its invoice
        (``names_invoice=False``)."""
        invoice = paid["data"]["object"]
        charge = {
            "id": invoice["charge"],
            "object": "charge",
            "amount": invoice["amount_paid"],
            "amount_refunded": refunded,
            "refunded": refunded >= invoice["amount_paid"],
            "currency": invoice["currency"],
            "payment_intent": invoice["payment_intent"],
        }
        if names_invoice:
            charge["invoice"] = invoice["id"]
        evt = stripe_events.event("charge.refunded", charge)
        evt["created"] = created
        return evt

    def credit_note_event(self, paid: dict[str, Any], amount: int, *, created: int) -> dict[str, Any]:
        """``credit_note.created`` on a paid invoice (refunded to the card: its charge's refund is another event)."""
        invoice = paid["data"]["object"]
        note = {
            "id": "cn_" + secrets.token_hex(8),
            "object": "credit_note",
            "invoice": invoice["id"],
            "amount": amount,
            "post_payment_amount": amount,
            "pre_payment_amount": 0,
            "currency": invoice["currency"],
            "status": "issued",
            "type": "post_payment",
        }
        evt = stripe_events.event("credit_note.created", note)
        evt["created"] = created
        return evt

    # The HTTP side
    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/customers", self._customers, methods=["POST"]),
                Route("/v1/products", self._products, methods=["POST"]),
                Route("/v1/checkout/sessions", self._sessions, methods=["POST"]),
                Route("/v1/subscriptions", self._create_subscription, methods=["POST"]),
                Route("/v1/subscriptions/{sub_id}", self._subscription, methods=["GET", "POST"]),
            ]
        )

    async def _read(self, request: Request) -> tuple[dict[str, Any], str | None]:
        if request.method == "GET":
            params = parse_form(request.url.query)
        else:
            params = parse_form((await request.body()).decode())
        key = request.headers.get("idempotency-key")
        self.requests.append((request.method, request.url.path, params, key))
        return params, key

    def _refuse(self) -> JSONResponse | None:
        if self.failing:
            return JSONResponse({"error": {"type": "api_error", "message": "down"}}, status_code=500)
        return None

    def _once(self, key: str | None, make: Any) -> JSONResponse:
        if key is not None and key in self.idempotent:
            return JSONResponse(self.idempotent[key])
        obj = make()
        if key is not None:
            self.idempotent[key] = obj
        return JSONResponse(obj)

    async def _customers(self, request: Request) -> JSONResponse:
        params, key = await self._read(request)
        if (refused := self._refuse()) is not None:
            return refused

        def make() -> dict[str, Any]:
            cus = {"id": "cus_" + secrets.token_hex(8), "object": "customer", **params}
            self.customers[cus["id"]] = cus
            return cus

        return self._once(key, make)

    async def _products(self, request: Request) -> JSONResponse:
        params, key = await self._read(request)
        if (refused := self._refuse()) is not None:
            return refused

        def make() -> dict[str, Any]:
            prod = {"id": "prod_" + secrets.token_hex(8), "object": "product", **params}
            self.products[prod["id"]] = prod
            return prod

        return self._once(key, make)

    async def _sessions(self, request: Request) -> JSONResponse:
        params, key = await self._read(request)
        if (refused := self._refuse()) is not None:
            return refused

        def make() -> dict[str, Any]:
            sid = "cs_test_" + secrets.token_hex(8)
            session = {"id": sid, "object": "checkout.session", "url": f"https://checkout.example/{sid}", **params}
            self.sessions[sid] = session
            return session

        return self._once(key, make)

    async def _create_subscription(self, request: Request) -> JSONResponse:
        params, key = await self._read(request)
        if (refused := self._refuse()) is not None:
            return refused

        def make() -> dict[str, Any]:
            sub_id = self.new_subscription(
                params["customer"], params.get("metadata", {}), params["items"][0]["price_data"], "incomplete"
            )
            return self._view(sub_id, expand="latest_invoice.confirmation_secret" in params.get("expand", []))

        return self._once(key, make)

    async def _subscription(self, request: Request) -> JSONResponse:
        params, _ = await self._read(request)
        if (refused := self._refuse()) is not None:
            return refused
        sub_id = request.path_params["sub_id"]
        if sub_id not in self.subscriptions:
            return JSONResponse({"error": {"type": "invalid_request_error", "code": "resource_missing"}}, 404)
        if request.method == "POST" and "cancel_at_period_end" in params:
            self.subscriptions[sub_id]["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
        if request.method == "POST" and "items" in params:  # a price change (a tier change): prorated by Stripe
            sub = self.subscriptions[sub_id]
            item = sub["items"]["data"][0]
            if params["items"][0].get("id") != item["id"]:
                return JSONResponse({"error": {"type": "invalid_request_error", "code": "resource_missing"}}, 404)
            item["price"] = {"object": "price", **params["items"][0]["price_data"]}
            sub["metadata"] = dict(params.get("metadata") or sub["metadata"])
            sub["_proration"] = params.get("proration_behavior")
        return JSONResponse(self._view(sub_id, expand=False))

    def _view(self, sub_id: str, *, expand: bool) -> dict[str, Any]:
        sub = self.subscriptions[sub_id]
        out = {k: v for k, v in sub.items() if not k.startswith("_")}
        if expand:
            out["latest_invoice"] = sub["_invoice"]
        return _copy(out)


def _copy(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj


@contextlib.asynccontextmanager
async def fake_stripe() -> AsyncIterator[FakeStripe]:
    stripe = FakeStripe()
    async with serve_asgi(stripe.app()) as url:
        stripe.url = url
        yield stripe
