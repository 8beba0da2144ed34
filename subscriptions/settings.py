"""The subscriptions package's settings: plain values, each default written here once (``hub.settings`` reads
``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubTier:
    """One monthly tier. The client names a tier, never a price."""

    id: str
    name: str
    price_cents: int  # charged every month through Stripe Billing
    coins: int  # the price of one gifted month, paid in coins
    beans: int  # the bean value of one month (the streamer's share is a part of it)
    currency: str = "usd"

    def __post_init__(self) -> None:
        if not self.id or self.price_cents <= 0 or self.coins <= 0 or self.beans < 0:
            raise ValueError(f"subscription tier {self.id!r} needs an id, a positive price and coins")


@dataclass(frozen=True, slots=True)
class SubscriptionsSettings:
    tiers: tuple[SubTier, ...] = (
        SubTier("tier1", "Tier 1", 499, 500, 499),
        SubTier("tier2", "Tier 2", 999, 1000, 999),
        SubTier("tier3", "Tier 3", 2499, 2500, 2499),
    )
    #: Bumped whenever the tiers change; every subscription and transfer records the version it was sold at.
    tiers_version: int = 1
    #: The streamer's share of a month's bean value, in basis points (5000 = 50 %), and its version.
    share_bps: int = 5000
    share_version: int = 1
    #: How long one gifted month lasts.
    gift_days: int = 30
    #: Emote uploads: bytes, the longest side in pixels, emotes per channel.
    emote_max_bytes: int = 256 * 1024
    emote_max_px: int = 128
    emotes_per_channel: int = 50

    def __post_init__(self) -> None:
        if not 0 <= self.share_bps <= 10_000:
            raise ValueError("the subscription share is 0-10000 basis points")
        if len({t.id for t in self.tiers}) != len(self.tiers):
            raise ValueError("subscription tier ids must be unique")


DEFAULTS = SubscriptionsSettings()
