"""MongoDB access for the ledger: every call is one single-document atomic operation.

Collections owned here: ``wallet_accounts``, ``wallet_transfers``. (Top-ups, Stripe events, cash-outs and the
audit trail live in ``store_payments.py``.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError


class DuplicateTransferError(Exception):
    """A transfer with this id exists already."""


class LedgerStore:
    def __init__(self, db: Any) -> None:
        self._accounts = db["wallet_accounts"]
        self._transfers = db["wallet_transfers"]

    async def create_indexes(self) -> None:
        await self._transfers.create_index(
            [("accounts", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="by_account"
        )
        await self._transfers.create_index([("state", ASCENDING), ("lease_until", ASCENDING)], name="in_flight")
        await self._transfers.create_index(
            [("outbox", ASCENDING), ("published", ASCENDING), ("lease_until", ASCENDING)], name="outbox"
        )
        await self._transfers.create_index([("hold.state", ASCENDING), ("hold.matures_at", ASCENDING)], name="holds")
        await self._transfers.create_index(
            [("hold.payer", ASCENDING), ("hold.state", ASCENDING), ("created_at", DESCENDING)], name="holds_by_payer"
        )
        await self._transfers.create_index(
            [("kind", ASCENDING), ("refs.streamer_id", ASCENDING), ("state", ASCENDING)], name="by_streamer"
        )

    # Transfers
    async def insert_transfer(self, doc: dict[str, Any]) -> None:
        try:
            await self._transfers.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateTransferError(doc["_id"]) from None

    async def get_transfer(self, tid: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._transfers.find_one({"_id": tid})
        return doc

    async def update_transfer(self, query: dict[str, Any], update: dict[str, Any]) -> bool:
        result = await self._transfers.update_one(query, update)
        return bool(result.matched_count)

    async def claim_transfer(self, query: dict[str, Any], lease_until: datetime, owner: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._transfers.find_one_and_update(
            query,
            {"$set": {"lease_until": lease_until, "lease_owner": owner}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def find_transfers(
        self, query: dict[str, Any], *, limit: int, sort: list[tuple[str, int]] | None = None
    ) -> list[dict[str, Any]]:
        cursor = self._transfers.find(query)
        if sort:
            cursor = cursor.sort(sort)
        docs: list[dict[str, Any]] = await cursor.limit(limit).to_list(None)
        return docs

    async def iter_transfers(self, query: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        async for doc in self._transfers.find(query):
            yield doc

    async def group_sum(self, match: dict[str, Any], group_by: str, amount: str, limit: int) -> list[dict[str, Any]]:
        pipeline: list[dict[str, Any]] = [
            {"$match": match},
            {"$group": {"_id": "$" + group_by, "total": {"$sum": "$" + amount}, "count": {"$sum": 1}}},
            {"$sort": {"total": -1, "_id": 1}},
            {"$limit": limit},
        ]
        cursor = await self._transfers.aggregate(pipeline)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    # Accounts
    async def ensure_account(self, account: str, currency: str, owner: str | None) -> None:
        await self._accounts.update_one(
            {"_id": account},
            {
                "$setOnInsert": {
                    "currency": currency,
                    "owner": owner,
                    "balance": 0,
                    "pending": [],
                    "locks": [],
                    "frozen": False,
                    "debt": 0,
                }
            },
            upsert=True,
        )

    async def get_account(self, account: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._accounts.find_one({"_id": account})
        return doc

    async def get_accounts(self, accounts: list[str]) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = await self._accounts.find({"_id": {"$in": accounts}}).to_list(None)
        return docs

    async def iter_accounts(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self._accounts.find({}):
            yield doc

    async def apply_leg(
        self, account: str, tid: str, amount: int, *, min_balance: int | None, honour_freeze: bool
    ) -> dict[str, Any] | None:
        """``$inc`` the balance and leave ``tid`` as a marker, unless the marker is there already or a guard fails.

        ``min_balance``: the balance must be at least this before the change (a debit's cover). Returns the
        account after the change, or None when nothing matched.
        """
        query: dict[str, Any] = {"_id": account, "pending": {"$ne": tid}}
        if min_balance is not None:
            query["balance"] = {"$gte": min_balance}
        if honour_freeze:
            query["frozen"] = {"$ne": True}
        doc: dict[str, Any] | None = await self._accounts.find_one_and_update(
            query,
            {"$inc": {"balance": amount}, "$push": {"pending": tid}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def undo_leg(self, account: str, tid: str, amount: int) -> bool:
        """Reverse an applied leg of a rejected transfer; the marker makes it happen at most once."""
        result = await self._accounts.update_one(
            {"_id": account, "pending": tid}, {"$inc": {"balance": -amount}, "$pull": {"pending": tid}}
        )
        return bool(result.matched_count)

    async def release_marker(self, account: str, tid: str) -> None:
        await self._accounts.update_one({"_id": account, "pending": tid}, {"$pull": {"pending": tid}})

    async def add_lock(self, account: str, tid: str) -> dict[str, Any] | None:
        """Freeze the account under ``tid`` (idempotent); returns the account after."""
        await self._accounts.update_one(
            {"_id": account, "locks": {"$ne": tid}}, {"$push": {"locks": tid}, "$set": {"frozen": True}}
        )
        return await self.get_account(account)

    async def release_lock(self, account: str, tid: str, debt: int) -> None:
        """Drop ``tid``'s lock, booking ``debt`` (what could not be clawed back) once; unfreeze if nothing is owed."""
        await self._accounts.update_one(
            {"_id": account, "locks": tid}, {"$pull": {"locks": tid}, "$inc": {"debt": debt}}
        )
        await self._accounts.update_one(
            {"_id": account, "locks": {"$size": 0}, "debt": {"$lte": 0}, "frozen": True}, {"$set": {"frozen": False}}
        )

    async def set_frozen(self, account: str, frozen: bool, *, clear_debt: bool = False) -> None:
        update: dict[str, Any] = {"frozen": frozen}
        if clear_debt:
            update["debt"] = 0
        await self._accounts.update_one({"_id": account}, {"$set": update})
