"""MongoDB access for notifications. Collections owned here: ``notifications``, ``notify_jobs``,
``push_subscriptions``, ``notify_mutes``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class NotificationStore:
    def __init__(self, db: Any) -> None:
        self._notes = db["notifications"]
        self._jobs = db["notify_jobs"]
        self._subs = db["push_subscriptions"]
        self._mutes = db["notify_mutes"]

    async def create_indexes(self) -> None:
        await self._notes.create_index(
            [("user_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="by_user"
        )
        await self._notes.create_index([("user_id", ASCENDING), ("read", ASCENDING)], name="unread")
        # Retention is a periodic delete_many (``purge_notifications``), not a TTL index: the same on MongoDB and the
        # stand-in, whose TTL emulation rescans the collection on every insert.
        await self._notes.create_index([("at", ASCENDING)], name="by_time")
        await self._jobs.create_index([("done", ASCENDING), ("lease_until", ASCENDING)], name="claimable")
        await self._subs.create_index([("user_id", ASCENDING), ("created_at", ASCENDING)], name="by_user")
        await self._mutes.create_index([("user_id", ASCENDING), ("at", DESCENDING)], name="by_user")

    # Fan-out jobs: one per go-live, claimed under a lease, walked with a cursor.
    async def enqueue_job(self, job_id: str, fields: dict[str, Any], at: datetime) -> bool:
        """A new job (False when one with this id exists: a go-live is fanned out once)."""
        result = await self._jobs.update_one(
            {"_id": job_id},
            {
                "$setOnInsert": {
                    **fields,
                    "created_at": at,
                    "cursor": None,
                    "done": False,
                    "lease_owner": None,
                    "lease_until": EPOCH,
                    "notified": 0,
                    "pushed": 0,
                    "push_failed": 0,
                }
            },
            upsert=True,
        )
        return result.upserted_id is not None

    async def claim_job(self, owner: str, now: datetime, lease_s: float) -> dict[str, Any] | None:
        """The oldest unfinished job whose lease ran out (never held, or its holder went quiet), now held by
        ``owner`` until ``now + lease_s``."""
        doc: dict[str, Any] | None = await self._jobs.find_one_and_update(
            {"done": False, "lease_until": {"$lt": now}},
            {"$set": {"lease_owner": owner, "lease_until": now + timedelta(seconds=lease_s)}},
            sort=[("lease_until", ASCENDING), ("created_at", ASCENDING)],
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def advance_job(
        self, job_id: str, owner: str, cursor: str, now: datetime, lease_s: float, counts: dict[str, int]
    ) -> bool:
        """Record a finished step (the last follower done) and renew the lease; False if ``owner`` lost it."""
        result = await self._jobs.update_one(
            {"_id": job_id, "lease_owner": owner, "done": False},
            {
                "$set": {"cursor": cursor, "lease_until": now + timedelta(seconds=lease_s)},
                "$inc": {k: v for k, v in counts.items() if v},
            }
            if any(counts.values())
            else {"$set": {"cursor": cursor, "lease_until": now + timedelta(seconds=lease_s)}},
        )
        return bool(result.matched_count)

    async def finish_job(self, job_id: str, owner: str, now: datetime) -> bool:
        result = await self._jobs.update_one(
            {"_id": job_id, "lease_owner": owner, "done": False},
            {"$set": {"done": True, "finished_at": now, "lease_owner": None}},
        )
        return bool(result.matched_count)

    async def release_job(self, job_id: str, owner: str) -> None:
        """Give the job back at once (shutting down): another node may continue from its cursor."""
        await self._jobs.update_one(
            {"_id": job_id, "lease_owner": owner, "done": False}, {"$set": {"lease_owner": None, "lease_until": EPOCH}}
        )

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._jobs.find_one({"_id": job_id})
        return doc

    async def count_open_jobs(self) -> int:
        return int(await self._jobs.count_documents({"done": False}))

    # Notifications
    async def insert_notifications(self, docs: list[dict[str, Any]]) -> int:
        """Insert each that is not there yet (ids are deterministic); returns how many were new."""
        if not docs:
            return 0
        try:
            result = await self._notes.insert_many(docs, ordered=False)
            return len(result.inserted_ids)
        except BulkWriteError as exc:
            duplicates = sum(1 for e in exc.details.get("writeErrors", []) if e.get("code") == 11000)
            others = [e for e in exc.details.get("writeErrors", []) if e.get("code") != 11000]
            if others:
                raise
            return len(docs) - duplicates

    async def purge_notifications(self, before: datetime) -> int:
        result = await self._notes.delete_many({"at": {"$lt": before}})
        return int(result.deleted_count)

    async def page_notifications(
        self, user_id: str, after: tuple[datetime, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        q: dict[str, Any] = {"user_id": user_id}
        if after is not None:
            at, last_id = after
            q["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        cursor = self._notes.find(q).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    async def count_unread(self, user_id: str) -> int:
        return int(await self._notes.count_documents({"user_id": user_id, "read": False}))

    async def mark_read(self, user_id: str, ids: list[str] | None) -> int:
        """Mark the user's notifications ``ids`` (all of them when None) read; returns how many changed."""
        q: dict[str, Any] = {"user_id": user_id, "read": False}
        if ids is not None:
            q["_id"] = {"$in": ids}
        result = await self._notes.update_many(q, {"$set": {"read": True}})
        return int(result.modified_count)

    # Mutes: a follower who muted a streamer hears nothing of their going live.
    async def mute(self, user_id: str, streamer_id: str, at: datetime) -> None:
        await self._mutes.update_one(
            {"_id": f"{user_id}:{streamer_id}"},
            {"$setOnInsert": {"user_id": user_id, "streamer_id": streamer_id, "at": at}},
            upsert=True,
        )

    async def unmute(self, user_id: str, streamer_id: str) -> None:
        await self._mutes.delete_one({"_id": f"{user_id}:{streamer_id}"})

    async def muted_by(self, user_id: str, limit: int) -> list[str]:
        docs = await self._mutes.find({"user_id": user_id}).sort([("at", DESCENDING)]).limit(limit).to_list(None)
        return [d["streamer_id"] for d in docs]

    async def who_muted(self, streamer_id: str, user_ids: list[str]) -> set[str]:
        """Those of ``user_ids`` who muted ``streamer_id`` (looked up by id: one batch, one indexed query)."""
        docs = await self._mutes.find({"_id": {"$in": [f"{u}:{streamer_id}" for u in user_ids]}}).to_list(None)
        return {d["user_id"] for d in docs}

    # Push subscriptions
    async def put_subscription(self, doc: dict[str, Any]) -> None:
        """Insert or refresh (same endpoint: the browser re-subscribed, possibly with new keys or another user)."""
        await self._subs.update_one(
            {"_id": doc["_id"]},
            {
                "$set": {k: v for k, v in doc.items() if k not in ("_id", "created_at")},
                "$setOnInsert": {"created_at": doc["created_at"]},
            },
            upsert=True,
        )

    async def subscription_ids(self, user_id: str) -> list[str]:
        docs = await self._subs.find({"user_id": user_id}, {"_id": 1}).sort([("created_at", ASCENDING)]).to_list(None)
        return [d["_id"] for d in docs]

    async def delete_subscription(self, sub_id: str, user_id: str | None = None) -> bool:
        q: dict[str, Any] = {"_id": sub_id}
        if user_id is not None:
            q["user_id"] = user_id
        result = await self._subs.delete_one(q)
        return bool(result.deleted_count)

    async def subscriptions_of(self, user_ids: list[str]) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = await self._subs.find({"user_id": {"$in": user_ids}}).to_list(None)
        return docs
