"""MongoDB access for payments around the ledger.

Collections owned here: ``wallet_topups``, ``wallet_stripe_events``, ``wallet_cashouts``, ``wallet_audit``.
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError


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

    async def update_topup(self, query: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._topups.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return doc

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

    async def update_cashout(self, query: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._cashouts.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return doc

    async def list_cashouts(self, query: dict[str, Any], limit: int) -> list[dict[str, Any]]:
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
