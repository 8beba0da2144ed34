"""The subscriptions' MongoDB collections: ``subs_members`` (one subscriber of one channel, ``_id`` =
``channel:user``), ``subs_customers`` (a user's Stripe customer), ``subs_products`` (the Stripe product of a tier
version) and ``subs_emotes`` (the channels' emote images, bytes included, so every node serves them).

Billing state is written only when it is not older than what is stored (``rank``: terminal first, then the period's
start, then when Stripe produced it), so events applied in any order leave the newest state. Months are counted
once per paid invoice or gift transfer (their ids are kept on the document).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from subscriptions.models import BillingStatus

_NO_DATA = {"data": 0}


class DuplicateEmoteError(Exception):
    pass


class SubscriptionStore:
    def __init__(self, db: Any) -> None:
        self._members = db["subs_members"]
        self._customers = db["subs_customers"]
        self._products = db["subs_products"]
        self._emotes = db["subs_emotes"]

    async def create_indexes(self) -> None:
        await self._members.create_index([("stripe_subscription", ASCENDING)], sparse=True, name="by_stripe")
        await self._members.create_index([("user_id", ASCENDING)], name="by_user")
        await self._emotes.create_index([("channel_id", ASCENDING), ("code", ASCENDING)], unique=True, name="code")

    # Members
    async def ensure_member(self, mid: str, user_id: str, channel_id: str, tier_id: str, tier_version: int) -> None:
        await self._members.update_one(
            {"_id": mid},
            {
                "$setOnInsert": {
                    "user_id": user_id,
                    "channel_id": channel_id,
                    "tier_id": tier_id,
                    "tier_version": tier_version,
                    "status": BillingStatus.NONE.value,
                    "rank": "",
                    "months": 0,
                    "invoices": [],
                    "gifts": [],
                    "gift_rev": 0,
                }
            },
            upsert=True,
        )

    async def get_member(self, mid: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._members.find_one({"_id": mid}, {"invoices": 0, "gifts": 0})
        return doc

    async def member_by_subscription(self, subscription_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._members.find_one(
            {"stripe_subscription": subscription_id}, {"invoices": 0, "gifts": 0}
        )
        return doc

    async def members_of_user(self, user_id: str, limit: int = 200) -> list[dict[str, Any]]:
        cursor = self._members.find({"user_id": user_id}, {"invoices": 0, "gifts": 0}).limit(limit)
        return [doc async for doc in cursor]

    async def apply_billing(
        self,
        mid: str,
        *,
        subscription_id: str,
        status: BillingStatus,
        tier_id: str,
        tier_version: int,
        cancel_at_period_end: bool,
        period_end: datetime | None,
        rank: str,
    ) -> bool:
        """Write a Stripe subscription's state unless a newer one of the same subscription is stored, or another
        subscription of this member is still open (a late event of an ended or abandoned one never replaces a new
        one)."""
        fields: dict[str, Any] = {
            "stripe_subscription": subscription_id,
            "status": status.value,
            "tier_id": tier_id,
            "tier_version": tier_version,
            "cancel_at_period_end": cancel_at_period_end,
            # An incomplete subscription (never paid) may be replaced by a new attempt's; an open one may not.
            "billing_open": not status.terminal and status is not BillingStatus.INCOMPLETE,
            "rank": rank,
        }
        if period_end is not None:
            fields["period_end"] = period_end
        result = await self._members.update_one(
            {
                "_id": mid,
                "$or": [
                    {"stripe_subscription": subscription_id, "rank": {"$lte": rank}},
                    {"stripe_subscription": {"$ne": subscription_id}, "billing_open": {"$ne": True}},
                ],
            },
            {"$set": fields},
        )
        return bool(result.modified_count or result.matched_count)

    async def count_paid_month(self, mid: str, invoice_id: str, paid_until: datetime) -> dict[str, Any] | None:
        """Count the invoice's month once and extend ``paid_until``; the document as it was before, or None when the
        invoice was counted already."""
        doc: dict[str, Any] | None = await self._members.find_one_and_update(
            {"_id": mid, "invoices": {"$ne": invoice_id}},
            {"$push": {"invoices": invoice_id}, "$inc": {"months": 1}, "$max": {"paid_until": paid_until}},
            projection={"invoices": 0, "gifts": 0},
            return_document=ReturnDocument.BEFORE,
        )
        return doc

    async def add_gift_month(self, mid: str, tid: str, *, rev: int, gift_until: datetime) -> bool:
        """Count a gifted month once (``tid``), if nobody changed the gifted period since it was read (``rev``)."""
        result = await self._members.update_one(
            {"_id": mid, "gifts": {"$ne": tid}, "gift_rev": rev},
            {"$push": {"gifts": tid}, "$inc": {"months": 1, "gift_rev": 1}, "$set": {"gift_until": gift_until}},
        )
        return bool(result.modified_count)

    async def gift_counted(self, mid: str, tid: str) -> bool:
        count: int = await self._members.count_documents({"_id": mid, "gifts": tid}, limit=1)
        return count > 0

    # Stripe objects we reuse
    async def customer_of(self, user_id: str) -> str | None:
        doc = await self._customers.find_one({"_id": user_id})
        return str(doc["customer"]) if doc else None

    async def remember_customer(self, user_id: str, customer_id: str) -> str:
        """The first customer stored for the user wins (a concurrent request's is dropped)."""
        try:
            await self._customers.insert_one({"_id": user_id, "customer": customer_id})
        except DuplicateKeyError:
            existing = await self.customer_of(user_id)
            assert existing is not None
            return existing
        return customer_id

    async def product_of(self, key: str) -> str | None:
        doc = await self._products.find_one({"_id": key})
        return str(doc["product"]) if doc else None

    async def remember_product(self, key: str, product_id: str) -> str:
        try:
            await self._products.insert_one({"_id": key, "product": product_id})
        except DuplicateKeyError:
            existing = await self.product_of(key)
            assert existing is not None
            return existing
        return product_id

    # Emotes
    async def insert_emote(self, doc: dict[str, Any]) -> None:
        try:
            await self._emotes.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateEmoteError(doc["code"]) from None

    async def count_emotes(self, channel_id: str) -> int:
        return int(await self._emotes.count_documents({"channel_id": channel_id}))

    async def emotes_of(self, channel_id: str) -> list[dict[str, Any]]:
        cursor = self._emotes.find({"channel_id": channel_id}, _NO_DATA).sort("code", ASCENDING)
        return [doc async for doc in cursor]

    async def get_emote(self, emote_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._emotes.find_one({"_id": emote_id})
        return doc

    async def delete_emote(self, channel_id: str, emote_id: str) -> bool:
        result = await self._emotes.delete_one({"_id": emote_id, "channel_id": channel_id})
        return bool(result.deleted_count)
