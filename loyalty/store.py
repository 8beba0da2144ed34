"""The points ledger's storage (the only module of ``loyalty`` that speaks MongoDB).

Collections: ``loyalty_accounts`` (one per viewer and channel: balance, in-flight markers, the hourly cap counters),
``loyalty_entries`` (the ledger: one document per entry, ``_id`` = its idempotency key), ``loyalty_watch_days``
(watch minutes per viewer and UTC day, a projection of the watch entries for achievements), ``loyalty_rewards``,
``loyalty_redemptions`` (``_id`` = the redemption's debit entry id) and ``loyalty_cooldowns`` (per viewer and reward).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from loyalty.models import Cap, EntryState, RedemptionStatus


class DuplicateEntryError(Exception):
    """An entry (or redemption) with this id exists already."""


class PointsStore:
    def __init__(self, db: Any) -> None:
        self._accounts = db["loyalty_accounts"]
        self._entries = db["loyalty_entries"]
        self._days = db["loyalty_watch_days"]

    async def create_indexes(self) -> None:
        await self._entries.create_index([("state", ASCENDING), ("lease_until", ASCENDING)], name="in_flight")
        await self._entries.create_index(
            [("viewer", ASCENDING), ("kind", ASCENDING), ("created_at", DESCENDING)], name="by_viewer"
        )
        await self._accounts.create_index([("viewer", ASCENDING)], name="by_viewer")
        await self._days.create_index([("viewer", ASCENDING), ("day", DESCENDING)], name="by_viewer")

    # Entries
    async def insert_entry(self, doc: dict[str, Any]) -> None:
        try:
            await self._entries.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateEntryError(doc["_id"]) from None

    async def get_entry(self, eid: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._entries.find_one({"_id": eid})
        return doc

    async def _move(self, eid: str, was: EntryState, fields: dict[str, Any]) -> bool:
        result = await self._entries.update_one({"_id": eid, "state": was.value}, {"$set": fields})
        return bool(result.matched_count)

    async def mark_applied(self, eid: str, balance: int, at: datetime) -> bool:
        return await self._move(
            eid,
            EntryState.PENDING,
            {"state": EntryState.APPLIED.value, "result": {"balance": balance}, "updated_at": at},
        )

    async def mark_settled(self, eid: str, at: datetime) -> bool:
        return await self._move(eid, EntryState.APPLIED, {"state": EntryState.SETTLED.value, "updated_at": at})

    async def mark_rejected(self, eid: str, code: str, at: datetime) -> bool:
        return await self._move(
            eid, EntryState.PENDING, {"state": EntryState.REJECTED.value, "error": code, "updated_at": at}
        )

    async def claim_lease(
        self, eid: str, *, lease_was: datetime | None, lease_until: datetime, owner: str
    ) -> dict[str, Any] | None:
        query: dict[str, Any] = {"_id": eid}
        if lease_was is not None:
            query["lease_until"] = lease_was
        doc: dict[str, Any] | None = await self._entries.find_one_and_update(
            query, {"$set": {"lease_until": lease_until, "lease_owner": owner}}, return_document=ReturnDocument.AFTER
        )
        return doc

    async def unfinished(self, *, lease_expired_before: datetime | None, limit: int) -> list[dict[str, Any]]:
        """Pending or applied entries (oldest first); with ``lease_expired_before`` only those whose lease ran out."""
        query: dict[str, Any] = {"state": {"$in": [EntryState.PENDING.value, EntryState.APPLIED.value]}}
        if lease_expired_before is not None:
            query["lease_until"] = {"$lt": lease_expired_before}
        docs: list[dict[str, Any]] = (
            await self._entries.find(query).sort([("created_at", ASCENDING)]).limit(limit).to_list(None)
        )
        return docs

    async def iter_entries(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self._entries.find({}):
            yield doc

    async def entries_of(self, viewer: str, channel: str | None, *, limit: int) -> list[dict[str, Any]]:
        """A viewer's newest entries (in one channel or all), newest first."""
        query: dict[str, Any] = {"viewer": viewer}
        if channel is not None:
            query["channel"] = channel
        docs: list[dict[str, Any]] = (
            await self._entries.find(query)
            .sort([("created_at", DESCENDING), ("_id", DESCENDING)])
            .limit(limit)
            .to_list(None)
        )
        return docs

    async def count_entries(self, viewer: str, kinds: list[str], *, applied_only: bool) -> int:
        query: dict[str, Any] = {"viewer": viewer, "kind": {"$in": kinds}}
        if applied_only:
            query["state"] = {"$in": [EntryState.APPLIED.value, EntryState.SETTLED.value]}
        return int(await self._entries.count_documents(query))

    # Accounts
    async def ensure_account(self, account: str, channel: str, viewer: str) -> None:
        await self._accounts.update_one(
            {"_id": account},
            {"$setOnInsert": {"channel": channel, "viewer": viewer, "balance": 0, "pending": [], "caps": {}}},
            upsert=True,
        )

    async def get_account(self, account: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._accounts.find_one({"_id": account})
        return doc

    async def accounts_of(self, viewer: str, *, limit: int) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = (
            await self._accounts.find({"viewer": viewer}).sort([("balance", DESCENDING)]).limit(limit).to_list(None)
        )
        return docs

    async def iter_accounts(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self._accounts.find({}):
            yield doc

    async def apply_debit(self, account: str, eid: str, amount: int) -> dict[str, Any] | None:
        """Take ``amount`` points (> 0) if the balance covers them and the entry's marker is not there yet; leave
        the marker. Returns the account after, or None when nothing matched."""
        doc: dict[str, Any] | None = await self._accounts.find_one_and_update(
            {"_id": account, "pending": {"$ne": eid}, "balance": {"$gte": amount}},
            {"$inc": {"balance": -amount}, "$push": {"pending": eid}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def apply_credit(self, account: str, eid: str, amount: int, cap: Cap | None) -> dict[str, Any] | None:
        """Add ``amount`` points unless the marker is there or the hourly cap would be passed, in ONE single-document
        update (the cap counter moves with the balance, so concurrent earnings on any node never pass the cap).
        Returns the account after, or None when nothing matched."""
        base: dict[str, Any] = {"_id": account, "pending": {"$ne": eid}}
        if cap is None:
            return await self._credit(base, {"$inc": {"balance": amount}, "$push": {"pending": eid}})
        if amount > cap.limit:
            return None
        hour, used = f"caps.{cap.kind}.h", f"caps.{cap.kind}.n"
        for _ in range(2):  # a new hour's first credit races another: the loser retries as "same hour"
            same_hour = await self._credit(
                {**base, hour: cap.hour, used: {"$lte": cap.limit - amount}},
                {"$inc": {"balance": amount, used: amount}, "$push": {"pending": eid}},
            )
            if same_hour is not None:
                return same_hour
            new_hour = await self._credit(
                {**base, hour: {"$ne": cap.hour}},
                {
                    "$inc": {"balance": amount},
                    "$set": {f"caps.{cap.kind}": {"h": cap.hour, "n": amount}},
                    "$push": {"pending": eid},
                },
            )
            if new_hour is not None:
                return new_hour
        return None

    async def _credit(self, query: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._accounts.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return doc

    async def release_marker(self, account: str, eid: str) -> None:
        await self._accounts.update_one({"_id": account, "pending": eid}, {"$pull": {"pending": eid}})

    async def set_balance_for_test(self, account: str, balance: int) -> None:
        """Tamper with a balance (tests of ``verify`` only)."""
        await self._accounts.update_one({"_id": account}, {"$set": {"balance": balance}})

    # Watch facts (a projection for achievements)
    async def count_watch_bucket(self, viewer: str, day: str, bucket_id: str, seconds: int) -> None:
        """Count one watch bucket in the viewer's day, once per bucket id (watching two channels in the same bucket
        is one bucket of watch time)."""
        query = {"_id": f"{viewer}:{day}", "buckets": {"$ne": bucket_id}}
        update = {
            "$setOnInsert": {"viewer": viewer, "day": day},
            "$push": {"buckets": bucket_id},
            "$inc": {"seconds": seconds},
        }
        try:
            await self._days.update_one(query, update, upsert=True)
        except DuplicateKeyError:  # counted already, or the day's document was created meanwhile: try once more
            del update["$setOnInsert"]
            await self._days.update_one(query, update)

    async def watch_days(self, viewer: str, *, limit: int) -> list[tuple[str, int]]:
        """(day, seconds watched) of the viewer's newest ``limit`` days with watch time, newest first."""
        docs = (
            await self._days.find({"viewer": viewer}, {"day": 1, "seconds": 1})
            .sort([("day", DESCENDING)])
            .limit(limit)
            .to_list(None)
        )
        return [(str(d["day"]), int(d.get("seconds", 0))) for d in docs]

    async def watch_seconds(self, viewer: str) -> int:
        total = 0
        async for doc in self._days.find({"viewer": viewer}, {"seconds": 1}):
            total += int(doc.get("seconds", 0))
        return total


class RewardStore:
    def __init__(self, db: Any) -> None:
        self._rewards = db["loyalty_rewards"]
        self._redemptions = db["loyalty_redemptions"]
        self._cooldowns = db["loyalty_cooldowns"]

    async def create_indexes(self) -> None:
        await self._rewards.create_index([("channel", ASCENDING), ("created_at", ASCENDING)], name="by_channel")
        await self._redemptions.create_index(
            [("channel", ASCENDING), ("status", ASCENDING), ("created_at", ASCENDING)], name="queue"
        )
        await self._redemptions.create_index([("status", ASCENDING), ("updated_at", ASCENDING)], name="in_flight")
        await self._redemptions.create_index([("reward_id", ASCENDING), ("status", ASCENDING)], name="by_reward")
        await self._redemptions.create_index([("viewer", ASCENDING), ("created_at", DESCENDING)], name="by_viewer")

    # Rewards
    async def insert_reward(self, doc: dict[str, Any]) -> None:
        await self._rewards.insert_one(doc)

    async def get_reward(self, reward_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._rewards.find_one({"_id": reward_id})
        return doc

    async def rewards_of(self, channel: str, *, enabled_only: bool) -> list[dict[str, Any]]:
        query: dict[str, Any] = {"channel": channel, "deleted": {"$ne": True}}
        if enabled_only:
            query["enabled"] = True
        docs: list[dict[str, Any]] = (
            await self._rewards.find(query).sort([("cost", ASCENDING), ("created_at", ASCENDING)]).to_list(None)
        )
        return docs

    async def count_rewards(self, channel: str) -> int:
        return int(await self._rewards.count_documents({"channel": channel, "deleted": {"$ne": True}}))

    async def update_reward(self, reward_id: str, channel: str, fields: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._rewards.find_one_and_update(
            {"_id": reward_id, "channel": channel}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return doc

    async def claim_global_cooldown(self, reward_id: str, now: datetime, until: datetime) -> bool:
        """Start the reward's cooldown if it is enabled and not cooling down (one winner among concurrent ones)."""
        result = await self._rewards.update_one(
            {"_id": reward_id, "enabled": True, "$or": [{"next_at": None}, {"next_at": {"$lte": now}}]},
            {"$set": {"next_at": until}},
        )
        return bool(result.matched_count)

    async def release_global_cooldown(self, reward_id: str, claimed_until: datetime, now: datetime) -> None:
        """Undo our claim (the redemption was not paid), unless somebody else's claim replaced it."""
        await self._rewards.update_one({"_id": reward_id, "next_at": claimed_until}, {"$set": {"next_at": now}})

    async def claim_user_cooldown(self, key: str, now: datetime, until: datetime) -> datetime | None:
        """Start the viewer's cooldown for a reward; None when claimed, else the end of the running one."""
        doc = await self._cooldowns.find_one_and_update(
            {"_id": key, "until": {"$lte": now}}, {"$set": {"until": until}}
        )
        if doc is not None:
            return None
        try:
            await self._cooldowns.insert_one({"_id": key, "until": until})
            return None
        except DuplicateKeyError:
            current = await self._cooldowns.find_one({"_id": key})
            return current["until"] if current else now

    async def release_user_cooldown(self, key: str, claimed_until: datetime, now: datetime) -> None:
        await self._cooldowns.update_one({"_id": key, "until": claimed_until}, {"$set": {"until": now}})

    # Redemptions
    async def insert_redemption(self, doc: dict[str, Any]) -> None:
        try:
            await self._redemptions.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateEntryError(doc["_id"]) from None

    async def get_redemption(self, rid: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._redemptions.find_one({"_id": rid})
        return doc

    async def move_redemption(
        self, rid: str, was: RedemptionStatus, to: RedemptionStatus, at: datetime, *, decided_by: str | None = None
    ) -> dict[str, Any] | None:
        """``was`` → ``to`` (one winner); the redemption after, or None if it was not ``was``."""
        fields: dict[str, Any] = {"status": to.value, "updated_at": at}
        if decided_by is not None:
            fields["decided_by"] = decided_by
        doc: dict[str, Any] | None = await self._redemptions.find_one_and_update(
            {"_id": rid, "status": was.value}, {"$set": fields}, return_document=ReturnDocument.AFTER
        )
        return doc

    async def waiting_for(self, reward_id: str, *, limit: int) -> list[dict[str, Any]]:
        """A reward's redemptions still in the queue or being paid for."""
        waiting = [RedemptionStatus.UNFULFILLED.value, RedemptionStatus.PAYING.value]
        docs: list[dict[str, Any]] = (
            await self._redemptions.find({"reward_id": reward_id, "status": {"$in": waiting}})
            .limit(limit)
            .to_list(None)
        )
        return docs

    async def queue(
        self, channel: str, statuses: list[RedemptionStatus], *, limit: int, newest_first: bool
    ) -> list[dict[str, Any]]:
        order = DESCENDING if newest_first else ASCENDING
        docs: list[dict[str, Any]] = (
            await self._redemptions.find({"channel": channel, "status": {"$in": [s.value for s in statuses]}})
            .sort([("created_at", order), ("_id", order)])
            .limit(limit)
            .to_list(None)
        )
        return docs

    async def stuck(self, statuses: list[RedemptionStatus], before: datetime, *, limit: int) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = (
            await self._redemptions.find(
                {"status": {"$in": [s.value for s in statuses]}, "updated_at": {"$lt": before}}
            )
            .limit(limit)
            .to_list(None)
        )
        return docs

    async def count_redemptions(self, viewer: str) -> int:
        return int(
            await self._redemptions.count_documents(
                {
                    "viewer": viewer,
                    "status": {"$in": [RedemptionStatus.UNFULFILLED.value, RedemptionStatus.FULFILLED.value]},
                }
            )
        )
