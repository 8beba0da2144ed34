"""Stripe behind a narrow seam: create Checkout Sessions and PaymentIntents, read a PaymentIntent, verify webhooks.

Uses the real ``stripe`` SDK (``StripeClient``, async over httpx). The API base is configurable so tests point it at
a local emulator. Stripe's errors are translated here: unreachable or failing → ``PaymentProviderUnavailableError``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import stripe

from wallet.errors import BadSignatureError, MalformedEventError, PaymentProviderUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CheckoutSession:
    id: str
    url: str | None
    payment_intent: str | None


@dataclass(frozen=True, slots=True)
class PaymentIntent:
    id: str
    client_secret: str | None
    status: str
    metadata: dict[str, str]


class StripeGateway:
    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        *,
        api_base: str | None = None,
        public_url: str = "http://127.0.0.1:8080",
        timeout_s: float = 10.0,
    ) -> None:
        base = {"api": api_base} if api_base else None
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses=base,  # type: ignore[arg-type]
            http_client=stripe.HTTPXClient(timeout=timeout_s),
            max_network_retries=1,
        )
        self._webhook_secret = webhook_secret
        self._public_url = public_url.rstrip("/")

    async def create_checkout_session(
        self, *, name: str, amount_cents: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> CheckoutSession:
        params: dict[str, Any] = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {"currency": currency, "unit_amount": amount_cents, "product_data": {"name": name}},
                }
            ],
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "client_reference_id": metadata.get("user_id"),
            "success_url": f"{self._public_url}/wallet?topup={metadata.get('topup_id', '')}&status=success",
            "cancel_url": f"{self._public_url}/wallet?topup={metadata.get('topup_id', '')}&status=cancelled",
        }
        session = await self._call(
            self._client.v1.checkout.sessions.create_async(params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return CheckoutSession(
            session.id, getattr(session, "url", None), _maybe_id(getattr(session, "payment_intent", None))
        )

    async def create_payment_intent(
        self, *, amount_cents: int, currency: str, metadata: dict[str, str], idempotency_key: str
    ) -> PaymentIntent:
        params: dict[str, Any] = {"amount": amount_cents, "currency": currency, "metadata": metadata}
        intent = await self._call(
            self._client.v1.payment_intents.create_async(params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return _intent(intent)

    async def retrieve_payment_intent(self, intent_id: str) -> PaymentIntent:
        return _intent(await self._call(self._client.v1.payment_intents.retrieve_async(intent_id)))

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except stripe.APIConnectionError:
            log.warning("Stripe is unreachable")
            raise PaymentProviderUnavailableError("the payment provider is unreachable; try again shortly") from None
        except stripe.StripeError as exc:
            log.warning("Stripe refused a request: %s", type(exc).__name__)
            raise PaymentProviderUnavailableError("the payment provider could not process this request") from None

    def parse_webhook(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        """Verify the ``Stripe-Signature`` header on the raw body; return the event as plain JSON."""
        if not signature:
            raise BadSignatureError("the Stripe-Signature header is missing")
        try:
            stripe.Webhook.construct_event(payload, signature, self._webhook_secret)
        except stripe.SignatureVerificationError:
            raise BadSignatureError("the webhook signature does not verify") from None
        except ValueError:
            raise BadSignatureError("the webhook body is not a Stripe event") from None
        try:
            event: Any = json.loads(payload)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise BadSignatureError("the webhook body is not valid JSON") from None
        if (
            not isinstance(event, dict)
            or not isinstance(event.get("id"), str)
            or not isinstance(event.get("type"), str)
        ):
            raise BadSignatureError("the webhook body is not a Stripe event")
        data = event.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("object"), dict):
            raise MalformedEventError("the event's data must be an object holding an object")
        return event


def _maybe_id(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(getattr(value, "id", "")) or None


def _intent(obj: Any) -> PaymentIntent:
    metadata = getattr(obj, "metadata", None)
    meta = metadata.to_dict() if metadata is not None and hasattr(metadata, "to_dict") else dict(metadata or {})
    return PaymentIntent(obj.id, getattr(obj, "client_secret", None), str(getattr(obj, "status", "")), meta)
