"""Stripe's word on payments: webhook events, verified on the raw body, each recorded once, crediting a top-up's
coins once (or clawing them back on a refund or dispute) whatever the order events arrive in. There is no caller
to authorize: the signature is the authority."""

from __future__ import annotations

from typing import Any

from wallet.webhooks import StripeWebhooks


class Payments:
    def __init__(self, webhooks: StripeWebhooks) -> None:
        self._webhooks = webhooks

    async def stripe_event(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """One webhook delivery: ``payload`` exactly as received, ``signature`` the ``Stripe-Signature`` header."""
        return await self._webhooks.handle(payload, signature)
