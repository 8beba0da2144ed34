"""Taking back a refunded subscription month: what Stripe returned to the subscriber (a refund of the invoice's
charge, a credit note on the invoice, a dispute) takes the streamer's share of that month back through the ledger,
once, whatever the order and number of the events.

- What counts as returned for an invoice: the larger of its charges' cumulative ``amount_refunded`` and the sum of
  its post-payment credit notes (a credit note that refunds *is* a charge refund: the same money, told twice), plus
  disputed amounts; never more than the invoice's paid amount. Each source only ever grows (``$max``), so repeated or
  reordered events change nothing twice.
- The share taken back is in proportion: ``share × returned / paid`` (the platform's part likewise), minus what was
  taken already. One claw-back runs at a time per invoice (a reservation, then its transfer, then it is counted).
- A whole month refunded while its beans are still held: the month's transfer is reversed (its legs negated: the
  beans are un-minted, as for a gift whose coins were refunded). Otherwise the share comes out of the streamer's
  matured beans (``refund`` transfer ``subrefund:{invoice}:{n}``: streamer and platform debited, ``beans:issuer``
  credited) — never below zero: what the streamer no longer has (cashed out) is written off, recorded on the
  transfer (``short``) and on the invoice's document.
- A refund event that comes before the invoice's ``invoice.paid`` is recorded and taken back when the month is booked.
"""

from __future__ import annotations

import logging
from typing import Any

from core.errors import UnavailableError
from subscriptions.store_refunds import InvoiceRefundStore
from wallet import holds
from wallet.accounts import BEANS_ISSUER, BEANS_PLATFORM_REVENUE, Currency, user_beans
from wallet.models import HoldState, Leg, Transfer, TransferKind, TransferSpec, TransferState
from wallet.service import WalletService
from wallet.webhooks import stripe_id

log = logging.getLogger(__name__)

REFUND_EVENTS = frozenset({"credit_note.created"})
TRIES = 20


