"""The battles package's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BattlesSettings:
    #: How long a battle runs once accepted.
    duration_s: float = 300.0
    #: The after-battle period: the result stays on both screens, the streams side by side, then the battle closes.
    after_s: float = 30.0
    #: An invitation not answered within this expires.
    invite_ttl_s: float = 30.0
    #: A streamer waiting for a random opponent is matched within this or leaves the queue.
    match_wait_s: float = 60.0
    #: How often each node looks for battles whose deadline passed (any node's: deadlines are stored).
    poll_s: float = 1.0

    def __post_init__(self) -> None:
        values = (self.duration_s, self.after_s, self.invite_ttl_s, self.match_wait_s, self.poll_s)
        if min(values) <= 0:
            raise ValueError("battle durations must be positive")


DEFAULTS = BattlesSettings()
