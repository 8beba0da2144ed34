"""Stripe Billing behind a narrow seam: customers, a product per tier version, Checkout Sessions in subscription mode
(web), subscriptions created incomplete for the app to confirm (mobile), cancel at period end / resume, and reading
a subscription back.

Uses the real ``stripe`` SDK (``StripeClient``, async over httpx) against ``api_base`` (tests point it at a local
Stripe-compatible endpoint). Stripe's errors are translated here into ``PaymentProviderUnavailableError``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import stripe

from subscriptions.models import BillingStatus
from wallet.errors import PaymentProviderUnavailableError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SubscriptionState:
    """What we keep of a Stripe subscription object (from an API answer or a webhook event)."""

    id: str
    status: BillingStatus
    cancel_at_period_end: bool
    period_start: int  # epoch seconds; 0 when Stripe did not say
    period_end: int
    metadata: dict[str, str]
    client_secret: str | None = None  # the first invoice's confirmation secret (mobile)
    item_id: str = ""  # the subscription's one item (its price is the tier's)

    @classmethod
    def parse(cls, obj: dict[str, Any]) -> SubscriptionState:
        # Since API 2025-03-31 the period lives on the subscription's items; older versions had it on the object.
        items = ((obj.get("items") or {}).get("data") or []) if isinstance(obj.get("items"), dict) else []
        first = items[0] if items and isinstance(items[0], dict) else {}
        start = first.get("current_period_start", obj.get("current_period_start"))
        end = first.get("current_period_end", obj.get("current_period_end"))
        metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
        secret = None
        invoice = obj.get("latest_invoice")
        if isinstance(invoice, dict):
            confirmation = invoice.get("confirmation_secret")
            if isinstance(confirmation, dict) and isinstance(confirmation.get("client_secret"), str):
                secret = confirmation["client_secret"]
        return cls(
            id=str(obj.get("id") or ""),
            status=BillingStatus.parse(obj.get("status")),
            cancel_at_period_end=bool(obj.get("cancel_at_period_end", False)),
            period_start=_seconds(start),
            period_end=_seconds(end),
            metadata={str(k): str(v) for k, v in (metadata or {}).items()},
            client_secret=secret,
            item_id=str(first.get("id") or ""),
        )

    def period_end_at(self) -> datetime | None:
        return datetime.fromtimestamp(self.period_end, UTC) if self.period_end else None


@dataclass(frozen=True, slots=True)
class CheckoutLink:
    id: str
    url: str | None


class StripeBilling:
    def __init__(
        self,
        secret_key: str,
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
        self._public_url = public_url.rstrip("/")

    async def create_customer(self, user_id: str, email: str | None) -> str:
        params: dict[str, Any] = {"metadata": {"user_id": user_id}}
        if email:
            params["email"] = email
        customer = await self._call(
            self._client.v1.customers.create_async(params=params, options={"idempotency_key": f"customer-{user_id}"})  # type: ignore[arg-type]
        )
        return str(customer.id)

    async def create_product(self, key: str, name: str) -> str:
        product = await self._call(
            self._client.v1.products.create_async(
                params={"name": name, "metadata": {"tier": key}},
                options={"idempotency_key": f"product-{key}"},
            )
        )
        return str(product.id)

    async def checkout(
        self,
        *,
        customer: str,
        product: str,
        price_cents: int,
        currency: str,
        metadata: dict[str, str],
        return_path: str,
        idempotency_key: str,
    ) -> CheckoutLink:
        params: dict[str, Any] = {
            "mode": "subscription",
            "customer": customer,
            "line_items": [{"quantity": 1, "price_data": _monthly(product, price_cents, currency)}],
            "metadata": metadata,
            "subscription_data": {"metadata": metadata},
            "client_reference_id": metadata.get("user_id"),
            "success_url": f"{self._public_url}{return_path}?subscription=success",
            "cancel_url": f"{self._public_url}{return_path}?subscription=cancelled",
        }
        session = await self._call(
            self._client.v1.checkout.sessions.create_async(params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return CheckoutLink(str(session.id), getattr(session, "url", None))

    async def create_subscription(
        self,
        *,
        customer: str,
        product: str,
        price_cents: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> SubscriptionState:
        """An incomplete subscription whose first invoice the app confirms with the returned client secret."""
        params: dict[str, Any] = {
            "customer": customer,
            "items": [{"price_data": _monthly(product, price_cents, currency)}],
            "payment_behavior": "default_incomplete",
            "payment_settings": {"save_default_payment_method": "on_subscription"},
            "metadata": metadata,
            "expand": ["latest_invoice.confirmation_secret"],
        }
        sub = await self._call(
            self._client.v1.subscriptions.create_async(params=params, options={"idempotency_key": idempotency_key})  # type: ignore[arg-type]
        )
        return SubscriptionState.parse(_plain(sub))

    async def set_cancel_at_period_end(self, subscription_id: str, cancel: bool) -> SubscriptionState:
        sub = await self._call(
            self._client.v1.subscriptions.update_async(
                subscription_id,
                params={"cancel_at_period_end": cancel},
            )
        )
        return SubscriptionState.parse(_plain(sub))

    async def change_price(
        self,
        subscription_id: str,
        *,
        item_id: str,
        product: str,
        price_cents: int,
        currency: str,
        metadata: dict[str, str],
        idempotency_key: str,
    ) -> SubscriptionState:
        """Move the subscription's item to another tier's price now; Stripe prorates the rest of the period and
        invoices the difference at once (``always_invoice``: an upgrade's charge is an ``invoice.paid`` with
        ``billing_reason`` ``subscription_update``; a downgrade's credit goes to the customer's balance)."""
        params: dict[str, Any] = {
            "items": [{"id": item_id, "price_data": _monthly(product, price_cents, currency)}],
            "metadata": metadata,
            "proration_behavior": "always_invoice",
        }
        sub = await self._call(
            self._client.v1.subscriptions.update_async(
                subscription_id,
                params=params,  # type: ignore[arg-type]
                options={"idempotency_key": idempotency_key},
            )
        )
        return SubscriptionState.parse(_plain(sub))

    async def retrieve(self, subscription_id: str) -> SubscriptionState:
        return SubscriptionState.parse(
            _plain(await self._call(self._client.v1.subscriptions.retrieve_async(subscription_id)))
        )

    async def _call(self, awaitable: Any) -> Any:
        try:
            return await awaitable
        except stripe.APIConnectionError:
            log.warning("Stripe is unreachable")
            raise PaymentProviderUnavailableError("the payment provider is unreachable; try again shortly") from None
        except stripe.StripeError as exc:
            log.warning("Stripe refused a billing request: %s", type(exc).__name__)
            raise PaymentProviderUnavailableError("the payment provider could not process this request") from None


def _monthly(product: str, price_cents: int, currency: str) -> dict[str, Any]:
    return {"currency": currency, "unit_amount": price_cents, "recurring": {"interval": "month"}, "product": product}


def _plain(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    to_dict = getattr(obj, "to_dict", None)
    result: dict[str, Any] = to_dict() if callable(to_dict) else dict(obj)
    return result


def _seconds(value: Any) -> int:
    return int(value) if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