class SubscriptionRefunds:
    def __init__(self, store: InvoiceRefundStore, wallet: WalletService) -> None:
        self._store = store
        self._wallet = wallet

    # What was paid (from ``invoice.paid``, after the month's transfer was booked)
    async def paid(self, invoice: dict[str, Any], member: dict[str, Any], booked: Transfer | None) -> str | None:
        """Remember how the invoice was paid and what it booked; take back what was refunded before (an outcome,
        or None when nothing had been)."""
        fields: dict[str, Any] = {
            "member": member["_id"],
            "channel_id": member["channel_id"],
            "subscriber_id": member["user_id"],
            "charge": stripe_id(invoice.get("charge")),
            "payment_intent": stripe_id(invoice.get("payment_intent")),
        }
        payments = (invoice.get("payments") or {}).get("data") if isinstance(invoice.get("payments"), dict) else None
        for payment in payments or []:  # API 2025-03-31 and later: the invoice's payments list
            inner = payment.get("payment") if isinstance(payment, dict) else None
            if isinstance(inner, dict):
                fields["charge"] = fields["charge"] or stripe_id(inner.get("charge"))
                fields["payment_intent"] = fields["payment_intent"] or stripe_id(inner.get("payment_intent"))
        if booked is not None:
            fields.update(
                booked=booked.id,
                paid=int(booked.refs["amount_paid_cents"]),
                share=int(booked.refs["beans"]),
                platform=int(booked.refs["platform_beans"]),
            )
        doc = await self._store.record_paid(str(invoice["id"]), fields)
        if not doc.get("sources"):
            return None
        return await self.take_back(str(invoice["id"]))

    # Stripe's events
    async def charge_event(self, event: dict[str, Any]) -> str | None:
        """``charge.refunded`` / ``charge.dispute.created`` of a subscription invoice's charge (None: not one of
        ours; the top-ups' handling takes it)."""
        obj: dict[str, Any] = event["data"]["object"]
        dispute = event["type"] == "charge.dispute.created"
        charge_id = stripe_id(obj.get("charge")) if dispute else stripe_id(obj.get("id"))
        invoice_id = stripe_id(obj.get("invoice"))
        if invoice_id is None:
            doc = await self._store.find_paid_by(charge_id, stripe_id(obj.get("payment_intent")))
            if doc is None:
                return None
            invoice_id = str(doc["_id"])
        if dispute:
            key, cents = f"dispute:{_key(obj.get('id'))}", _cents(obj.get("amount"))
        else:
            key, cents = f"charge:{_key(charge_id)}", _cents(obj.get("amount_refunded"))
        await self._store.add_source(invoice_id, key, cents)
        return await self.take_back(invoice_id)

    async def credit_note(self, event: dict[str, Any]) -> str:
        """``credit_note.created``: the amount credited after the invoice was paid counts as returned."""
        note: dict[str, Any] = event["data"]["object"]
        invoice_id, note_id = stripe_id(note.get("invoice")), stripe_id(note.get("id"))
        if invoice_id is None or note_id is None:
            return "malformed"
        after_payment = note.get("post_payment_amount")
        cents = _cents(after_payment if after_payment is not None else note.get("amount"))
        if cents <= 0:
            return "nothing_refunded"
        await self._store.add_source(invoice_id, f"note:{_key(note_id)}", cents)
        return await self.take_back(invoice_id)

    # Taking back
    async def take_back(self, invoice_id: str) -> str:
        for _ in range(TRIES):
            doc = await self._store.get(invoice_id)
            if doc is None or "share" not in doc:
                return "refund_recorded"  # the month is not booked (yet): taken back when it is
            if doc.get("pending"):
                await self._run(doc, doc["pending"])
                continue
            paid = max(1, int(doc["paid"]))
            returned = min(paid, returned_cents(doc.get("sources") or {}))
            share = int(doc["share"]) * returned // paid - int(doc["clawed_share"])
            platform = int(doc["platform"]) * returned // paid - int(doc["clawed_platform"])
            if share <= 0 and platform <= 0:
                return "clawed_back" if doc.get("claws") else "nothing_to_claw_back"
            pending: dict[str, Any] = {
                "tid": f"subrefund:{invoice_id}:{doc['rev']}",
                "share": share,
                "platform": platform,
            }
            if returned >= paid and not doc["clawed_share"] and not doc["clawed_platform"]:
                pending["reverse"] = doc["booked"]
            if await self._store.reserve(invoice_id, int(doc["rev"]), pending):
                await self._run({**doc, "pending": pending}, pending)
        raise UnavailableError(f"could not take back the refund of invoice {invoice_id}: too much contention")

    async def _run(self, doc: dict[str, Any], pending: dict[str, Any]) -> None:
        """Carry out the reserved claw-back (again after a crash: every step is idempotent), then count it."""
        invoice_id, tid = str(doc["_id"]), str(pending["tid"])
        share, platform = int(pending["share"]), int(pending["platform"])
        if pending.get("reverse"):
            booked = await self._wallet.ledger.store.get_transfer(str(pending["reverse"]))
            hold_state = ((booked or {}).get("hold") or {}).get("state")
            if booked is not None and hold_state in (HoldState.HELD.value, HoldState.REVERSING.value):
                if not await holds.reverse(self._wallet.ledger, booked, "subscription_refund"):
                    raise UnavailableError("the month's reversal is in progress; retry later")
                await self._store.finish(invoice_id, tid, share, platform, 0)
                return
            # Matured meanwhile: taken from the streamer's matured beans like a partial refund.
        streamer = str(doc["channel_id"])
        transfer = await self._wallet.ledger.get(tid)
        if transfer is None:
            account = await self._wallet.ledger.store.get_account(user_beans(streamer))
            taken = min(max(0, int((account or {}).get("balance", 0))), max(0, share))
            short, platform = max(0, share) - taken, max(0, platform)
            if not taken + platform:  # nothing left to take: all of it written off
                await self._store.finish(invoice_id, tid, short, 0, short)
                return
            legs = [Leg(BEANS_ISSUER, Currency.BEANS, taken + platform)]
            if taken:
                legs.append(Leg(user_beans(streamer), Currency.BEANS, -taken, force=True))
            if platform:
                legs.append(Leg(BEANS_PLATFORM_REVENUE, Currency.BEANS, -platform))
            refs: dict[str, Any] = {"invoice_id": invoice_id, "streamer_id": streamer, "taken": taken}
            refs.update(short=short, platform=platform)
            transfer = await self._wallet.execute(TransferSpec(tid, TransferKind.REFUND, tuple(legs), refs=refs))
        if transfer.state is TransferState.REJECTED:
            # The streamer's beans moved between the read and the debit (a cash-out): the next turn reads again.
            log.warning("claw-back %s was rejected (%s); retrying", tid, transfer.error)
            await self._store.abandon(invoice_id, tid)
            return
        if transfer.state is not TransferState.SETTLED:
            raise UnavailableError("a claw-back is in progress; retry later")
        done = transfer.refs
        short = int(done["short"])
        await self._store.finish(invoice_id, tid, int(done["taken"]) + short, int(done["platform"]), short)


def returned_cents(sources: dict[str, Any]) -> int:
    def total(prefix: str) -> int:
        return sum(int(v) for k, v in sources.items() if k.startswith(prefix))

    return max(total("charge:"), total("note:")) + total("dispute:")


def _key(value: Any) -> str:
    """A source's id as a field name (no dots or dollars)."""
    return str(value or "unknown").replace(".", "_").replace("$", "_")


def _cents(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 10**12:
        return 0
    return value
