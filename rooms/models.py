from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.clock import as_utc
from core.ids import StreamId, UserId


class StreamStatus(enum.StrEnum):
    CREATED = "created"  # made, not live yet
    LIVE = "live"
    ENDED = "ended"


@dataclass(frozen=True, slots=True)
class StreamStats:
    peak_viewers: int = 0
    likes: int = 0
    gifts_coins: int = 0
    gifts_beans: int = 0
    duration_s: int = 0

    @classmethod
    def from_doc(cls, doc: dict[str, Any] | None) -> StreamStats:
        doc = doc or {}
        return cls(**{k: int(doc.get(k, 0)) for k in cls.__dataclass_fields__})

    def to_dict(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True, slots=True)
class Stream:
    id: StreamId
    owner_id: UserId
    title: str
    category: str | None
    tags: tuple[str, ...]
    status: StreamStatus
    stream_key: str
    created_at: datetime
    started_at: datetime | None = None
    ended_at: datetime | None = None
    moderators: tuple[UserId, ...] = ()
    stats: StreamStats = field(default_factory=StreamStats)
    #: The owner asked for a transcoded ladder (lower layers made by the SFU when the publisher sends one layer).
    transcode_ladder: bool = False

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Stream:
        return cls(
            id=StreamId(doc["_id"]),
            owner_id=UserId(doc["owner_id"]),
            title=doc["title"],
            category=doc.get("category"),
            tags=tuple(doc.get("tags", ())),
            status=StreamStatus(doc["status"]),
            stream_key=doc["stream_key"],
            created_at=as_utc(doc["created_at"]),
            started_at=as_utc(doc["started_at"]) if doc.get("started_at") else None,
            ended_at=as_utc(doc["ended_at"]) if doc.get("ended_at") else None,
            moderators=tuple(UserId(m) for m in doc.get("moderators", ())),
            stats=StreamStats.from_doc(doc.get("stats")),
            transcode_ladder=bool(doc.get("transcode_ladder", False)),
        )

    @property
    def is_live(self) -> bool:
        return self.status is StreamStatus.LIVE

    def to_public(self) -> dict[str, Any]:
        """The stream as anyone sees it (never the key)."""
        return {
            "id": self.id,
            "owner_id": self.owner_id,
            "title": self.title,
            "category": self.category,
            "tags": list(self.tags),
            "status": self.status.value,
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "moderators": list(self.moderators),
            "stats": self.stats.to_dict(),
        }
