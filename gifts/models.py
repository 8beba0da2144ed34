"""Gift values: catalogue entries, effects, goals, the ack a sender gets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.clock import as_utc


class Rarity(StrEnum):
    COMMON = "common"
    RARE = "rare"
    EPIC = "epic"
    LEGENDARY = "legendary"


@dataclass(frozen=True, slots=True)
class Effect:
    animation: str
    duration_ms: int
    fullscreen: bool

    def to_dict(self) -> dict[str, Any]:
        return {"animation": self.animation, "duration_ms": self.duration_ms, "fullscreen": self.fullscreen}


@dataclass(frozen=True, slots=True)
class Gift:
    id: str
    names: dict[str, str]  # language -> name (en, ru)
    coins: int  # price per gift
    beans: int  # virtual value in beans; the streamer gets the kind's share of it
    rarity: Rarity
    effect: Effect
    combo: bool  # repeated sends within the window build a combo
    kind: str  # revenue-share class
    active: bool
    version: int
    updated_at: datetime

    def __post_init__(self) -> None:
        if self.coins <= 0 or self.beans < 0:
            raise ValueError("a gift needs a positive coin price and a non-negative bean value")

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Gift:
        e = doc["effect"]
        return cls(
            id=doc["_id"] if "gift_id" not in doc else doc["gift_id"],
            names=dict(doc["names"]),
            coins=int(doc["coins"]),
            beans=int(doc["beans"]),
            rarity=Rarity(doc["rarity"]),
            effect=Effect(str(e["animation"]), int(e["duration_ms"]), bool(e["fullscreen"])),
            combo=bool(doc["combo"]),
            kind=str(doc.get("kind", "standard")),
            active=bool(doc.get("active", True)),
            version=int(doc["version"]),
            updated_at=as_utc(doc["updated_at"]),
        )

    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "names": self.names,
            "coins": self.coins,
            "beans": self.beans,
            "rarity": self.rarity.value,
            "effect": self.effect.to_dict(),
            "combo": self.combo,
            "kind": self.kind,
            "active": self.active,
            "version": self.version,
            "updated_at": self.updated_at,
        }

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "names": self.names,
            "coins": self.coins,
            "beans": self.beans,
            "rarity": self.rarity.value,
            "effect": self.effect.to_dict(),
            "combo": self.combo,
            "kind": self.kind,
            "active": self.active,
            "version": self.version,
        }


@dataclass(frozen=True, slots=True)
class GiftAck:
    transfer_id: str
    gift_id: str
    count: int
    combo: int
    coins_spent: int
    balance: int  # the sender's coins right after this gift

    def to_dict(self) -> dict[str, Any]:
        return {
            "transfer_id": self.transfer_id,
            "gift_id": self.gift_id,
            "count": self.count,
            "combo": self.combo,
            "coins_spent": self.coins_spent,
            "balance": self.balance,
        }


@dataclass(frozen=True, slots=True)
class StreamRef:
    """What gifts need to know about a stream (resolved by the hub from ``rooms``; gifts never import rooms)."""

    id: str
    owner_id: str
    live: bool


class GoalKind(StrEnum):
    BEANS = "beans"
    GIFT = "gift"


@dataclass(frozen=True, slots=True)
class Goal:
    stream_id: str
    kind: GoalKind
    target: int
    progress: int
    gift_id: str | None
    title: str
    reached: bool

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Goal:
        return cls(
            doc["_id"],
            GoalKind(doc["kind"]),
            int(doc["target"]),
            int(doc.get("progress", 0)),
            doc.get("gift_id"),
            str(doc.get("title", "")),
            int(doc.get("progress", 0)) >= int(doc["target"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "kind": self.kind.value,
            "target": self.target,
            "progress": min(self.progress, self.target),
            "raw_progress": self.progress,
            "gift_id": self.gift_id,
            "title": self.title,
            "reached": self.reached,
        }
