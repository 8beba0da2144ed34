"""``/wallet``: balances, history, coin packs, Stripe top-ups, cash-outs; admin review of cash-outs and identities."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from app.requests import IdempotencyKey
from app.text_fields import Reason
from app.vocabulary import CashoutStatus, Currency
from core.ids import UserId
from mobile_api.routing import Api, Body, Call, Query
from mobile_api.schemas import (
    BalancesOut,
    CashoutAuditOut,
    CashoutOut,
    CashoutPage,
    CoinPackList,
    IdentityOut,
    TopUpCreatedOut,
    TopUpOut,
    TransferOut,
    TransferPage,
    WalletOut,
)

api = Api()


class PageQuery(Query):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)


class TopUpBody(Body):
    pack_id: str = Field(max_length=64)
    method: Literal["checkout", "payment_intent"] = "checkout"


class CashoutBody(Body):
    beans: int = Field(ge=1, le=10**12)
    idempotency_key: IdempotencyKey | None = None


class CashoutListQuery(Query):
    status: CashoutStatus | None = CashoutStatus.PENDING
    limit: int | None = Field(default=50, ge=1, le=100)


class DecisionBody(Body):
    note: str | None = Field(default=None, max_length=500)


class IdentityBody(Body):
    verified: bool
    reason: Reason | None = None


@api.route("GET", "/wallet", summary="My balances: coins, matured and held beans", tags=("wallet",), response=WalletOut)
async def get_wallet(call: Call) -> dict[str, Any]:
    return (await call.ctx.use.my_wallet.balances(call.principal)).to_dict()


@api.route(
    "GET",
    "/wallet/transactions",
    summary="My ledger history, newest first",
    tags=("wallet",),
    query=PageQuery,
    response=TransferPage,
)
async def list_transactions(call: Call) -> dict[str, Any]:
    q = call.query_as(PageQuery)
    page = await call.ctx.use.my_wallet.transactions(call.principal, cursor=q.cursor, limit=q.limit)
    return page.to_dict()


@api.route(
    "GET", "/wallet/coin-packs", summary="The coin packs on sale", tags=("wallet",), auth="none", response=CoinPackList
)
async def list_coin_packs(call: Call) -> dict[str, Any]:
    return {"items": [p.to_dict() for p in call.ctx.use.my_wallet.coin_packs(call.principal)]}


@api.route(
    "POST",
    "/wallet/topups",
    summary="Buy a coin pack: a Stripe Checkout URL (web) or a PaymentIntent client secret (mobile)",
    tags=("wallet",),
    status=201,
    body=TopUpBody,
    responses={422: "unknown pack", 429: "too many top-ups started", 503: "Stripe unreachable; nothing was charged"},
    response=TopUpCreatedOut,
)
async def create_topup(call: Call) -> dict[str, Any]:
    b = call.body_as(TopUpBody)
    return await call.ctx.use.my_wallet.start_topup(call.principal, b.pack_id, b.method)


@api.route(
    "GET",
    "/wallet/topups/{topup_id}",
    summary="One of my top-ups",
    tags=("wallet",),
    responses={404: "no such top-up"},
    response=TopUpOut,
)
async def get_topup(call: Call) -> dict[str, Any]:
    return await call.ctx.use.my_wallet.topup(call.principal, call.path["topup_id"])


@api.route(
    "POST",
    "/wallet/cashouts",
    summary="Cash out matured beans (identity verification required)",
    tags=("wallet",),
    status=201,
    body=CashoutBody,
    responses={403: "below the minimum or identity not verified", 409: "not enough matured beans"},
    response=CashoutOut,
)
async def request_cashout(call: Call) -> dict[str, Any]:
    b = call.body_as(CashoutBody)
    cashout = await call.ctx.use.my_wallet.request_cashout(call.principal, b.beans, b.idempotency_key)
    return cashout.to_dict()


@api.route("GET", "/wallet/cashouts", summary="My cash-outs", tags=("wallet",), response=CashoutPage)
async def my_cashouts(call: Call) -> dict[str, Any]:
    items = await call.ctx.use.my_wallet.cashouts(call.principal)
    return {"items": [c.to_dict() for c in items], "next_cursor": None}


@api.route(
    "GET",
    "/admin/cashouts",
    summary="Cash-outs to review (admin)",
    tags=("admin",),
    query=CashoutListQuery,
    response=CashoutPage,
    responses={403: "admins only"},
)
async def admin_cashouts(call: Call) -> dict[str, Any]:
    q = call.query_as(CashoutListQuery)
    items = await call.ctx.use.money_admin.cashouts(call.principal, q.status, q.limit or 50)
    return {"items": [c.to_dict() for c in items], "next_cursor": None}


@api.route(
    "GET",
    "/admin/cashouts/{cashout_id}",
    summary="One cash-out with its audit trail (admin)",
    tags=("admin",),
    responses={403: "admins only", 404: "no such cash-out"},
    response=CashoutAuditOut,
)
async def admin_cashout(call: Call) -> dict[str, Any]:
    cashout, audit = await call.ctx.use.money_admin.cashout(call.principal, call.path["cashout_id"])
    return {**cashout.to_dict(), "audit": audit}


async def _decide(call: Call, decision: str) -> dict[str, Any]:
    body = call.body_as(DecisionBody)
    cashout = await call.ctx.use.money_admin.decide(call.principal, call.path["cashout_id"], decision, body.note)
    return cashout.to_dict()


@api.route(
    "POST",
    "/admin/cashouts/{cashout_id}/approve",
    summary="Approve a cash-out: the beans are paid out (admin)",
    tags=("admin",),
    body=DecisionBody,
    responses={403: "admins only", 404: "no such cash-out", 409: "already decided"},
    response=CashoutOut,
)
async def approve_cashout(call: Call) -> dict[str, Any]:
    return await _decide(call, "approve")


@api.route(
    "POST",
    "/admin/cashouts/{cashout_id}/reject",
    summary="Reject a cash-out: the beans go back to the streamer (admin)",
    tags=("admin",),
    body=DecisionBody,
    responses={403: "admins only", 404: "no such cash-out", 409: "already decided"},
    response=CashoutOut,
)
async def reject_cashout(call: Call) -> dict[str, Any]:
    return await _decide(call, "reject")


@api.route(
    "POST",
    "/admin/users/{user_id}/identity",
    summary="Mark a user's identity as verified or not (admin)",
    tags=("admin",),
    body=IdentityBody,
    responses={403: "admins only", 404: "no such user"},
    response=IdentityOut,
)
async def set_identity(call: Call) -> dict[str, Any]:
    b = call.body_as(IdentityBody)
    user = await call.ctx.use.accounts_admin.set_identity_verified(
        call.principal, UserId(call.path["user_id"]), b.verified, b.reason or ""
    )
    return {"user_id": user.id, "identity_verified": user.identity_verified}


class AdjustmentBody(Body):
    user_id: str = Field(max_length=64)
    currency: Literal["coins", "beans"]
    amount: int = Field(ge=-(10**12), le=10**12)
    reason: str = Field(min_length=3, max_length=200)
    idempotency_key: IdempotencyKey


class FreezeBody(Body):
    frozen: bool
    reason: Reason | None = None


@api.route(
    "GET",
    "/admin/users/{user_id}/wallet",
    summary="A user's balances, freeze and debt (admin)",
    tags=("admin",),
    responses={403: "admins only"},
    response=BalancesOut,
)
async def admin_wallet(call: Call) -> dict[str, Any]:
    return (await call.ctx.use.money_admin.wallet_of(call.principal, call.path["user_id"])).to_dict()


@api.route(
    "POST",
    "/admin/wallet/adjustments",
    summary="Correct a balance with a new adjustment transfer (admin; never an edit)",
    tags=("admin",),
    status=201,
    body=AdjustmentBody,
    responses={403: "admins only", 404: "no such user", 409: "the balance does not cover a debit"},
    response=TransferOut,
)
async def create_adjustment(call: Call) -> dict[str, Any]:
    b = call.body_as(AdjustmentBody)
    transfer = await call.ctx.use.money_admin.adjust(
        call.principal, UserId(b.user_id), Currency(b.currency), b.amount, b.reason, b.idempotency_key
    )
    return transfer.public()


@api.route(
    "POST",
    "/admin/users/{user_id}/wallet-freeze",
    summary="Freeze or unfreeze a user's coins (admin; unfreezing clears the recorded debt)",
    tags=("admin",),
    body=FreezeBody,
    responses={403: "admins only", 404: "no such user"},
    response=BalancesOut,
)
async def set_wallet_freeze(call: Call) -> dict[str, Any]:
    b = call.body_as(FreezeBody)
    balances = await call.ctx.use.money_admin.set_frozen(
        call.principal, UserId(call.path["user_id"]), b.frozen, b.reason or ""
    )
    return balances.to_dict()


class VerifyBody(Body):
    reconcile: bool = False


class LedgerReportOut(BaseModel):
    """``hub wallet verify``'s report: ``ok`` is false when any balance differs from what the ledger says."""

    ok: bool
    transfers: int
    accounts: int
    problems: list[str] = Field(description="at most 100, one line each")
    totals: dict[str, int] = Field(
        description="coins_bought, coins_held, coins_spent, coins_clawed_back, coins_adjusted, coins_sold_net; "
        "the channel points ledger's: points_earned, points_redeemed, points_refunded, points_held, "
        "points_entries, points_accounts, ..."
    )


@api.route(
    "POST",
    "/admin/wallet/verify",
    summary="Recompute every balance of this node's money ledger and report differences (admin; what "
    "`hub wallet verify --url` calls). Read-only unless reconcile",
    tags=("admin",),
    body=VerifyBody,
    response=LedgerReportOut,
    responses={403: "admins only", 503: "the outbox relay did not drain in time, or the database is unreachable"},
)
async def verify_wallet(call: Call) -> dict[str, Any]:
    report = await call.ctx.use.money_admin.verify(call.principal, reconcile=call.body_as(VerifyBody).reconcile)
    return report.to_dict()
