"""Achievements: computed from recorded facts whenever a profile is read (nothing to fall out of step).

The facts come from their owners (gifts sent from the coins ledger, follows from accounts, watch time, chat and
redemptions from the points ledger); ``app/achievements.py`` gathers them into ``Facts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

STREAK_DAYS = 10
HOURS_WATCHED = (10, 100)


@dataclass(frozen=True, slots=True)
class Facts:
    gifts_sent: int
    follows: int
    chat_messages: int  # that earned points
    redemptions: int
    watch_seconds: int
    watch_days: tuple[str, ...]  # ISO days with watch time, newest first


@dataclass(frozen=True, slots=True)
class Achievement:
    id: str
    title: str
    description: str
    unlocked: bool
    progress: int
    target: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "description": self.description,
            "unlocked": self.unlocked,
            "progress": min(self.progress, self.target),
            "target": self.target,
        }


def longest_streak(days: tuple[str, ...]) -> int:
    """The longest run of consecutive UTC days with watch time (an achievement, once reached, stays)."""
    have = sorted({date.fromisoformat(d) for d in days})
    best = run = 0
    prev: date | None = None
    for d in have:
        run = run + 1 if prev is not None and d - prev == timedelta(days=1) else 1
        best = max(best, run)
        prev = d
    return best


def compute(f: Facts) -> list[Achievement]:
    def one(aid: str, title: str, description: str, progress: int, target: int) -> Achievement:
        return Achievement(aid, title, description, progress >= target, progress, target)

    hours = f.watch_seconds // 3600
    out = [
        one("first_gift", "First gift", "Sent a gift", f.gifts_sent, 1),
        one("first_follow", "First follow", "Followed a channel", f.follows, 1),
        one("first_words", "First words", "Chatted during a live stream", f.chat_messages, 1),
        one("first_redemption", "Treat yourself", "Redeemed a channel reward", f.redemptions, 1),
        one(
            "watch_streak_10",
            f"{STREAK_DAYS}-day streak",
            f"Watched live streams {STREAK_DAYS} days in a row",
            longest_streak(f.watch_days),
            STREAK_DAYS,
        ),
    ]
    out += [
        one(f"hours_watched_{n}", f"{n} hours", f"Watched {n} hours of live streams", hours, n) for n in HOURS_WATCHED
    ]
    return out
