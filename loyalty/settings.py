"""Channel points: plain values, each default written here once (``hub.settings`` reads ``HUB_LOYALTY_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LoyaltySettings:
    #: Watch time is credited per interval bucket (aligned to the clock) in which the viewer is present.
    watch_interval_s: int = 60
    #: Points per watch interval.
    watch_points: int = 2
    #: At most this many watch points per viewer, channel and clock hour.
    watch_cap_per_hour: int = 120
    #: Points per chat message (while the stream is live).
    chat_points: int = 1
    #: At most this many chat points per viewer, channel and clock hour.
    chat_cap_per_hour: int = 20
    #: Points for following a channel (once per follower and channel, ever: a re-follow earns nothing).
    follow_points: int = 50
    #: At most this many follow points per viewer, channel and clock hour.
    follow_cap_per_hour: int = 50
    #: A points entry's driver holds it this long before the reconciler may take it over.
    lease_s: float = 15.0
    #: How often the points reconciler finishes stuck entries and redemptions.
    reconcile_interval_s: float = 5.0
    #: Rewards a channel may define.
    max_rewards: int = 50

    def __post_init__(self) -> None:
        if self.watch_interval_s < 1:
            raise ValueError("watch_interval_s must be at least 1")
        for name in ("watch_points", "chat_points", "follow_points"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")


DEFAULTS = LoyaltySettings()
