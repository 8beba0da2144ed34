"""MongoDB access for stream thumbnails. Collection owned here: ``stream_thumbnails`` (one document per stream:
``_id`` = the stream id, ``image`` (bytes), ``content_type``, ``width``, ``height``, ``version`` (counts up with
each new picture), ``taken_at``, ``node`` (the node that made it))."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ReturnDocument


class ThumbnailStore:
    def __init__(self, db: Any) -> None:
        self._thumbs = db["stream_thumbnails"]

    async def put(
        self, stream_id: str, image: bytes, content_type: str, width: int, height: int, at: datetime, node: str
    ) -> int:
        """Replace the stream's picture; returns its new version."""
        doc = await self._thumbs.find_one_and_update(
            {"_id": stream_id},
            {
                "$set": {
                    "image": image,
                    "content_type": content_type,
                    "width": width,
                    "height": height,
                    "taken_at": at,
                    "node": node,
                },
                "$inc": {"version": 1},
            },
            upsert=True,
            return_document=ReturnDocument.AFTER,
            projection={"version": True},
        )
        return int(doc["version"])

    async def get(self, stream_id: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._thumbs.find_one({"_id": stream_id})
        return doc

    async def versions(self, stream_ids: list[str]) -> dict[str, int]:
        """The current version of each stream's picture (streams without one are absent); no image bytes read."""
        if not stream_ids:
            return {}
        docs = await self._thumbs.find({"_id": {"$in": stream_ids}}, {"version": True}).to_list(len(stream_ids))
        return {str(d["_id"]): int(d["version"]) for d in docs}

    async def delete(self, stream_id: str) -> None:
        await self._thumbs.delete_one({"_id": stream_id})
