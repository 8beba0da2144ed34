"""Values of the notifications package."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.clock import as_utc


class NotificationKind(enum.StrEnum):
    LIVE = "live"  # a followed streamer went live


@dataclass(frozen=True, slots=True)
class Notification:
    id: str
    user_id: str
    kind: NotificationKind
    at: datetime
    read: bool
    stream_id: str | None = None
    actor_id: str | None = None  # who it is about (the streamer)
    actor_name: str = ""
    title: str = ""

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Notification:
        return cls(
            id=doc["_id"],
            user_id=doc["user_id"],
            kind=NotificationKind(doc["kind"]),
            at=as_utc(doc["at"]),
            read=bool(doc.get("read", False)),
            stream_id=doc.get("stream_id"),
            actor_id=doc.get("actor_id"),
            actor_name=doc.get("actor_name", ""),
            title=doc.get("title", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "at": self.at.isoformat(),
            "read": self.read,
            "stream_id": self.stream_id,
            "actor_id": self.actor_id,
            "actor_name": self.actor_name,
            "title": self.title,
        }


@dataclass(frozen=True, slots=True)
class GoLive:
    """What a go-live fan-out tells each follower."""

    stream_id: str
    streamer_id: str
    streamer_name: str
    title: str
    at: datetime

    def notification_id(self, user_id: str) -> str:
        """Deterministic: a fan-out step that runs twice (after a crash) writes each follower's notification once."""
        return f"{NotificationKind.LIVE.value}:{self.stream_id}:{user_id}"


@dataclass(frozen=True, slots=True)
class PushSubscription:
    """A browser's Web Push subscription (``PushSubscription.toJSON()``): where to POST, and the keys to encrypt
    for (RFC 8291: the user agent's P-256 public key and its 16-byte auth secret, base64url)."""

    id: str
    user_id: str
    endpoint: str
    p256dh: str
    auth: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PushSubscription:
        return cls(doc["_id"], doc["user_id"], doc["endpoint"], doc["p256dh"], doc["auth"])

    def info(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": self.auth}}


@dataclass(frozen=True, slots=True)
class FanoutJob:
    id: str
    event: GoLive
    cursor: str | None  # the last follower done (followers are walked in id order)
    lease_until: datetime

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> FanoutJob:
        return cls(
            id=doc["_id"],
            event=GoLive(
                stream_id=doc["stream_id"],
                streamer_id=doc["streamer_id"],
                streamer_name=doc.get("streamer_name", ""),
                title=doc.get("title", ""),
                at=as_utc(doc["created_at"]),
            ),
            cursor=doc.get("cursor"),
            lease_until=as_utc(doc["lease_until"]),
        )
