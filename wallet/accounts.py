"""Ledger account ids and which of them may go negative.

User accounts are per user and currency; system accounts are fixed names. Issuer-style system accounts
(coins sold through Stripe, beans minted, written-off losses) are the only ones allowed below zero.
"""

from __future__ import annotations

from enum import StrEnum


class Currency(StrEnum):
    COINS = "coins"
    BEANS = "beans"


def user_coins(user_id: str) -> str:
    return f"coins:user:{user_id}"


def user_beans(user_id: str) -> str:
    """Matured beans: spendable on cash-out."""
    return f"beans:user:{user_id}"


def user_beans_held(user_id: str) -> str:
    """Beans from gifts that have not matured yet (still claw-backable)."""
    return f"beans_held:user:{user_id}"


def user_beans_cashout(user_id: str) -> str:
    """Beans in a cash-out request awaiting an admin's decision."""
    return f"beans_cashout:user:{user_id}"


def user_accounts(user_id: str) -> dict[str, str]:
    return {
        "coins": user_coins(user_id),
        "beans": user_beans(user_id),
        "beans_held": user_beans_held(user_id),
        "beans_cashout": user_beans_cashout(user_id),
    }


COINS_STRIPE = "coins:stripe"  # coins sold (issuer: goes negative by every coin bought)
COINS_GIFT_REVENUE = "coins:gift_revenue"  # coins spent on gifts
COINS_LOSSES = "coins:losses"  # refunded/disputed coins that were already spent (written off)
COINS_ADJUSTMENTS = "coins:adjustments"  # support's manual corrections
BEANS_ISSUER = "beans:issuer"  # beans minted for streamers
BEANS_PAYOUTS = "beans:payouts"  # beans paid out in cash
BEANS_PLATFORM_REVENUE = "beans:platform_revenue"  # the platform's share of gifts' value
BEANS_ADJUSTMENTS = "beans:adjustments"

SYSTEM_ACCOUNTS: dict[str, Currency] = {
    COINS_STRIPE: Currency.COINS,
    COINS_GIFT_REVENUE: Currency.COINS,
    COINS_LOSSES: Currency.COINS,
    COINS_ADJUSTMENTS: Currency.COINS,
    BEANS_ISSUER: Currency.BEANS,
    BEANS_PAYOUTS: Currency.BEANS,
    BEANS_PLATFORM_REVENUE: Currency.BEANS,
    BEANS_ADJUSTMENTS: Currency.BEANS,
}

MAY_GO_NEGATIVE = frozenset({COINS_STRIPE, COINS_LOSSES, COINS_ADJUSTMENTS, BEANS_ISSUER, BEANS_ADJUSTMENTS})


def is_user_account(account: str) -> bool:
    return ":user:" in account


def owner_of(account: str) -> str | None:
    _, sep, owner = account.partition(":user:")
    return owner if sep else None


def may_go_negative(account: str) -> bool:
    return account in MAY_GO_NEGATIVE
