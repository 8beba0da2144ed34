"""The gifts package's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GiftsSettings:
    #: Gift sends per sender (token bucket: burst, then this many per second).
    burst: int = 20
    per_second: float = 10.0
    #: Coins one user may spend on gifts per UTC day.
    daily_cap_coins: int = 1_000_000
    #: The same gift from the same sender within this builds a combo.
    combo_window_s: float = 3.0
    #: Beans from gifts mature (become cash-out-able) after this.
    bean_hold_s: float = 48 * 3600.0
    #: The streamer's share of a gift's bean value per gift kind, in basis points (8000 = 80 %).
    share_bps: tuple[tuple[str, int], ...] = (("standard", 8000),)


DEFAULTS = GiftsSettings()
