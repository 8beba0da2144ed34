"""Synthetic Stripe events, signed with the real SDK exactly as Stripe signs them (``t=...,v1=...``)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import stripe


def event(kind: str, obj: dict[str, Any], event_id: str | None = None) -> dict[str, Any]:
    return {
        "id": event_id or "evt_" + secrets.token_hex(12),
        "object": "event",
        "type": kind,
        "api_version": "2025-01-27.acacia",
        "created": 1_700_000_000,
        "livemode": False,
        "data": {"object": obj},
    }


def sign(evt: dict[str, Any], secret: str) -> tuple[bytes, str]:
    payload = json.dumps(evt, separators=(",", ":"))
    return payload.encode(), stripe.WebhookSignature.generate_signature_header(payload, secret)


def checkout_completed(topup_id: str, intent_id: str, amount: int, *, paid: bool = True) -> dict[str, Any]:
    return event(
        "checkout.session.completed",
        {
            "id": "cs_test_" + topup_id,
            "object": "checkout.session",
            "amount_total": amount,
            "currency": "usd",
            "payment_intent": intent_id,
            "payment_status": "paid" if paid else "unpaid",
            "metadata": {"topup_id": topup_id},
        },
    )


def checkout_async_succeeded(topup_id: str, intent_id: str, amount: int) -> dict[str, Any]:
    evt = checkout_completed(topup_id, intent_id, amount)
    evt["type"] = "checkout.session.async_payment_succeeded"
    return evt


def intent_succeeded(topup_id: str, intent_id: str, amount: int) -> dict[str, Any]:
    return event(
        "payment_intent.succeeded",
        {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": "usd",
            "status": "succeeded",
            "metadata": {"topup_id": topup_id},
        },
    )


def charge_refunded(charge_id: str, intent_id: str, amount: int, refunded: int) -> dict[str, Any]:
    return event(
        "charge.refunded",
        {
            "id": charge_id,
            "object": "charge",
            "amount": amount,
            "amount_refunded": refunded,
            "currency": "usd",
            "payment_intent": intent_id,
            "refunded": refunded >= amount,
            "metadata": {},
        },
    )


def dispute_created(dispute_id: str, charge_id: str, intent_id: str, amount: int) -> dict[str, Any]:
    return event(
        "charge.dispute.created",
        {
            "id": dispute_id,
            "object": "dispute",
            "amount": amount,
            "currency": "usd",
            "charge": charge_id,
            "payment_intent": intent_id,
            "reason": "fraudulent",
            "status": "needs_response",
        },
    )
