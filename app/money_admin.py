"""Wallet and cash-out administration (admins): review and decide cash-outs, read a user's wallet, adjust a balance
with a new transfer, freeze coins, verify the ledger. Every method asks the policy first (``administer_money``)."""

from __future__ import annotations

from typing import Any

from accounts.audit import AdminAction, AdminAudit
from accounts.service import AccountService
from app.policy import Action, require
from app.principal import Principal
from core.ids import UserId
from loyalty.verify import PointsAudit, PointsReport
from wallet.accounts import Currency
from wallet.audit import LedgerAudit
from wallet.cashouts import Cashout, CashoutService
from wallet.models import CashoutStatus, Transfer
from wallet.service import Balances, WalletService
from wallet.verify import VerifyReport


class MoneyAdmin:
    def __init__(
        self,
        accounts: AccountService,
        wallet: WalletService,
        cashouts: CashoutService,
        audit: LedgerAudit,
        admin_audit: AdminAudit,
        points_audit: PointsAudit | None = None,
    ) -> None:
        self._points_audit = points_audit
        self._admin_audit = admin_audit
        self._accounts = accounts
        self._wallet = wallet
        self._cashouts = cashouts
        self._audit = audit

    async def cashouts(self, who: Principal | None, status: CashoutStatus | str | None, limit: int) -> list[Cashout]:
        require(Action.ADMINISTER_MONEY, who)
        return await self._cashouts.find(status=status, limit=limit)

    async def cashout(self, who: Principal | None, cashout_id: str) -> tuple[Cashout, list[dict[str, Any]]]:
        """A cash-out and its audit trail."""
        require(Action.ADMINISTER_MONEY, who)
        cashout = await self._cashouts.get(cashout_id)
        return cashout, await self._cashouts.audit_trail(cashout.id)

    async def decide(self, who: Principal | None, cashout_id: str, decision: str, note: str | None) -> Cashout:
        require(Action.ADMINISTER_MONEY, who)
        assert who is not None
        cashout = await self._cashouts.decide(who.user_id, cashout_id, decision, note)
        await self._admin_audit.record(
            who.user_id,
            who.nickname,
            AdminAction.CASHOUT,
            "cashout",
            cashout.id,
            note or "",
            decision=decision,
            user_id=cashout.user_id,
            beans=cashout.beans,
        )
        return cashout

    async def wallet_of(self, who: Principal | None, user_id: str) -> Balances:
        require(Action.ADMINISTER_MONEY, who)
        return await self._wallet.balances(user_id)

    async def adjust(
        self, who: Principal | None, user_id: UserId, currency: Currency, amount: int, reason: str, key: str
    ) -> Transfer:
        require(Action.ADMINISTER_MONEY, who)
        assert who is not None
        await self._accounts.get_user(user_id)
        transfer = await self._wallet.adjust(who.user_id, user_id, currency, amount, reason, key)
        await self._admin_audit.record(
            who.user_id,
            who.nickname,
            AdminAction.ADJUSTMENT,
            "user",
            user_id,
            reason,
            currency=str(currency),
            amount=amount,
            transfer_id=transfer.id,
        )
        return transfer

    async def set_frozen(self, who: Principal | None, user_id: UserId, frozen: bool, reason: str = "") -> Balances:
        require(Action.ADMINISTER_MONEY, who)
        assert who is not None
        user = await self._accounts.get_user(user_id)
        balances = await self._wallet.set_frozen(user.id, frozen)
        await self._admin_audit.record(
            who.user_id, who.nickname, AdminAction.FREEZE, "user", user.id, reason, frozen=frozen
        )
        return balances

    async def verify(self, who: Principal | None, *, reconcile: bool) -> VerifyReport:
        require(Action.ADMINISTER_MONEY, who)
        report = await self._audit.verify(reconcile=reconcile)
        if self._points_audit is not None:
            with_points(report, await self._points_audit.verify(reconcile=reconcile))
        return report


def with_points(report: VerifyReport, points: PointsReport) -> VerifyReport:
    """One report for both ledgers (``hub wallet verify`` covers channel points too): the points ledger's
    differences are listed with a ``points:`` prefix and its totals added; ``ok`` only when both are clean."""
    report.problems.extend(f"points: {p}" for p in points.problems)
    report.totals.update(points.totals)
    report.totals["points_entries"] = points.entries
    report.totals["points_accounts"] = points.accounts
    return report
