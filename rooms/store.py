"""MongoDB access for rooms. Collections owned here: ``streams``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument


class StreamStore:
    def __init__(self, db: Any) -> None:
        self._streams = db["streams"]

    async def create_indexes(self) -> None:
        await self._streams.create_index([("stream_key", ASCENDING)], unique=True, name="stream_key_unique")
        await self._streams.create_index(
            [("status", ASCENDING), ("started_at", DESCENDING), ("_id", DESCENDING)], name="directory"
        )
        await self._streams.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="by_owner")

    async def insert(self, doc: dict[str, Any]) -> None:
        await self._streams.insert_one(doc)

    async def get(self, stream_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._streams.find_one({"_id": stream_id})
        return doc

    async def update(self, query: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._streams.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return doc

    async def page(
        self, query: dict[str, Any], after: tuple[datetime, str] | None, limit: int, sort_field: str
    ) -> list[dict[str, Any]]:
        """Newest first by ``sort_field`` then ``_id``; ``after`` is the last (value, id) of the previous page."""
        q = dict(query)
        if after is not None:
            value, last_id = after
            q["$or"] = [{sort_field: {"$lt": value}}, {sort_field: value, "_id": {"$lt": last_id}}]
        cursor = self._streams.find(q).sort([(sort_field, DESCENDING), ("_id", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    async def by_owner(self, owner_id: str, limit: int) -> list[dict[str, Any]]:
        cursor = self._streams.find({"owner_id": owner_id}).sort([("created_at", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    async def where_moderator(self, user_id: str, limit: int) -> list[dict[str, Any]]:
        cursor = (
            self._streams.find({"moderators": user_id, "status": {"$ne": "ended"}})
            .sort([("created_at", DESCENDING)])
            .limit(limit)
        )
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs
