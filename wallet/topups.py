"""Top-ups: a server-side price list, Stripe Checkout Sessions / PaymentIntents, and crediting coins exactly once.

The transfer id comes from the top-up (``topup:{id}``), never from a Stripe event, so every event that says "paid"
for the same payment credits the same transfer. Refunds and disputes claw coins back through ``WalletService``;
the amount is reserved on the top-up first (optimistic, versioned) so they never take back more than was sold.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from core.errors import RateLimitedError, UnavailableError
from core.ids import new_id
from core.ratelimit import Rate, RateLimiter
from wallet.accounts import COINS_STRIPE, Currency, user_coins
from wallet.errors import TopUpNotFoundError, UnknownCoinPackError
from wallet.models import Leg, TopUpStatus, Transfer, TransferKind, TransferSpec
from wallet.service import WalletService
from wallet.settings import DEFAULTS
from wallet.store_payments import PaymentStore
from wallet.stripe_gateway import StripeGateway

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Pack:
    id: str
    coins: int
    price_cents: int
    currency: str

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "coins": self.coins, "price_cents": self.price_cents, "currency": self.currency}


# Each top-up creates a Stripe PaymentIntent or Checkout Session: a few in a row is a person retrying, dozens is abuse.
DEFAULT_TOPUP_RATE = Rate(burst=DEFAULTS.topup_burst, per_second=DEFAULTS.topup_per_hour / 3600)


class TopUpService:
    def __init__(
        self,
        store: PaymentStore,
        wallet: WalletService,
        gateway: StripeGateway,
        packs: Sequence[Pack],
        clock: Clock,
        *,
        limiter: RateLimiter | None = None,
        rate: Rate = DEFAULT_TOPUP_RATE,
    ) -> None:
        self._limiter = limiter
        self._rate = rate
        self._store = store
        self._wallet = wallet
        self._gateway = gateway
        self._packs = {p.id: p for p in packs}
        self._clock = clock

    @property
    def gateway(self) -> StripeGateway:
        return self._gateway

    def packs(self) -> list[Pack]:
        return list(self._packs.values())

    async def create(self, user_id: str, pack_id: str, method: str) -> dict[str, Any]:
        pack = self._packs.get(pack_id)
        if pack is None:
            raise UnknownCoinPackError(f"no coin pack {pack_id!r}", field="pack_id")
        if self._limiter is not None:
            wait = await self._limiter.hit(f"topup:{user_id}", self._rate)
            if wait:
                raise RateLimitedError(
                    "too many top-ups started; finish or wait before starting another", retry_after_s=wait
                )
        topup_id = new_id()
        now = self._clock.now()
        metadata = {"topup_id": topup_id, "user_id": user_id, "pack_id": pack.id}
        doc: dict[str, Any] = {
            "_id": topup_id,
            "user_id": user_id,
            "pack_id": pack.id,
            "coins": pack.coins,
            "price_cents": pack.price_cents,
            "currency": pack.currency,
            "method": method,
            "status": TopUpStatus.CREATING.value,
            "reversed_coins": 0,
            "reversals": [],
            "rev": 0,
            "created_at": now,
        }
        await self._store.insert_topup(doc)
        try:
            if method == "checkout":
                session = await self._gateway.create_checkout_session(
                    name=f"{pack.coins} coins",
                    amount_cents=pack.price_cents,
                    currency=pack.currency,
                    metadata=metadata,
                    idempotency_key=f"topup-{topup_id}",
                )
                await self._store.mark_topup_open(
                    topup_id, payment_intent=session.payment_intent, checkout_session=session.id
                )
                extra: dict[str, Any] = {"checkout_url": session.url, "checkout_session_id": session.id}
            else:
                intent = await self._gateway.create_payment_intent(
                    amount_cents=pack.price_cents,
                    currency=pack.currency,
                    metadata=metadata,
                    idempotency_key=f"topup-{topup_id}",
                )
                await self._store.mark_topup_open(topup_id, payment_intent=intent.id)
                extra = {"payment_intent_id": intent.id, "client_secret": intent.client_secret}
        except Exception:
            await self._store.mark_topup_failed(topup_id)
            raise
        status = TopUpStatus.OPEN.value
        return {"topup_id": topup_id, "method": method, "pack": pack.to_dict(), "status": status, **extra}

    async def get(self, topup_id: str) -> dict[str, Any]:
        doc = await self._store.get_topup(topup_id)
        if doc is None:
            raise TopUpNotFoundError("no such top-up")
        return doc

    async def find(self, *, topup_id: str | None, intent_id: str | None) -> dict[str, Any] | None:
        doc = await self._store.get_topup(topup_id) if topup_id else None
        if doc is None and intent_id:
            doc = await self._store.find_topup_by_intent(intent_id)
        return doc

    async def credit(self, topup: dict[str, Any], *, intent_id: str | None, source: str) -> Transfer:
        """Credit the top-up's coins (once, whatever calls this and how often)."""
        topup_id = topup["_id"]
        if intent_id and not topup.get("payment_intent"):
            await self._store.set_topup_intent(topup_id, intent_id)
        coins = int(topup["coins"])
        spec = TransferSpec(
            id=f"topup:{topup_id}",
            kind=TransferKind.TOPUP,
            legs=(Leg(COINS_STRIPE, Currency.COINS, -coins), Leg(user_coins(topup["user_id"]), Currency.COINS, coins)),
            refs={
                "topup_id": topup_id,
                "user_id": topup["user_id"],
                "pack_id": topup["pack_id"],
                "price_cents": topup["price_cents"],
                "currency": topup["currency"],
                "payment_intent": intent_id or topup.get("payment_intent"),
                "source": source,
            },
        )
        transfer = await self._wallet.execute(spec)
        if transfer.applied:
            await self._store.mark_topup_paid(topup_id, self._clock.now())
        return transfer

    async def claw_back(
        self, topup: dict[str, Any], *, tid: str, kind: TransferKind, cents: int, cumulative: bool, refs: dict[str, Any]
    ) -> Transfer | None:
        """Take back the coins that ``cents`` of the top-up's price bought (a refund or a dispute), at most once per
        ``tid`` and never more than the top-up credited. ``cumulative``: ``cents`` is the total refunded so far."""
        await self.credit(topup, intent_id=None, source=f"{kind.value}-implies-paid")
        coins = await self._reserve(topup["_id"], tid, kind, cents, cumulative)
        if coins <= 0:
            return None
        return await self._wallet.clawback(
            tid, kind, topup["user_id"], coins, {**refs, "topup_id": topup["_id"], "cents": cents}
        )

    async def _reserve(self, topup_id: str, tid: str, kind: TransferKind, cents: int, cumulative: bool) -> int:
        for _ in range(20):
            doc = await self._store.get_topup(topup_id)
            if doc is None:
                raise TopUpNotFoundError("no such top-up")
            for reversal in doc.get("reversals", []):
                if reversal["tid"] == tid:
                    return int(reversal["coins"])
            price = max(1, int(doc["price_cents"]))
            total = int(doc["coins"])
            wanted = total * min(cents, price) // price
            if cumulative:
                wanted -= sum(int(r["coins"]) for r in doc.get("reversals", []) if r["kind"] == kind.value)
            coins = max(0, min(wanted, total - int(doc.get("reversed_coins", 0))))
            if await self._store.reserve_reversal(
                topup_id,
                rev=doc.get("rev", 0),
                tid=tid,
                kind=kind.value,
                coins=coins,
                status=TopUpStatus.REFUNDED if kind is TransferKind.REFUND else TopUpStatus.DISPUTED,
            ):
                return coins
        raise UnavailableError(f"could not reserve a claw-back on top-up {topup_id}: too much contention")
