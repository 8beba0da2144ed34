"""``subs_invoices``: one document per paid subscription invoice (``_id`` = Stripe's invoice id) that a refund, a
credit note or a dispute may take back from: how the invoice was paid (charge, PaymentIntent), what was booked for it,
what Stripe has reported returned so far (``sources``: one cumulative amount per charge, credit note or dispute, each
only ever raised), and what was taken back through the ledger (``clawed_*``, one reservation at a time: ``pending``,
guarded by ``rev``).

A refund's event may come before the invoice's ``invoice.paid``: its source is recorded on the same document (an
upsert) and taken back once the month is booked.
"""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, ReturnDocument


class InvoiceRefundStore:
    def __init__(self, db: Any) -> None:
        self._invoices = db["subs_invoices"]

    async def create_indexes(self) -> None:
        await self._invoices.create_index([("charge", ASCENDING)], sparse=True, name="by_charge")
        await self._invoices.create_index([("payment_intent", ASCENDING)], sparse=True, name="by_intent")

    async def record_paid(self, invoice_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        """What the paid invoice booked and how it was paid (idempotent); the document after."""
        doc: dict[str, Any] = await self._invoices.find_one_and_update(
            {"_id": invoice_id},
            {
                "$set": {k: v for k, v in fields.items() if v is not None},
                "$setOnInsert": {"sources": {}, "clawed_share": 0, "clawed_platform": 0, "claws": [], "rev": 0},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def add_source(self, invoice_id: str, key: str, cents: int) -> dict[str, Any]:
        """Raise one source's cumulative returned amount to ``cents`` (never lowers it: any order, any repeats)."""
        doc: dict[str, Any] = await self._invoices.find_one_and_update(
            {"_id": invoice_id},
            {
                "$max": {f"sources.{key}": cents},
                "$setOnInsert": {"clawed_share": 0, "clawed_platform": 0, "claws": [], "rev": 0},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def get(self, invoice_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._invoices.find_one({"_id": invoice_id})
        return doc

    async def find_paid_by(self, charge_id: str | None, intent_id: str | None) -> dict[str, Any] | None:
        """The paid invoice a charge or PaymentIntent paid, if we saw its ``invoice.paid``."""
        for field, value in (("charge", charge_id), ("payment_intent", intent_id)):
            if value:
                doc: dict[str, Any] | None = await self._invoices.find_one({field: value})
                if doc is not None:
                    return doc
        return None

    async def reserve(self, invoice_id: str, rev: int, pending: dict[str, Any]) -> bool:
        """Take the invoice's claw-back turn (``pending``) if nobody changed it since ``rev``."""
        result = await self._invoices.update_one(
            {"_id": invoice_id, "rev": rev, "pending": None}, {"$set": {"pending": pending}, "$inc": {"rev": 1}}
        )
        return bool(result.modified_count)

    async def finish(self, invoice_id: str, tid: str, share: int, platform: int, short: int) -> None:
        """The pending claw-back ``tid`` is done: count what it took (and what could not be taken) once."""
        await self._invoices.update_one(
            {"_id": invoice_id, "pending.tid": tid},
            {
                "$unset": {"pending": ""},
                "$inc": {"clawed_share": share, "clawed_platform": platform, "short": short, "rev": 1},
                "$push": {"claws": tid},
            },
        )

    async def abandon(self, invoice_id: str, tid: str) -> None:
        """The pending claw-back ``tid`` took nothing (refused): the next turn starts over."""
        await self._invoices.update_one(
            {"_id": invoice_id, "pending.tid": tid}, {"$unset": {"pending": ""}, "$inc": {"rev": 1}}
        )
