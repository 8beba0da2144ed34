"""MongoDB access for the admin audit trail. Collection owned here: ``admin_audit`` (append-only: one document per
admin action — who, when, what, on whom or what, why)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING


class AdminAuditStore:
    def __init__(self, db: Any) -> None:
        self._audit = db["admin_audit"]

    async def create_indexes(self) -> None:
        await self._audit.create_index([("at", DESCENDING), ("_id", DESCENDING)], name="newest")
        await self._audit.create_index(
            [("target_id", ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], name="by_target"
        )

    async def append(self, doc: dict[str, Any]) -> None:
        await self._audit.insert_one(doc)

    async def page(self, target_id: str | None, after: tuple[datetime, str] | None, limit: int) -> list[dict[str, Any]]:
        """Newest first; only entries about ``target_id`` when given."""
        q: dict[str, Any] = {}
        if target_id is not None:
            q["target_id"] = target_id
        if after is not None:
            at, last_id = after
            q["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": last_id}}]
        cursor = self._audit.find(q).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs
