"""Recompute every balance from the ledger and compare (``hub wallet verify``). Read-only.

Checks the invariants of MONEY.md at rest: per currency the legs of applied transfers sum to zero; every account's
balance equals the sum of its legs; no user account is negative; nothing is in flight or left marked; coins bought
= coins held by users + coins spent on gifts + coins clawed back (support's adjustments counted on the left).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from wallet.accounts import COINS_GIFT_REVENUE, COINS_STRIPE, Currency, is_user_account, may_go_negative
from wallet.ledger import APPLIED, REJECTED, SETTLED
from wallet.models import TransferKind
from wallet.store import LedgerStore


@dataclass(slots=True)
class VerifyReport:
    transfers: int = 0
    accounts: int = 0
    problems: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "transfers": self.transfers,
            "accounts": self.accounts,
            "problems": self.problems,
            "totals": self.totals,
        }


async def verify_ledger(store: LedgerStore, *, max_problems: int = 100) -> VerifyReport:
    report = VerifyReport()
    expected: defaultdict[str, int] = defaultdict(int)
    per_currency: defaultdict[str, int] = defaultdict(int)
    bought = clawed = adjusted = 0

    def problem(text: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(text)

    async for doc in store.iter_transfers():
        report.transfers += 1
        state = doc["state"]
        legs = doc["legs"]
        sums: defaultdict[str, int] = defaultdict(int)
        for leg in legs:
            sums[leg["currency"]] += int(leg["amount"])
        if any(sums.values()):
            problem(f"transfer {doc['_id']}: legs do not balance {dict(sums)}")
        if state not in (SETTLED, REJECTED):
            problem(f"transfer {doc['_id']} is still {state}")
        if state == REJECTED and not doc.get("clean"):
            problem(f"rejected transfer {doc['_id']} is not cleaned up")
        if doc.get("outbox") and state == SETTLED and not doc.get("published"):
            problem(f"transfer {doc['_id']} was never published")
        if state not in (APPLIED, SETTLED):
            continue
        kind = doc["kind"]
        for leg in legs:
            amount = int(leg["amount"])
            expected[leg["account"]] += amount
            per_currency[leg["currency"]] += amount
            if is_user_account(leg["account"]) and leg["currency"] == Currency.COINS.value:
                if kind == TransferKind.TOPUP.value and amount > 0:
                    bought += amount
                elif kind in (TransferKind.REFUND.value, TransferKind.CHARGEBACK.value) and amount < 0:
                    clawed += -amount
                elif kind == TransferKind.ADJUSTMENT.value:
                    adjusted += amount
    for currency, total in per_currency.items():
        if total:
            problem(f"{currency}: applied legs sum to {total}, not 0")

    actual: dict[str, int] = {}
    async for account in store.iter_accounts():
        report.accounts += 1
        name = account["_id"]
        balance = int(account.get("balance", 0))
        actual[name] = balance
        if account.get("pending"):
            problem(f"account {name} still carries markers {account['pending'][:5]}")
        if balance != expected.get(name, 0):
            problem(f"account {name}: balance {balance} but the ledger says {expected.get(name, 0)}")
        if balance < 0 and not may_go_negative(name):
            problem(f"account {name} is negative ({balance})")
    for name, amount in expected.items():
        if name not in actual and amount:
            problem(f"account {name} is missing; the ledger says {amount}")

    held = sum(v for k, v in actual.items() if is_user_account(k) and k.startswith("coins:"))
    spent = actual.get(COINS_GIFT_REVENUE, 0)
    if bought + adjusted != held + spent + clawed:
        problem(f"coins bought {bought} + adjusted {adjusted} != held {held} + spent {spent} + clawed back {clawed}")
    report.totals = {
        "coins_bought": bought,
        "coins_held": held,
        "coins_spent": spent,
        "coins_clawed_back": clawed,
        "coins_adjusted": adjusted,
        "coins_sold_net": -actual.get(COINS_STRIPE, 0),
    }
    return report
