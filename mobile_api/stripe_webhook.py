"""``POST /stripe/webhook``: Stripe's events. The signature is verified on the raw body, so this endpoint reads the
body itself (``raw_body``) instead of letting the router parse JSON."""

from __future__ import annotations

from typing import Any

from mobile_api.routing import Api, Call, read_limited
from mobile_api.schemas import WebhookAckOut

api = Api()


@api.route(
    "POST",
    "/stripe/webhook",
    summary="Stripe webhook events (signature verified; duplicates and any order are harmless)",
    tags=("wallet",),
    auth="none",
    raw_body="application/json",
    responses={400: "the signature does not verify; nothing changed", 503: "try again later (Stripe retries)"},
    response=WebhookAckOut,
)
async def stripe_webhook(call: Call) -> dict[str, Any]:
    payload = await read_limited(call.request, call.ctx.settings.max_body_bytes)
    return await call.ctx.use.payments.stripe_event(payload, call.request.headers.get("stripe-signature"))
