"""MongoDB access for rooms. Collections owned here: ``streams``, ``channel_moderators``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument

from rooms.models import StreamStatus


class StreamStore:
    def __init__(self, db: Any) -> None:
        self._streams = db["streams"]
        self._channel_mods = db["channel_moderators"]

    async def create_indexes(self) -> None:
        await self._streams.create_index([("stream_key", ASCENDING)], unique=True, name="stream_key_unique")
        await self._streams.create_index(
            [("status", ASCENDING), ("started_at", DESCENDING), ("_id", DESCENDING)], name="directory"
        )
        await self._streams.create_index([("owner_id", ASCENDING), ("created_at", DESCENDING)], name="by_owner")
        # Directory filters and search (multikey: one entry per keyword or tag).
        await self._streams.create_index(
            [("status", ASCENDING), ("keywords", ASCENDING), ("started_at", DESCENDING)], name="directory_search"
        )
        await self._streams.create_index(
            [("status", ASCENDING), ("category", ASCENDING), ("started_at", DESCENDING)], name="directory_category"
        )
        await self._streams.create_index(
            [("status", ASCENDING), ("tags", ASCENDING), ("started_at", DESCENDING)], name="directory_tags"
        )
        await self._channel_mods.create_index([("user_id", ASCENDING)], name="by_moderator")
        await self._channel_mods.create_index([("owner_id", ASCENDING), ("at", ASCENDING)], name="by_channel")

    async def insert(self, doc: dict[str, Any]) -> None:
        await self._streams.insert_one(doc)

    async def get(self, stream_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._streams.find_one({"_id": stream_id})
        return doc

    async def _update(self, query: dict[str, Any], update: dict[str, Any]) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._streams.find_one_and_update(
            query, update, return_document=ReturnDocument.AFTER
        )
        return doc

    async def set_stream_key(self, stream_id: str, stream_key: str) -> dict[str, Any] | None:
        return await self._update({"_id": stream_id}, {"$set": {"stream_key": stream_key}})

    async def set_transcode_ladder(self, stream_id: str, enabled: bool) -> dict[str, Any] | None:
        return await self._update({"_id": stream_id}, {"$set": {"transcode_ladder": enabled}})

    async def mark_live(self, stream_id: str, at: datetime) -> dict[str, Any] | None:
        """``created`` → ``live``; None if it was not created (live already, or ended)."""
        return await self._update(
            {"_id": stream_id, "status": StreamStatus.CREATED.value},
            {"$set": {"status": StreamStatus.LIVE.value, "started_at": at}},
        )

    async def mark_ended(self, stream_id: str, at: datetime, duration_s: int) -> dict[str, Any] | None:
        """Any state but ended → ``ended``, keeping its stats; None if it had ended already."""
        return await self._update(
            {"_id": stream_id, "status": {"$ne": StreamStatus.ENDED.value}},
            {"$set": {"status": StreamStatus.ENDED.value, "ended_at": at, "stats.duration_s": duration_s}},
        )

    async def record_stats(self, stream_id: str, *, peak_viewers: int | None, inc: dict[str, int] | None) -> None:
        """Raise ``stats.peak_viewers`` to at least ``peak_viewers``; add ``inc`` to the named counters."""
        update: dict[str, Any] = {}
        if peak_viewers is not None:
            update["$max"] = {"stats.peak_viewers": peak_viewers}
        if inc:
            update["$inc"] = {f"stats.{k}": v for k, v in inc.items()}
        if update:
            await self._update({"_id": stream_id}, update)

    async def page(
        self,
        *,
        status: StreamStatus | None,
        owners: list[str] | None,
        after: tuple[datetime, str] | None,
        limit: int,
        sort_field: str,
        category: str | None = None,
        tags: list[str] | None = None,
        keywords: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Streams in ``status`` (any if None) of ``owners`` (anyone's if None), newest first by ``sort_field`` then
        ``_id``; ``after`` is the last (value, id) of the previous page."""
        q: dict[str, Any] = {}
        if status is not None:
            q["status"] = status.value
        if owners is not None:
            q["owner_id"] = {"$in": owners}
        if category is not None:
            q["category"] = category
        if tags:
            q["tags"] = {"$all": tags}
        if keywords:
            q["keywords"] = {"$all": keywords}
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
        """Streams not ended yet of the channels ``user_id`` moderates."""
        owners = await self.channels_moderated_by(user_id)
        if not owners:
            return []
        cursor = (
            self._streams.find({"owner_id": {"$in": owners}, "status": {"$ne": StreamStatus.ENDED.value}})
            .sort([("created_at", DESCENDING)])
            .limit(limit)
        )
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    # Channel moderators: named by a streamer, they moderate every stream of that streamer's channel.
    async def add_channel_moderator(self, owner_id: str, user_id: str, at: datetime) -> None:
        await self._channel_mods.update_one(
            {"_id": f"{owner_id}:{user_id}"},
            {"$setOnInsert": {"owner_id": owner_id, "user_id": user_id, "at": at}},
            upsert=True,
        )

    async def remove_channel_moderator(self, owner_id: str, user_id: str) -> bool:
        result = await self._channel_mods.delete_one({"_id": f"{owner_id}:{user_id}"})
        return bool(result.deleted_count)

    async def channel_moderators(self, owner_ids: list[str]) -> dict[str, list[str]]:
        """Each channel's moderators, in the order they were named."""
        out: dict[str, list[str]] = {o: [] for o in owner_ids}
        cursor = self._channel_mods.find({"owner_id": {"$in": list(out)}}).sort([("at", ASCENDING), ("_id", ASCENDING)])
        for doc in await cursor.to_list(None):
            out[doc["owner_id"]].append(doc["user_id"])
        return out

    async def channels_moderated_by(self, user_id: str) -> list[str]:
        cursor = self._channel_mods.find({"user_id": user_id}).limit(1000)
        return [doc["owner_id"] for doc in await cursor.to_list(None)]
