"""Battle values. Side ``a`` is the streamer who invited (or was matched first), side ``b`` the other."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.clock import as_utc


class BattleState(StrEnum):
    INVITED = "invited"  # waiting for side b's answer until ``due_at``
    LIVE = "live"  # running until ``ends_at``; gifts to either stream count
    AFTER = "after"  # the result is known; both screens show it until ``closes_at``
    CLOSED = "closed"  # over (after the after-period)
    DECLINED = "declined"
    CANCELLED = "cancelled"  # withdrawn by side a, or a side's stream ended before the answer
    EXPIRED = "expired"  # not answered in time


#: States in which a battle holds both streamers (one battle per streamer at a time).
ACTIVE_STATES = frozenset({BattleState.INVITED, BattleState.LIVE, BattleState.AFTER})
SIDES = ("a", "b")


class EndReason(StrEnum):
    TIME = "time"  # the countdown ran out: the score decides
    QUIT = "quit"  # a streamer left the battle (``pk:quit``): the other side wins
    STREAM_ENDED = "stream_ended"  # a side's stream ended (ended by its owner, staff, or its publisher left)


class Mode(StrEnum):
    INVITE = "invite"
    RANDOM = "random"


@dataclass(frozen=True, slots=True)
class Side:
    user_id: str
    stream_id: str
    nickname: str | None = None
    score: int = 0  # beans from gifts to this stream during the battle

    def public(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "stream_id": self.stream_id, "nickname": self.nickname, "score": self.score}


@dataclass(frozen=True, slots=True)
class Result:
    winner: str | None  # "a", "b", or None for a draw
    reason: EndReason
    by: str | None = None  # the side that quit or whose stream ended

    def public(self, battle: Battle) -> dict[str, Any]:
        won = battle.side(self.winner) if self.winner else None
        return {
            "winner": self.winner,
            "winner_stream_id": won.stream_id if won else None,
            "winner_user_id": won.user_id if won else None,
            "draw": self.winner is None,
            "reason": self.reason.value,
            "by": self.by,
        }


@dataclass(frozen=True, slots=True)
class Battle:
    id: str
    state: BattleState
    mode: Mode
    a: Side
    b: Side
    created_at: datetime
    due_at: datetime | None  # the next deadline: invitation expiry, the battle's end, or the after-period's end
    started_at: datetime | None = None
    ends_at: datetime | None = None
    closes_at: datetime | None = None
    result: Result | None = None
    version: int = 1  # grows with every change (score included): clients keep the highest they saw

    def side(self, name: str) -> Side:
        if name == "a":
            return self.a
        if name == "b":
            return self.b
        raise ValueError(f"no side {name!r}")

    def side_of_stream(self, stream_id: str) -> str | None:
        return "a" if self.a.stream_id == stream_id else "b" if self.b.stream_id == stream_id else None

    def side_of_user(self, user_id: str) -> str | None:
        return "a" if self.a.user_id == user_id else "b" if self.b.user_id == user_id else None

    @property
    def stream_ids(self) -> tuple[str, str]:
        return (self.a.stream_id, self.b.stream_id)

    @property
    def user_ids(self) -> tuple[str, str]:
        return (self.a.user_id, self.b.user_id)

    @property
    def active(self) -> bool:
        return self.state in ACTIVE_STATES

    def with_scores(self, a: int, b: int) -> Battle:
        return replace(self, a=replace(self.a, score=a), b=replace(self.b, score=b))

    def public(self, now: datetime | None = None) -> dict[str, Any]:
        """What the pages and apps get (``pk:*`` events, acks). ``remaining_ms``: the countdown at ``now``."""
        out: dict[str, Any] = {
            "id": self.id,
            "state": self.state.value,
            "mode": self.mode.value,
            "version": self.version,
            "a": self.a.public(),
            "b": self.b.public(),
            "created_at": self.created_at.isoformat(),
            "started_at": self.started_at.isoformat() if self.started_at else None,
            "ends_at": self.ends_at.isoformat() if self.ends_at else None,
            "closes_at": self.closes_at.isoformat() if self.closes_at else None,
            "expires_at": self.due_at.isoformat() if self.state is BattleState.INVITED and self.due_at else None,
            "result": self.result.public(self) if self.result else None,
        }
        if now is not None and self.state is BattleState.LIVE and self.ends_at is not None:
            out["remaining_ms"] = max(0, int((self.ends_at - now).total_seconds() * 1000))
        return out

    # The stored form (the store writes and reads it; nothing else sees documents).
    def to_doc(self) -> dict[str, Any]:
        return {
            "_id": self.id,
            "state": self.state.value,
            "mode": self.mode.value,
            "a": {"user_id": self.a.user_id, "stream_id": self.a.stream_id, "nickname": self.a.nickname},
            "b": {"user_id": self.b.user_id, "stream_id": self.b.stream_id, "nickname": self.b.nickname},
            "score_a": self.a.score,
            "score_b": self.b.score,
            "users": list(self.user_ids),
            "streams": list(self.stream_ids),
            "created_at": self.created_at,
            "due_at": self.due_at,
            "started_at": self.started_at,
            "ends_at": self.ends_at,
            "closes_at": self.closes_at,
            "result": (
                {"winner": self.result.winner, "reason": self.result.reason.value, "by": self.result.by}
                if self.result
                else None
            ),
            "version": self.version,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Battle:
        def side(name: str) -> Side:
            s = doc[name]
            return Side(str(s["user_id"]), str(s["stream_id"]), s.get("nickname"), int(doc.get(f"score_{name}", 0)))

        def at(key: str) -> datetime | None:
            value = doc.get(key)
            return as_utc(value) if value is not None else None

        r = doc.get("result")
        return cls(
            id=str(doc["_id"]),
            state=BattleState(doc["state"]),
            mode=Mode(doc.get("mode", Mode.INVITE.value)),
            a=side("a"),
            b=side("b"),
            created_at=as_utc(doc["created_at"]),
            due_at=at("due_at"),
            started_at=at("started_at"),
            ends_at=at("ends_at"),
            closes_at=at("closes_at"),
            result=Result(r.get("winner"), EndReason(r["reason"]), r.get("by")) if r else None,
            version=int(doc.get("version", 1)),
        )
