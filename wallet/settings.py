"""The wallet's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CoinPack:
    """A server-side price: the client names a pack, never a price or an amount of coins."""

    id: str
    coins: int
    price_cents: int
    currency: str = "usd"

    def __post_init__(self) -> None:
        if self.coins <= 0 or self.price_cents <= 0:
            raise ValueError(f"coin pack {self.id!r} needs positive coins and price")


@dataclass(frozen=True, slots=True)
class WalletSettings:
    #: Stripe's API key and webhook signing secret (``hub.settings`` generates test ones in dev mode and checks them).
    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    #: Another Stripe-compatible endpoint (test doubles); None: Stripe's own.
    stripe_api_base: str | None = None
    coin_packs: tuple[CoinPack, ...] = (
        CoinPack("coins_70", 70, 99),
        CoinPack("coins_350", 350, 499),
        CoinPack("coins_1400", 1400, 1999),
        CoinPack("coins_7000", 7000, 9999),
    )
    #: The smallest cash-out.
    cashout_min_beans: int = 1000
    #: Top-ups a user may start (token bucket: burst, then this many per hour).
    topup_burst: int = 5
    topup_per_hour: int = 20
    #: A transfer's driver holds it this long before the reconciler may take it over.
    lease_s: float = 15.0
    #: How often the reconciler finishes stuck transfers, republishes and matures beans.
    reconcile_interval_s: float = 2.0


DEFAULTS = WalletSettings()
