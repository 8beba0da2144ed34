"""Channel points: accounts, entries (the points ledger), rewards and redemptions.

Points belong to one (viewer, channel) pair: the channel is the streamer's user id, so a viewer's points in a channel
carry over from one broadcast to the next. Every change is a ledger entry with a deterministic id (its idempotency
key) and two legs that sum to zero: the viewer's account and a system account (``points:issued`` for points earned,
``points:spent`` for points redeemed and refunded). System accounts exist only as the sum of their legs (no document
to become a hot spot); the viewer's account is a document whose balance the entries must explain.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from core.clock import as_utc

POINTS_ISSUED = "points:issued"  # counter leg of every earning (goes negative by every point earned)
POINTS_SPENT = "points:spent"  # counter leg of redemptions (+) and their refunds (-)


def points_account(channel: str, viewer: str) -> str:
    return f"points:{channel}:{viewer}"


class EntryKind(enum.StrEnum):
    """What a points entry is for. There is deliberately no kind for buying points: nothing converts coins or money
    into points (``loyalty`` does not even import ``wallet``)."""

    WATCH = "watch"
    CHAT = "chat"
    FOLLOW = "follow"
    REDEEM = "redeem"
    REFUND = "refund"

    @property
    def earning(self) -> bool:
        return self in (EntryKind.WATCH, EntryKind.CHAT, EntryKind.FOLLOW)

    @property
    def counter_account(self) -> str:
        return POINTS_ISSUED if self.earning else POINTS_SPENT


class EntryState(enum.StrEnum):
    PENDING = "pending"  # inserted; the viewer's leg may or may not be applied (its marker tells)
    APPLIED = "applied"  # the leg is applied; its marker may still be on the account
    SETTLED = "settled"  # applied and the marker released: final
    REJECTED = "rejected"  # the guard refused it (not enough points, hourly cap reached): nothing was applied


@dataclass(frozen=True, slots=True)
class Cap:
    """An hourly cap: the viewer's earnings of ``kind`` in this channel within clock hour ``hour`` stay <= ``limit``."""

    kind: str
    hour: int
    limit: int


@dataclass(frozen=True, slots=True)
class EntrySpec:
    id: str
    kind: EntryKind
    channel: str
    viewer: str
    amount: int  # the viewer's leg: > 0 earns or refunds, < 0 redeems
    cap: Cap | None = None
    refs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.amount == 0:
            raise ValueError("a points entry moves at least one point")
        if (self.amount < 0) != (self.kind is EntryKind.REDEEM):
            raise ValueError(f"a {self.kind.value} entry cannot move {self.amount} points")

    @property
    def account(self) -> str:
        return points_account(self.channel, self.viewer)


@dataclass(frozen=True, slots=True)
class PointsEntry:
    id: str
    kind: EntryKind
    state: EntryState
    channel: str
    viewer: str
    amount: int
    created_at: datetime
    balance: int | None = None  # the viewer's balance right after it applied (None if rejected)
    error: str | None = None
    refs: dict[str, Any] = field(default_factory=dict)

    @property
    def applied(self) -> bool:
        return self.state in (EntryState.APPLIED, EntryState.SETTLED)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> PointsEntry:
        result = doc.get("result") or {}
        return cls(
            id=doc["_id"],
            kind=EntryKind(doc["kind"]),
            state=EntryState(doc["state"]),
            channel=doc["channel"],
            viewer=doc["viewer"],
            amount=int(doc["amount"]),
            created_at=as_utc(doc["created_at"]),
            balance=result.get("balance"),
            error=doc.get("error"),
            refs=dict(doc.get("refs") or {}),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind.value,
            "state": self.state.value,
            "channel_id": self.channel,
            "amount": self.amount,
            "at": self.created_at.isoformat(),
        }


class RewardKind(enum.StrEnum):
    HIGHLIGHT = "highlight"  # the viewer's message, highlighted in chat (delivered at once)
    SOUND = "sound"  # a sound alert on the stream's overlays (delivered at once)
    REQUEST = "request"  # a custom request with the viewer's text: waits in the streamer's queue

    @property
    def needs_text(self) -> bool:
        return self in (RewardKind.HIGHLIGHT, RewardKind.REQUEST)


@dataclass(frozen=True, slots=True)
class Reward:
    id: str
    channel: str
    kind: RewardKind
    title: str
    cost: int
    enabled: bool = True
    cooldown_s: int = 0  # for everyone, after any redemption
    user_cooldown_s: int = 0  # per viewer, after their redemption
    prompt: str = ""
    sound: str = ""  # the overlay's sound name for a SOUND reward
    next_at: datetime | None = None  # the global cooldown's end

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Reward:
        return cls(
            id=doc["_id"],
            channel=doc["channel"],
            kind=RewardKind(doc["kind"]),
            title=doc["title"],
            cost=int(doc["cost"]),
            enabled=bool(doc.get("enabled", True)),
            cooldown_s=int(doc.get("cooldown_s", 0)),
            user_cooldown_s=int(doc.get("user_cooldown_s", 0)),
            prompt=doc.get("prompt", ""),
            sound=doc.get("sound", ""),
            next_at=as_utc(doc["next_at"]) if doc.get("next_at") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel_id": self.channel,
            "kind": self.kind.value,
            "title": self.title,
            "cost": self.cost,
            "enabled": self.enabled,
            "cooldown_s": self.cooldown_s,
            "user_cooldown_s": self.user_cooldown_s,
            "prompt": self.prompt,
            "sound": self.sound,
            "cooling_down_until": self.next_at.isoformat() if self.next_at else None,
        }


class RedemptionStatus(enum.StrEnum):
    PAYING = "paying"  # recorded; its debit is being applied
    UNFULFILLED = "unfulfilled"  # paid: in the streamer's queue (highlight/sound until delivered)
    FULFILLED = "fulfilled"  # done (marked by the streamer or a moderator, or delivered at once)
    REFUNDING = "refunding"  # a refund was decided; its credit is being applied
    REFUNDED = "refunded"  # the points are back
    REJECTED = "rejected"  # the debit was refused (not enough points): never paid, never queued


@dataclass(frozen=True, slots=True)
class Redemption:
    id: str
    channel: str
    viewer: str
    viewer_nickname: str
    reward_id: str
    reward_kind: RewardKind
    title: str
    cost: int
    text: str
    status: RedemptionStatus
    stream_id: str
    created_at: datetime
    decided_by: str | None = None
    sound: str = ""

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Redemption:
        return cls(
            id=doc["_id"],
            channel=doc["channel"],
            viewer=doc["viewer"],
            viewer_nickname=doc.get("viewer_nickname", ""),
            reward_id=doc["reward_id"],
            reward_kind=RewardKind(doc["reward_kind"]),
            title=doc["title"],
            cost=int(doc["cost"]),
            text=doc.get("text", ""),
            status=RedemptionStatus(doc["status"]),
            stream_id=doc.get("stream_id", ""),
            created_at=as_utc(doc["created_at"]),
            decided_by=doc.get("decided_by"),
            sound=doc.get("sound", ""),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel_id": self.channel,
            "viewer": {"id": self.viewer, "nickname": self.viewer_nickname},
            "reward_id": self.reward_id,
            "reward_kind": self.reward_kind.value,
            "title": self.title,
            "cost": self.cost,
            "text": self.text,
            "status": self.status.value,
            "stream_id": self.stream_id,
            "at": self.created_at.isoformat(),
            "decided_by": self.decided_by,
        }
