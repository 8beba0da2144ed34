"""MongoDB access for chat and moderation. Collections owned here:

- ``chat_messages``: every chat message; ``deleted``/``cleared`` flags instead of removal (the mod log cites them).
- ``room_settings``: one document per stream (slow mode, followers-only, blocked terms, shield, top gifters).
- ``room_restrictions``: timeouts and bans, one document per (channel owner, user): a ban holds on all the
  owner's streams.
- ``mod_log``: append-only moderation log.
- ``reports``: viewers' reports, queued for moderators.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from rooms.chat_models import ReportStatus


class ChatStore:
    def __init__(self, db: Any) -> None:
        self._messages = db["chat_messages"]
        self._settings = db["room_settings"]
        self._restrictions = db["room_restrictions"]
        self._modlog = db["mod_log"]
        self._reports = db["reports"]

    async def create_indexes(self) -> None:
        await self._messages.create_index(
            [("stream_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="room"
        )
        await self._restrictions.create_index([("owner_id", ASCENDING), ("kind", ASCENDING)], name="by_owner")
        await self._modlog.create_index(
            [("stream_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="room"
        )
        await self._reports.create_index(
            [("stream_id", ASCENDING), ("status", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="queue"
        )
        await self._reports.create_index(
            [("status", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="platform_queue"
        )

    # Messages
    async def insert_message(self, doc: dict[str, Any]) -> None:
        await self._messages.insert_one(doc)

    async def get_message(self, message_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._messages.find_one({"_id": message_id})
        return doc

    async def mark_deleted(self, message_id: str, stream_id: str, by: str, at: datetime) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._messages.find_one_and_update(
            {"_id": message_id, "stream_id": stream_id},
            {"$set": {"deleted": True, "deleted_by": by, "deleted_at": at}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def mark_cleared(self, stream_id: str, at: datetime) -> None:
        await self._messages.update_many(
            {"stream_id": stream_id, "at": {"$lte": at}, "cleared": {"$ne": True}}, {"$set": {"cleared": True}}
        )

    async def page_messages(
        self, stream_id: str, after: tuple[datetime, str] | None, limit: int, *, include_removed: bool
    ) -> list[dict[str, Any]]:
        """Newest first; ``after`` is the last (at, id) of the previous page."""
        q: dict[str, Any] = {"stream_id": stream_id}
        if not include_removed:
            q["deleted"] = {"$ne": True}
            q["cleared"] = {"$ne": True}
        if after is not None:
            at, last_id = after
            q["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        cursor = self._messages.find(q).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    # Settings
    async def get_settings(self, stream_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._settings.find_one({"_id": stream_id})
        return doc

    async def _update_settings(self, stream_id: str, update: dict[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] | None = await self._settings.find_one_and_update(
            {"_id": stream_id}, update, upsert=True, return_document=ReturnDocument.AFTER
        )
        assert doc is not None
        return doc

    async def set_settings(self, stream_id: str, **fields: Any) -> dict[str, Any]:
        """Set the named room settings (``slow_s``, ``followers_only_min_s``, ``shield``, ``shield_preset``,
        ``top_gifters``, ``subscribers_only``); returns the room's settings after."""
        return await self._update_settings(stream_id, {"$set": fields})

    async def add_blocked_term(self, stream_id: str, term: str) -> dict[str, Any]:
        return await self._update_settings(stream_id, {"$addToSet": {"blocked_terms": term}})

    async def remove_blocked_term(self, stream_id: str, term: str) -> dict[str, Any]:
        return await self._update_settings(stream_id, {"$pull": {"blocked_terms": term}})

    # Restrictions
    async def put_restriction(self, owner_id: str, user_id: str, doc: dict[str, Any]) -> None:
        await self._restrictions.replace_one(
            {"_id": f"{owner_id}:{user_id}"}, {"_id": f"{owner_id}:{user_id}", **doc}, upsert=True
        )

    async def get_restriction(self, owner_id: str, user_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._restrictions.find_one({"_id": f"{owner_id}:{user_id}"})
        return doc

    async def delete_restriction(self, owner_id: str, user_id: str) -> bool:
        result = await self._restrictions.delete_one({"_id": f"{owner_id}:{user_id}"})
        return bool(result.deleted_count)

    async def list_restrictions(self, owner_id: str, limit: int) -> list[dict[str, Any]]:
        cursor = self._restrictions.find({"owner_id": owner_id}).sort([("at", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    # Mod log and reports (append-only log; reports change status only)
    async def append_log(self, doc: dict[str, Any]) -> None:
        await self._modlog.insert_one(doc)

    async def page_log(self, stream_id: str, after: tuple[datetime, str] | None, limit: int) -> list[dict[str, Any]]:
        q: dict[str, Any] = {"stream_id": stream_id}
        if after is not None:
            at, last_id = after
            q["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        cursor = self._modlog.find(q).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    async def insert_report(self, doc: dict[str, Any]) -> None:
        await self._reports.insert_one(doc)

    async def get_report(self, report_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._reports.find_one({"_id": report_id})
        return doc

    async def page_reports(
        self, stream_id: str | None, status: ReportStatus | None, after: tuple[datetime, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """A stream's reports, or every stream's (``stream_id`` None: the platform's queue), newest first."""
        q: dict[str, Any] = {} if stream_id is None else {"stream_id": stream_id}
        if status is not None:
            q["status"] = status.value
        if after is not None:
            at, last_id = after
            q["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        cursor = self._reports.find(q).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    async def resolve_report(
        self, stream_id: str, report_id: str, by: str, at: datetime, resolution: str
    ) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._reports.find_one_and_update(
            {"_id": report_id, "stream_id": stream_id},
            {
                "$set": {
                    "status": ReportStatus.RESOLVED.value,
                    "resolved_by": by,
                    "resolved_at": at,
                    "resolution": resolution,
                }
            },
            return_document=ReturnDocument.AFTER,
        )
        return doc
