"""MongoDB access for gifts.

Collections owned here: ``gifts_catalogue`` (current entries), ``gifts_catalogue_versions`` (every version,
immutable), ``gifts_goals`` (one per stream), ``gifts_goal_counted`` (which transfers a goal counted; dropped with
the goal), ``gifts_daily_spend`` (per user per UTC day).
"""

from __future__ import annotations

import contextlib
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

#: MongoDB's error code for a duplicate key.
DUPLICATE_KEY = 11000


class GiftStore:
    def __init__(self, db: Any) -> None:
        self._catalogue = db["gifts_catalogue"]
        self._versions = db["gifts_catalogue_versions"]
        self._goals = db["gifts_goals"]
        self._spend = db["gifts_daily_spend"]
        self._counted = db["gifts_goal_counted"]

    async def create_indexes(self) -> None:
        await self._catalogue.create_index([("active", ASCENDING), ("coins", ASCENDING)], name="by_price")
        await self._spend.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0, name="expiry_ttl")
        await self._counted.create_index([("goal_id", ASCENDING)], name="by_goal")

    # Catalogue
    async def insert_gift(self, doc: dict[str, Any]) -> bool:
        try:
            await self._catalogue.insert_one(doc)
        except DuplicateKeyError:
            return False
        return True

    async def insert_version(self, doc: dict[str, Any]) -> None:
        with contextlib.suppress(DuplicateKeyError):  # the same version recorded twice (a retried update)
            await self._versions.insert_one(doc)

    async def get_gift(self, gift_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._catalogue.find_one({"_id": gift_id})
        return doc

    async def get_version(self, gift_id: str, version: int) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._versions.find_one({"_id": f"{gift_id}:{version}"})
        return doc

    async def list_gifts(self, *, include_inactive: bool) -> list[dict[str, Any]]:
        query: dict[str, Any] = {} if include_inactive else {"active": True}
        docs: list[dict[str, Any]] = (
            await self._catalogue.find(query).sort([("coins", ASCENDING), ("_id", 1)]).to_list(None)
        )
        return docs

    async def update_gift(self, gift_id: str, version: int, changes: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._catalogue.find_one_and_update(
            {"_id": gift_id, "version": version},
            {"$set": changes, "$inc": {"version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    # Goals
    async def set_goal(self, doc: dict[str, Any]) -> None:
        old = await self._goals.find_one({"_id": doc["_id"]}, {"goal_id": 1})
        await self._goals.replace_one({"_id": doc["_id"]}, doc, upsert=True)
        if old is not None:
            await self._counted.delete_many({"goal_id": old["goal_id"]})

    async def get_goal(self, stream_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._goals.find_one({"_id": stream_id})
        return doc

    async def clear_goal(self, stream_id: str) -> None:
        old = await self._goals.find_one_and_delete({"_id": stream_id})
        if old is not None:
            await self._counted.delete_many({"goal_id": old["goal_id"]})

    async def add_goal_progress(self, stream_id: str, goal_id: str, amount: int, tid: str) -> dict[str, Any] | None:
        """Count ``amount`` towards the stream's goal once per transfer (None if there is no such goal or the
        transfer was counted already). The marker goes first: a crash in between under-counts one gift rather than
        counting one twice; goals are a projection and never money."""
        return await self.add_goal_progress_many(stream_id, goal_id, [(tid, amount)])

    async def add_goal_progress_many(
        self, stream_id: str, goal_id: str, amounts: list[tuple[str, int]]
    ) -> dict[str, Any] | None:
        """``add_goal_progress`` for several transfers ``(id, amount)`` in two round trips: their markers in one
        unordered insert (those counted already are skipped), then one ``$inc`` by the sum of the rest. None if
        every one was counted already or there is no such goal."""
        try:
            await self._counted.insert_many(
                [{"_id": f"{goal_id}:{tid}", "goal_id": goal_id} for tid, _ in amounts], ordered=False
            )
            counted = amounts
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            seen = {int(e["index"]) for e in errors}
            counted = [a for i, a in enumerate(amounts) if i not in seen]
        total = sum(amount for _, amount in counted)
        if not total:
            return None
        doc: dict[str, Any] | None = await self._goals.find_one_and_update(
            {"_id": stream_id, "goal_id": goal_id}, {"$inc": {"progress": total}}, return_document=ReturnDocument.AFTER
        )
        return doc

    # Daily spend caps
    async def add_spend(self, key: str, coins: int, cap: int, expires_at: Any) -> bool:
        """Add ``coins`` to the counter if it stays within ``cap``; False if it would not."""
        result = await self._spend.update_one({"_id": key, "coins": {"$lte": cap - coins}}, {"$inc": {"coins": coins}})
        if result.matched_count:
            return True
        if coins > cap:
            return False
        try:
            await self._spend.insert_one({"_id": key, "coins": coins, "expires_at": expires_at})
        except DuplicateKeyError:
            result = await self._spend.update_one(
                {"_id": key, "coins": {"$lte": cap - coins}}, {"$inc": {"coins": coins}}
            )
            return bool(result.matched_count)
        return True

    async def refund_spend(self, key: str, coins: int) -> None:
        await self._spend.update_one({"_id": key}, {"$inc": {"coins": -coins}})
