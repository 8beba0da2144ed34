"""MongoDB access for payments around the ledger.

Collections owned here: ``wallet_topups``, ``wallet_stripe_events``, ``wallet_cashouts``, ``wallet_audit``.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from wallet.models import INTERRUPTED_CASHOUT_STATES, UNPAID_TOPUP_STATES, CashoutStatus, TopUpStatus


class PaymentStore:
    def __init__(self, db: Any) -> None:
        self._topups = db["wallet_topups"]
        self._events = db["wallet_stripe_events"]
        self._cashouts = db["wallet_cashouts"]
        self._audit = db["wallet_audit"]

    async def create_indexes(self) -> None:
        await self._topups.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)], name="by_user")
        await self._topups.create_index([("payment_intent", ASCENDING)], sparse=True, name="by_intent")
        await self._cashouts.create_index([("status", ASCENDING), ("created_at", ASCENDING)], name="by_status")
        await self._cashouts.create_index([("user_id", ASCENDING), ("created_at", DESCENDING)], name="by_user")
        await self._audit.create_index([("subject", ASCENDING), ("at", ASCENDING)], name="by_subject")

    # Top-ups
    async def insert_topup(self, doc: dict[str, Any]) -> None:
        await self._topups.insert_one(doc)

    async def get_topup(self, topup_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._topups.find_one({"_id": topup_id})
        return doc

    async def find_topup_by_intent(self, intent_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._topups.find_one({"payment_intent": intent_id})
        return doc

    async def _update_topup(self, query: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._topups.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return doc

    async def mark_topup_open(
        self, topup_id: str, *, payment_intent: str | None, checkout_session: str | None = None
    ) -> None:
        """Stripe has the payment (a PaymentIntent, or a Checkout Session and its intent)."""
        fields: dict[str, Any] = {"status": TopUpStatus.OPEN.value, "payment_intent": payment_intent}
        if checkout_session is not None:
            fields["checkout_session"] = checkout_session
        await self._update_topup({"_id": topup_id}, {"$set": fields})

    async def mark_topup_failed(self, topup_id: str) -> None:
        await self._update_topup({"_id": topup_id}, {"$set": {"status": TopUpStatus.FAILED.value}})

    async def set_topup_intent(self, topup_id: str, intent_id: str) -> None:
        await self._update_topup({"_id": topup_id}, {"$set": {"payment_intent": intent_id}})

    async def mark_topup_paid(self, topup_id: str, at: datetime) -> None:
        """Coins credited: any unpaid state → ``paid`` (a refunded or disputed top-up stays so)."""
        await self._update_topup(
            {"_id": topup_id, "status": {"$in": [s.value for s in UNPAID_TOPUP_STATES]}},
            {"$set": {"status": TopUpStatus.PAID.value, "paid_at": at}},
        )

    async def reserve_reversal(
        self, topup_id: str, *, rev: int, tid: str, kind: str, coins: int, status: TopUpStatus
    ) -> bool:
        """Book ``coins`` as reversed by ``tid`` if the top-up is still at version ``rev`` and ``tid`` has not booked
        a reversal yet (optimistic concurrency). False: somebody changed it meanwhile; read and try again."""
        doc = await self._update_topup(
            {"_id": topup_id, "rev": rev, "reversals.tid": {"$ne": tid}},
            {
                "$inc": {"rev": 1, "reversed_coins": coins},
                "$push": {"reversals": {"tid": tid, "kind": kind, "coins": coins}},
                "$set": {"status": status.value},
            },
        )
        return doc is not None

    # Stripe events (deduplication)
    async def event_seen(self, event_id: str) -> bool:
        return await self._events.find_one({"_id": event_id}, {"_id": 1}) is not None

    async def record_event(self, doc: dict[str, Any]) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._events.insert_one(doc)

    # Cash-outs
    async def insert_cashout(self, doc: dict[str, Any]) -> bool:
        try:
            await self._cashouts.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def get_cashout(self, cashout_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._cashouts.find_one({"_id": cashout_id})
        return doc

    async def move_cashout(
        self, cashout_id: str, was: CashoutStatus, to: CashoutStatus, **fields: Any
    ) -> dict[str, Any] | None:
        """``was`` → ``to`` (setting ``fields`` too), atomically; None if it was not ``was``."""
        doc: dict[str, Any] | None = await self._cashouts.find_one_and_update(
            {"_id": cashout_id, "status": was.value},
            {"$set": {**fields, "status": to.value}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def list_cashouts(
        self, *, user_id: str | None = None, status: CashoutStatus | None = None, limit: int
    ) -> list[dict[str, Any]]:
        """Newest first."""
        query: dict[str, Any] = {}
        if user_id:
            query["user_id"] = user_id
        if status is not None:
            query["status"] = status.value
        return await self._cashouts_page(query, limit)

    async def interrupted_cashouts(self, created_before: datetime, limit: int) -> list[dict[str, Any]]:
        """Cash-outs left requesting, approving or rejecting (a crash), created before ``created_before``."""
        query = {
            "status": {"$in": [s.value for s in INTERRUPTED_CASHOUT_STATES]},
            "created_at": {"$lte": created_before},
        }
        return await self._cashouts_page(query, limit)

    async def _cashouts_page(self, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = (
            await self._cashouts.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
            .to_list(None)
        )
        return docs

    # Audit trail (deterministic ids: recording the same state change twice is a no-op)
    async def audit(self, doc: dict[str, Any]) -> None:
        with contextlib.suppress(DuplicateKeyError):
            await self._audit.insert_one(doc)

    async def audit_for(self, subject: str) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = (
            await self._audit.find({"subject": subject}).sort([("at", ASCENDING)]).to_list(None)
        )
        return docs
