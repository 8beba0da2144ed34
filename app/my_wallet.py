"""A person's own wallet: balances, ledger history, the coin packs on sale, buying coins (Stripe top-ups) and asking
for a cash-out of matured beans. Admins' money work is ``app.money_admin``; Stripe's confirmations are
``app.payments``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.service import AccountService
from app.policy import Action, require
from app.principal import Principal
from core.errors import ForbiddenError
from core.pagination import Page
from wallet.cashouts import Cashout, CashoutService
from wallet.service import Balances, WalletService
from wallet.topups import Pack, TopUpService

#: What a person sees of one of their top-ups.
_TOPUP_FIELDS = ("pack_id", "coins", "price_cents", "currency", "method", "status", "reversed_coins")


@dataclass(frozen=True, slots=True)
class MyBalances:
    balances: Balances
    cashout_minimum_beans: int

    def to_dict(self) -> dict[str, Any]:
        return {**self.balances.to_dict(), "cashout_minimum_beans": self.cashout_minimum_beans}


class MyWallet:
    def __init__(
        self, accounts: AccountService, wallet: WalletService, topups: TopUpService, cashouts: CashoutService
    ) -> None:
        self._accounts = accounts
        self._wallet = wallet
        self._topups = topups
        self._cashouts = cashouts

    def coin_packs(self, who: Principal | None) -> list[Pack]:
        require(Action.BROWSE_COIN_PACKS, who)
        return self._topups.packs()

    async def balances(self, who: Principal | None) -> MyBalances:
        require(Action.USE_WALLET, who)
        assert who is not None
        return MyBalances(await self._wallet.balances(who.user_id), self._cashouts.minimum_beans)

    async def transactions(self, who: Principal | None, *, cursor: str | None, limit: int | None) -> Page:
        """The caller's ledger history, newest first."""
        require(Action.USE_WALLET, who)
        assert who is not None
        return await self._wallet.transactions(who.user_id, cursor=cursor, limit=limit)

    async def start_topup(self, who: Principal | None, pack_id: str, method: str) -> dict[str, Any]:
        """A Stripe Checkout URL (``checkout``) or PaymentIntent client secret (``payment_intent``) for a coin pack.
        The coins arrive when Stripe confirms the payment (``app.payments``)."""
        require(Action.USE_WALLET, who)
        assert who is not None
        return await self._topups.create(who.user_id, pack_id, method)

    async def topup(self, who: Principal | None, topup_id: str) -> dict[str, Any]:
        """One top-up of the caller's (admins may read anyone's)."""
        require(Action.USE_WALLET, who)
        assert who is not None
        doc = await self._topups.get(topup_id)
        if doc["user_id"] != who.user_id and not who.is_admin:
            raise ForbiddenError("not your top-up")
        return {"id": doc["_id"], **{k: doc.get(k) for k in _TOPUP_FIELDS}}

    async def request_cashout(self, who: Principal | None, beans: int, idempotency_key: str | None) -> Cashout:
        """Matured beans into a cash-out request for an admin to decide; needs a verified identity, read fresh."""
        require(Action.USE_WALLET, who)
        assert who is not None
        user = await self._accounts.get_user(who.user_id)
        return await self._cashouts.request(
            who.user_id, beans, identity_verified=user.identity_verified, key=idempotency_key
        )

    async def cashouts(self, who: Principal | None) -> list[Cashout]:
        require(Action.USE_WALLET, who)
        assert who is not None
        return await self._cashouts.find(user_id=who.user_id)
