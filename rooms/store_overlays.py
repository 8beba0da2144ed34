"""MongoDB access for overlay keys. Collection owned here: ``overlay_keys`` (one document per key ever issued:
``_id`` = the key, ``stream_id``, ``owner_id``, ``created_at``, ``revoked_at``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING


class OverlayKeyStore:
    def __init__(self, db: Any) -> None:
        self._keys = db["overlay_keys"]

    async def create_indexes(self) -> None:
        await self._keys.create_index(
            [("stream_id", ASCENDING), ("revoked_at", ASCENDING), ("created_at", DESCENDING)], name="by_stream"
        )

    async def insert(self, key: str, stream_id: str, owner_id: str, at: datetime) -> None:
        await self._keys.insert_one(
            {"_id": key, "stream_id": stream_id, "owner_id": owner_id, "created_at": at, "revoked_at": None}
        )

    async def get(self, key: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._keys.find_one({"_id": key})
        return doc

    async def active_for(self, stream_id: str) -> dict[str, Any] | None:
        """The stream's newest key that is not revoked, if any."""
        docs = (
            await self._keys.find({"stream_id": stream_id, "revoked_at": None})
            .sort([("created_at", DESCENDING)])
            .limit(1)
            .to_list(1)
        )
        return docs[0] if docs else None

    async def revoke_all(self, stream_id: str, at: datetime, *, keep: str | None = None) -> int:
        """Revoke every key of the stream but ``keep``; how many were revoked."""
        query: dict[str, Any] = {"stream_id": stream_id, "revoked_at": None}
        if keep is not None:
            query["_id"] = {"$ne": keep}
        result = await self._keys.update_many(query, {"$set": {"revoked_at": at}})
        return int(result.modified_count)
