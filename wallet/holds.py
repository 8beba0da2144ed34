"""What happens to a held amount (beans from a gift): it matures, or the transfer that produced it is reversed.

The two are exclusive: each first claims the hold (``held`` → ``maturing`` / ``reversing``) with one guarded update,
then runs its own transfer (deterministic id, so repeating a step is harmless), then marks the end state. The
reconciler finishes whichever a crash interrupted.
"""

from __future__ import annotations

import logging
from typing import Any

from wallet.accounts import Currency, is_user_account
from wallet.ledger import Ledger
from wallet.models import HoldState, Leg, TransferKind, TransferSpec, TransferState

log = logging.getLogger(__name__)


async def _claim(ledger: Ledger, tid: str, current: str, working: HoldState) -> bool:
    if current == working:
        return True  # resuming our own interrupted step
    if current != HoldState.HELD:
        return False  # the other fate won, or it is over
    return await ledger.store.claim_hold(tid, working)


async def mature(ledger: Ledger, doc: dict[str, Any]) -> bool:
    """Move a settled transfer's held amount to its available account (once)."""
    tid, hold = doc["_id"], doc["hold"]
    if not await _claim(ledger, tid, hold["state"], HoldState.MATURING):
        return False
    currency = Currency(hold["currency"])
    result = await ledger.execute(
        TransferSpec(
            id=f"mature:{tid}",
            kind=TransferKind.MATURATION,
            legs=(
                Leg(hold["held"], currency, -int(hold["amount"]), force=True),
                Leg(hold["available"], currency, int(hold["amount"])),
            ),
            refs={"source": tid},
        )
    )
    if result.state not in (TransferState.SETTLED, TransferState.REJECTED):
        return False  # still in flight; next pass
    if result.state is TransferState.REJECTED:
        log.error("maturation of %s was rejected (%s): held balance is short", tid, result.error)
    final = HoldState.MATURED if result.state is TransferState.SETTLED else HoldState.FAILED
    await ledger.store.finish_hold(tid, HoldState.MATURING, final)
    return True


async def reverse(ledger: Ledger, doc: dict[str, Any], reason: str) -> bool:
    """Undo a settled transfer whose amount is still held (e.g. a gift paid with coins that were then refunded):
    every leg negated, as a new ``reversal`` transfer. Returns True if it is reversed now."""
    tid, hold = doc["_id"], doc["hold"]
    if not await _claim(ledger, tid, hold["state"], HoldState.REVERSING):
        return False
    legs = tuple(
        Leg(leg["account"], Currency(leg["currency"]), -int(leg["amount"]), force=is_user_account(leg["account"]))
        for leg in doc["legs"]
    )
    result = await ledger.execute(
        TransferSpec(
            id=f"reversal:{tid}",
            kind=TransferKind.REVERSAL,
            legs=legs,
            refs={**doc.get("refs", {}), "source": tid, "reason": reason},
        )
    )
    if result.state not in (TransferState.SETTLED, TransferState.REJECTED):
        return False
    if result.state is TransferState.REJECTED:
        log.error("reversal of %s was rejected (%s)", tid, result.error)
    final = HoldState.REVERSED if result.state is TransferState.SETTLED else HoldState.HELD
    await ledger.store.finish_hold(tid, HoldState.REVERSING, final)
    return result.state is TransferState.SETTLED
