"""Recompute every points balance from the points ledger and compare (part of ``hub wallet verify``). Read-only.

The coins ledger's invariants, for points: every entry's legs sum to zero; every viewer account's balance equals the
sum of its applied legs; no balance is negative; nothing is in flight or left marked; and, since points cannot be
bought, every point a viewer holds was earned: held = earned − redeemed + refunded, where a refund returns one
redemption's points, once (its id is the redemption's).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from loyalty.models import POINTS_ISSUED, POINTS_SPENT, EntryKind, EntryState
from loyalty.store import PointsStore

_APPLIED = (EntryState.APPLIED.value, EntryState.SETTLED.value)
_FINAL = (EntryState.SETTLED.value, EntryState.REJECTED.value)


@dataclass(slots=True)
class PointsReport:
    entries: int = 0
    accounts: int = 0
    problems: list[str] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "accounts": self.accounts,
            "problems": self.problems,
            "totals": self.totals,
        }


async def verify_points(store: PointsStore, *, max_problems: int = 100) -> PointsReport:
    report = PointsReport()
    expected: defaultdict[str, int] = defaultdict(int)
    system: defaultdict[str, int] = defaultdict(int)
    redeemed: dict[str, tuple[str, int]] = {}  # redemption entry id -> (account, points)
    refunds: list[tuple[str, str, str, int]] = []  # (refund id, redemption id, account, points)
    earned = spent = refunded = 0

    def problem(text: str) -> None:
        if len(report.problems) < max_problems:
            report.problems.append(text)

    async for doc in store.iter_entries():
        report.entries += 1
        eid, state, kind = doc["_id"], doc["state"], doc["kind"]
        legs = doc.get("legs") or []
        if sum(int(leg["amount"]) for leg in legs) != 0 or len(legs) != 2:
            problem(f"entry {eid}: legs do not balance")
        if kind not in {k.value for k in EntryKind}:
            problem(f"entry {eid}: unknown kind {kind!r} (points are only earned, redeemed and refunded)")
        if state not in _FINAL:
            problem(f"entry {eid} is still {state}")
        if state not in _APPLIED:
            continue
        for leg in legs:
            amount = int(leg["amount"])
            if leg["account"] in (POINTS_ISSUED, POINTS_SPENT):
                system[leg["account"]] += amount
            else:
                expected[leg["account"]] += amount
        amount = int(doc["amount"])
        if kind == EntryKind.REDEEM.value:
            spent += -amount
            redeemed[eid] = (doc["account"], -amount)
        elif kind == EntryKind.REFUND.value:
            refunded += amount
            refunds.append((eid, str((doc.get("refs") or {}).get("redemption_id", "")), doc["account"], amount))
        else:
            earned += amount
    for rid, redemption_id, refunded_to, amount in refunds:
        paid = redeemed.get(redemption_id)
        if paid is None or paid != (refunded_to, amount) or rid != f"refund:{redemption_id}":
            problem(f"refund {rid} does not return one applied redemption's points ({redemption_id})")

    held = 0
    async for account in store.iter_accounts():
        report.accounts += 1
        name = account["_id"]
        balance = int(account.get("balance", 0))
        held += balance
        if account.get("pending"):
            problem(f"points account {name} still carries markers {account['pending'][:5]}")
        if balance != expected.get(name, 0):
            problem(f"points account {name}: balance {balance} but the ledger says {expected.get(name, 0)}")
        if balance < 0:
            problem(f"points account {name} is negative ({balance})")
        expected.pop(name, None)
    for name, amount in expected.items():
        if amount:
            problem(f"points account {name} is missing; the ledger says {amount}")
    if held != earned - spent + refunded:
        problem(f"points held {held} != earned {earned} - redeemed {spent} + refunded {refunded}")
    report.totals = {
        "points_earned": earned,
        "points_redeemed": spent,
        "points_refunded": refunded,
        "points_held": held,
        "points_issued_account": system.get(POINTS_ISSUED, 0),
        "points_spent_account": system.get(POINTS_SPENT, 0),
    }
    return report


class PointsAudit:
    """The points ledger check an operator asks for (with ``hub wallet verify``): the reconciler's pass if asked
    (read-only otherwise), then ``verify_points``."""

    def __init__(self, store: PointsStore, reconcile: Callable[[], Awaitable[int]]) -> None:
        self._store = store
        self._reconcile = reconcile

    async def verify(self, *, reconcile: bool = False) -> PointsReport:
        if reconcile:
            await self._reconcile()
        return await verify_points(self._store)
