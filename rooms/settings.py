"""The rooms package's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoomsSettings:
    #: Chat messages per user, every room together (token bucket: burst, then this many per second).
    chat_burst: int = 5
    chat_per_second: float = 1.0
    #: At most one ``viewers:count`` per room member per interval.
    viewers_interval_s: float = 2.0
    #: Likes are summed and sent as ``likes:update`` at most once per interval.
    likes_interval_s: float = 0.3


DEFAULTS = RoomsSettings()
