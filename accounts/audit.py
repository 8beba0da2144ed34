"""The admin audit trail: every action an admin takes on the platform (a role, a suspension, identity verification,
freezing coins, a cash-out decision, a balance adjustment, the gift catalogue, a report, a stream taken down) is
appended here with who did it, when, to whom or what, and why. Append-only: nothing updates or deletes an entry."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from accounts.store_audit import AdminAuditStore
from core.clock import Clock, as_utc
from core.ids import new_id
from core.pagination import Page, clamp_limit, decode_time_cursor, encode_cursor


class AdminAction(enum.StrEnum):
    ROLE = "role"
    SUSPENSION = "suspension"
    IDENTITY = "identity"
    FREEZE = "freeze"
    ADJUSTMENT = "adjustment"
    CASHOUT = "cashout"
    CATALOGUE = "catalogue"
    REPORT = "report"
    TAKEDOWN = "takedown"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: str
    at: datetime
    actor_id: str
    actor_nickname: str
    action: AdminAction
    target_kind: str  # user | stream | cashout | gift | report
    target_id: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "at": self.at,
            "actor_id": self.actor_id,
            "actor_nickname": self.actor_nickname,
            "action": self.action.value,
            "target_kind": self.target_kind,
            "target_id": self.target_id,
            "reason": self.reason,
            "details": self.details,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AuditEntry:
        return cls(
            id=doc["_id"],
            at=as_utc(doc["at"]),
            actor_id=doc["actor_id"],
            actor_nickname=doc.get("actor_nickname", ""),
            action=AdminAction(doc["action"]),
            target_kind=doc["target_kind"],
            target_id=doc["target_id"],
            reason=doc.get("reason", ""),
            details=dict(doc.get("details") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at.isoformat(),
            "actor": {"id": self.actor_id, "nickname": self.actor_nickname},
            "action": self.action.value,
            "target": {"kind": self.target_kind, "id": self.target_id},
            "reason": self.reason,
            "details": self.details,
        }


class AdminAudit:
    def __init__(self, store: AdminAuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record(
        self,
        actor_id: str,
        actor_nickname: str,
        action: AdminAction,
        target_kind: str,
        target_id: str,
        reason: str = "",
        **details: Any,
    ) -> AuditEntry:
        entry = AuditEntry(
            new_id(), self._clock.now(), actor_id, actor_nickname, action, target_kind, target_id, reason, details
        )
        await self._store.append(entry.to_doc())
        return entry

    async def page(self, *, target_id: str | None, cursor: str | None, limit: int | None) -> Page:
        n = clamp_limit(limit, default=50)
        after = decode_time_cursor(cursor) if cursor else None
        docs = await self._store.page(target_id, after, n + 1)
        items = [AuditEntry.from_doc(d) for d in docs[:n]]
        next_cursor = encode_cursor([items[-1].at.isoformat(), items[-1].id]) if len(docs) > n else None
        return Page([e.to_dict() for e in items], next_cursor)
