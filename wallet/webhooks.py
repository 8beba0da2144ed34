"""Stripe webhooks: verify the signature on the raw body, skip events already handled, credit or claw back.

Every handler is idempotent (transfer ids come from the top-up, the refund or the dispute), so a duplicate that
slips past the event-id check, or events arriving in any order, change nothing. The event id is recorded only
after its handling succeeded: a crash means Stripe's retry does the work.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from core.clock import Clock
from core.errors import UnavailableError
from wallet.errors import MalformedEventError, TransferInProgressError
from wallet.models import TransferKind
from wallet.store_payments import PaymentStore
from wallet.topups import TopUpService

log = logging.getLogger(__name__)

PAID_EVENTS = frozenset(
    {"checkout.session.completed", "checkout.session.async_payment_succeeded", "payment_intent.succeeded"}
)
HANDLED_EVENTS = PAID_EVENTS | {"charge.refunded", "charge.dispute.created"}
#: Another package's handler of some event types (the verified event in, an outcome word out; idempotent).
EventHandler = Callable[[dict[str, Any]], Awaitable[str]]
#: Another package's handler of charge refunds/disputes: an outcome for a charge it knows, None for one it does not.
ChargeHandler = Callable[[dict[str, Any]], Awaitable[str | None]]
CHARGE_EVENTS = frozenset({"charge.refunded", "charge.dispute.created"})


class StripeWebhooks:
    def __init__(self, store: PaymentStore, topups: TopUpService, clock: Clock) -> None:
        self._store = store
        self._topups = topups
        self._clock = clock
        self._others: dict[str, EventHandler] = {}
        self._charges: list[ChargeHandler] = []

    def register(self, kinds: frozenset[str], handler: EventHandler) -> None:
        """Hand the events of ``kinds`` (e.g. Stripe Billing's, to ``subscriptions``) to ``handler``, after the same
        signature check and event-id dedupe; a handler that raises leaves the event unrecorded (Stripe retries)."""
        for kind in kinds:
            self._others[kind] = handler

    def claim_charges(self, handler: ChargeHandler) -> None:
        """Offer ``charge.refunded`` / ``charge.dispute.created`` to ``handler`` first (e.g. a subscription invoice's
        charge); the ones it does not know (None) are the top-ups'."""
        self._charges.append(handler)

    async def handle(self, payload: bytes, signature: str | None) -> dict[str, Any]:
        event = self._topups.gateway.parse_webhook(payload, signature)
        event_id: str = event["id"]
        kind: str = event["type"]
        if await self._store.event_seen(event_id):
            return {"received": True, "duplicate": True}
        outcome = "ignored"
        other = self._others.get(kind)
        if other is not None:
            try:
                outcome = await other(event)
            except TransferInProgressError:
                raise UnavailableError("this payment is being processed; retry later") from None
        elif kind in HANDLED_EVENTS:
            obj = event["data"]["object"]  # shape checked by parse_webhook
            try:
                claimed = None
                for charges in self._charges if kind in CHARGE_EVENTS else ():
                    if (claimed := await charges(event)) is not None:
                        break
                outcome = claimed if claimed is not None else await self._dispatch(kind, obj)
            except TransferInProgressError:
                # Another delivery of the same payment is being applied right now: Stripe retries a 503.
                raise UnavailableError("this payment is being processed; retry later") from None
        await self._store.record_event(
            {"_id": event_id, "type": kind, "outcome": outcome, "received_at": self._clock.now()}
        )
        log.info("stripe event %s (%s): %s", event_id, kind, outcome)
        return {"received": True, "outcome": outcome}

    async def _dispatch(self, kind: str, obj: dict[str, Any]) -> str:
        if kind.startswith("checkout.session."):
            return await self._checkout(kind, obj)
        if kind == "payment_intent.succeeded":
            return await self._paid(
                obj, intent_id=obj.get("id"), amount=obj.get("amount_received") or obj.get("amount")
            )
        if kind == "charge.refunded":
            return await self._refunded(obj)
        return await self._disputed(obj)

    async def _checkout(self, kind: str, session: dict[str, Any]) -> str:
        if kind == "checkout.session.completed" and session.get("payment_status") not in (
            "paid",  # not-a-status: Stripe's payment_status
            "no_payment_required",
        ):
            return "awaiting_async_payment"  # credited by checkout.session.async_payment_succeeded
        return await self._paid(
            session, intent_id=stripe_id(session.get("payment_intent")), amount=session.get("amount_total")
        )

    async def _paid(self, obj: dict[str, Any], *, intent_id: str | None, amount: Any) -> str:
        topup = await self._topups.find(topup_id=_meta(obj, "topup_id"), intent_id=intent_id)
        if topup is None:
            log.warning("a payment event names no top-up of ours")
            return "unknown_topup"
        currency = obj.get("currency")
        if (isinstance(amount, int) and amount < int(topup["price_cents"])) or (
            isinstance(currency, str) and currency.lower() != str(topup["currency"]).lower()
        ):
            log.error(
                "top-up %s: paid %r %r, expected %s %s; not crediting",
                topup["_id"],
                amount,
                currency,
                topup["price_cents"],
                topup["currency"],
            )
            return "amount_mismatch"
        transfer = await self._topups.credit(topup, intent_id=intent_id, source="stripe")
        return "credited" if transfer.applied else f"rejected:{transfer.error}"

    async def _topup_for_charge(self, charge_like: dict[str, Any], intent_id: str | None) -> dict[str, Any] | None:
        topup = await self._topups.find(topup_id=_meta(charge_like, "topup_id"), intent_id=intent_id)
        if topup is None and intent_id:
            # Charges do not inherit the PaymentIntent's metadata: ask Stripe (503 if unreachable: Stripe retries).
            intent = await self._topups.gateway.retrieve_payment_intent(intent_id)
            topup = await self._topups.find(topup_id=intent.metadata.get("topup_id"), intent_id=None)
        return topup

    async def _refunded(self, charge: dict[str, Any]) -> str:
        intent_id = stripe_id(charge.get("payment_intent"))
        topup = await self._topup_for_charge(charge, intent_id)
        if topup is None:
            return "unknown_topup"
        refunded = _cents(charge.get("amount_refunded"))
        if refunded <= 0:
            return "nothing_refunded"
        tid = f"refund:{charge.get('id')}:{refunded}"
        transfer = await self._topups.claw_back(
            topup, tid=tid, kind=TransferKind.REFUND, cents=refunded, cumulative=True, refs={"charge": charge.get("id")}
        )
        return "clawed_back" if transfer is not None else "nothing_to_claw_back"

    async def _disputed(self, dispute: dict[str, Any]) -> str:
        intent_id = stripe_id(dispute.get("payment_intent"))
        topup = await self._topup_for_charge(dispute, intent_id)
        if topup is None:
            return "unknown_topup"
        tid = f"chargeback:{dispute.get('id')}"
        transfer = await self._topups.claw_back(
            topup,
            tid=tid,
            kind=TransferKind.CHARGEBACK,
            cents=_cents(dispute.get("amount")),
            cumulative=False,
            refs={"dispute": dispute.get("id"), "charge": stripe_id(dispute.get("charge"))},
        )
        return "clawed_back" if transfer is not None else "nothing_to_claw_back"


def _meta(obj: dict[str, Any], key: str) -> str | None:
    metadata = obj.get("metadata")
    value = metadata.get(key) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def _cents(value: Any) -> int:
    """An amount in cents from an event: absent is 0; anything but a whole number is a malformed event."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**12:
        raise MalformedEventError("an amount in the event is not a whole number of cents")
    return value


def stripe_id(value: Any) -> str | None:
    """The id behind one of Stripe's expandable fields: the id itself, or the expanded object carrying it."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None
