"""Values of a room's chat and moderation: messages, settings, restrictions, log entries, reports."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from core.clock import as_utc
from core.errors import InvalidInputError


class RoomRole(enum.StrEnum):
    """The caller's role in one room, strongest first."""

    ADMIN = "admin"
    STAFF = "staff"  # a global moderator
    OWNER = "owner"
    MODERATOR = "moderator"  # named by the owner
    VIEWER = "viewer"
    GUEST = "guest"

    @property
    def can_moderate(self) -> bool:
        return self in (RoomRole.ADMIN, RoomRole.STAFF, RoomRole.OWNER, RoomRole.MODERATOR)


class ReportStatus(enum.StrEnum):
    OPEN = "open"  # queued for the room's moderators
    RESOLVED = "resolved"


class ModAction(enum.StrEnum):
    DELETE = "delete"
    TIMEOUT = "timeout"
    BAN = "ban"
    UNBAN = "unban"
    SLOW = "slow"
    FOLLOWERS_ONLY = "followers_only"
    SUBSCRIBERS_ONLY = "subscribers_only"
    CLEAR = "clear"
    BLOCK_TERM = "block_term"
    UNBLOCK_TERM = "unblock_term"
    SHIELD = "shield"
    END_STREAM = "end_stream"


@dataclass(frozen=True, slots=True)
class ChatMessage:
    id: str
    stream_id: str
    user_id: str
    nickname: str
    text: str
    at: datetime
    badges: tuple[str, ...] = ()
    mentions: tuple[tuple[str, str], ...] = ()  # (user_id, nickname)
    client_id: str | None = None
    sub_months: int = 0  # the subscriber badge's months count (0: not a subscriber)
    emotes: tuple[tuple[str, str], ...] = ()  # (code, image URL) of the channel's emotes the text uses
    highlighted: bool = False  # a channel-points reward: shown highlighted in chat

    def to_dict(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "nickname": self.nickname, "badges": list(self.badges)}
        if self.sub_months:
            user["sub_months"] = self.sub_months
        out: dict[str, Any] = {
            "id": self.id,
            "stream_id": self.stream_id,
            "user": user,
            "text": self.text,
            "mentions": [{"user_id": u, "nickname": n} for u, n in self.mentions],
            "client_id": self.client_id,
            "at": self.at.isoformat(),
        }
        if self.emotes:
            out["emotes"] = [{"code": c, "url": u} for c, u in self.emotes]
        if self.highlighted:
            out["highlighted"] = True
        return out

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "stream_id": self.stream_id,
            "user_id": self.user_id,
            "nickname": self.nickname,
            "text": self.text,
            "at": self.at,
            "badges": list(self.badges),
            "mentions": [list(m) for m in self.mentions],
            "client_id": self.client_id,
            "deleted": False,
            **({"sub_months": self.sub_months} if self.sub_months else {}),
            **({"emotes": [list(e) for e in self.emotes]} if self.emotes else {}),
            **({"highlighted": True} if self.highlighted else {}),
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ChatMessage:
        return cls(
            id=doc["_id"],
            stream_id=doc["stream_id"],
            user_id=doc["user_id"],
            nickname=doc["nickname"],
            text=doc["text"],
            at=as_utc(doc["at"]),
            badges=tuple(doc.get("badges", ())),
            mentions=tuple((m[0], m[1]) for m in doc.get("mentions", ())),
            client_id=doc.get("client_id"),
            sub_months=int(doc.get("sub_months", 0)),
            emotes=tuple((e[0], e[1]) for e in doc.get("emotes", ())),
            highlighted=bool(doc.get("highlighted", False)),
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ChatMessage:
        user = data["user"]
        return cls(
            id=data["id"],
            stream_id=data["stream_id"],
            user_id=user["id"],
            nickname=user["nickname"],
            text=data["text"],
            at=datetime.fromisoformat(data["at"]),
            badges=tuple(user.get("badges", ())),
            mentions=tuple((m["user_id"], m["nickname"]) for m in data.get("mentions", ())),
            client_id=data.get("client_id"),
            sub_months=int(user.get("sub_months", 0)),
            emotes=tuple((e["code"], e["url"]) for e in data.get("emotes", ())),
            highlighted=bool(data.get("highlighted", False)),
        )


SLOW_MIN_S, SLOW_MAX_S = 3, 120
FOLLOW_AGE_MAX_S = 90 * 24 * 3600
ACCOUNT_AGE_MAX_S = 90 * 24 * 3600


@dataclass(frozen=True, slots=True)
class ShieldPreset:
    """Restrictions switched on together by shield mode (like Twitch's Shield Mode)."""

    slow_s: int = 30
    followers_only_min_s: int | None = 10 * 60
    min_account_age_s: int = 24 * 3600

    def __post_init__(self) -> None:
        if not SLOW_MIN_S <= self.slow_s <= SLOW_MAX_S:
            raise InvalidInputError(f"slow_s must be {SLOW_MIN_S}-{SLOW_MAX_S}", field="value.preset.slow_s")
        if self.followers_only_min_s is not None and not 0 <= self.followers_only_min_s <= FOLLOW_AGE_MAX_S:
            raise InvalidInputError("followers_only_min_s is out of range", field="value.preset.followers_only_min_s")
        if not 0 <= self.min_account_age_s <= ACCOUNT_AGE_MAX_S:
            raise InvalidInputError("min_account_age_s is out of range", field="value.preset.min_account_age_s")

    def to_dict(self) -> dict[str, Any]:
        return {
            "slow_s": self.slow_s,
            "followers_only_min_s": self.followers_only_min_s,
            "min_account_age_s": self.min_account_age_s,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> ShieldPreset:
        if not data:
            return cls()
        return cls(
            slow_s=int(data.get("slow_s", 30)),
            followers_only_min_s=(
                None if data.get("followers_only_min_s") is None else int(data["followers_only_min_s"])
            ),
            min_account_age_s=int(data.get("min_account_age_s", 24 * 3600)),
        )


@dataclass(frozen=True, slots=True)
class RoomSettings:
    """A room's chat settings. ``effective()`` folds the shield preset in when shield mode is on."""

    stream_id: str
    slow_s: int = 0  # 0 = off
    followers_only_min_s: int | None = None  # None = off; 0 = any follower
    min_account_age_s: int = 0
    blocked_terms: tuple[str, ...] = ()
    shield: bool = False
    shield_preset: ShieldPreset = field(default_factory=ShieldPreset)
    top_gifters: tuple[str, ...] = ()
    subscribers_only: bool = False  # only the channel's subscribers (and its moderators) chat

    def effective(self) -> RoomSettings:
        if not self.shield:
            return self
        p = self.shield_preset
        follow = self.followers_only_min_s
        if p.followers_only_min_s is not None:
            follow = max(follow or 0, p.followers_only_min_s)
        return replace(
            self,
            slow_s=max(self.slow_s, p.slow_s),
            followers_only_min_s=follow,
            min_account_age_s=max(self.min_account_age_s, p.min_account_age_s),
        )

    def to_public(self) -> dict[str, Any]:
        eff = self.effective()
        return {
            "stream_id": self.stream_id,
            "slow_s": eff.slow_s,
            "followers_only": eff.followers_only_min_s is not None,
            "followers_only_min_s": eff.followers_only_min_s,
            "min_account_age_s": eff.min_account_age_s,
            "shield": self.shield,
            "subscribers_only": self.subscribers_only,
        }

    def to_moderator(self) -> dict[str, Any]:
        return {
            **self.to_public(),
            "base": {
                "slow_s": self.slow_s,
                "followers_only_min_s": self.followers_only_min_s,
                "min_account_age_s": self.min_account_age_s,
            },
            "blocked_terms": list(self.blocked_terms),
            "shield_preset": self.shield_preset.to_dict(),
            "top_gifters": list(self.top_gifters),
        }

    @classmethod
    def from_doc(cls, stream_id: str, doc: dict[str, Any] | None) -> RoomSettings:
        if not doc:
            return cls(stream_id)
        return cls(
            stream_id=stream_id,
            slow_s=int(doc.get("slow_s", 0)),
            followers_only_min_s=doc.get("followers_only_min_s"),
            min_account_age_s=int(doc.get("min_account_age_s", 0)),
            blocked_terms=tuple(doc.get("blocked_terms", ())),
            shield=bool(doc.get("shield", False)),
            shield_preset=ShieldPreset.from_dict(doc.get("shield_preset")),
            top_gifters=tuple(doc.get("top_gifters", ())),
            subscribers_only=bool(doc.get("subscribers_only", False)),
        )


@dataclass(frozen=True, slots=True)
class Restriction:
    """A timeout (``until`` set) or a ban (``until`` None) of one user in one channel (the stream owner's)."""

    user_id: str
    kind: str  # "timeout" | "ban"
    until: datetime | None
    reason: str

    def active(self, now: datetime) -> bool:
        return self.until is None or self.until > now

    def to_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "kind": self.kind,
            "until": self.until.isoformat() if self.until else None,
            "reason": self.reason,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Restriction:
        until = doc.get("until")
        return cls(doc["user_id"], doc["kind"], as_utc(until) if until else None, doc.get("reason", ""))


def log_entry_to_dict(doc: dict[str, Any]) -> dict[str, Any]:
    """A mod-log or report document as the wire shows it."""
    out = {k: v for k, v in doc.items() if k != "_id"}
    out["id"] = doc["_id"]
    for key, value in list(out.items()):
        if isinstance(value, datetime):
            out[key] = as_utc(value).isoformat()
    return out
