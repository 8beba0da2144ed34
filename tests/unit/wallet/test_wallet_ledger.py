from __future__ import annotations

import asyncio

import pytest

from tests.support.money import Money, SimulatedCrash
from wallet.accounts import COINS_GIFT_REVENUE, COINS_STRIPE, Currency, user_coins
from wallet.errors import TransferInProgressError
from wallet.models import Leg, TransferKind, TransferSpec, TransferState
from wallet.verify import verify_ledger


def topup(tid: str, user: str, coins: int) -> TransferSpec:
    return TransferSpec(
        tid,
        TransferKind.TOPUP,
        (Leg(COINS_STRIPE, Currency.COINS, -coins), Leg(user_coins(user), Currency.COINS, coins)),
    )


def spend(tid: str, user: str, coins: int) -> TransferSpec:
    return TransferSpec(
        tid,
        TransferKind.GIFT,
        (Leg(user_coins(user), Currency.COINS, -coins), Leg(COINS_GIFT_REVENUE, Currency.COINS, coins)),
    )


async def balance(money: Money, user: str) -> int:
    return (await money.wallet.balances(user)).coins


async def test_a_transfer_moves_money_once_however_often_it_is_replayed(money: Money) -> None:
    first = await money.ledger.execute(topup("topup:1", "alice", 100))
    again = await money.ledger.execute(topup("topup:1", "alice", 100))
    assert first.state is again.state is TransferState.SETTLED
    assert await balance(money, "alice") == 100
    assert (await verify_ledger(money.store)).ok


async def test_a_debit_the_balance_cannot_cover_is_rejected_and_changes_nothing(money: Money) -> None:
    await money.ledger.execute(topup("topup:1", "alice", 5))
    result = await money.ledger.execute(spend("gift:alice:k", "alice", 6))
    assert result.state is TransferState.REJECTED and result.error == "insufficient_funds"
    assert await balance(money, "alice") == 5
    assert (await verify_ledger(money.store)).ok


async def test_concurrent_debits_never_spend_the_same_coin(money: Money) -> None:
    await money.ledger.execute(topup("topup:1", "alice", 10))
    results = await asyncio.gather(*(money.ledger.execute(spend(f"gift:alice:{i}", "alice", 1)) for i in range(40)))
    assert sum(r.state is TransferState.SETTLED for r in results) == 10
    assert await balance(money, "alice") == 0
    assert (await verify_ledger(money.store)).ok


@pytest.mark.parametrize("crash_at", range(1, 8))  # a gift has 7 steps: insert, 2 legs, applied, 2 releases, settled
async def test_a_crash_between_any_two_steps_is_finished_by_the_reconciler(money: Money, crash_at: int) -> None:
    await money.ledger.execute(topup("topup:1", "alice", 10))
    money.crash.steps.clear()
    money.crash.countdown = crash_at
    try:
        await money.ledger.execute(spend("gift:alice:x", "alice", 4))
        crashed = False
    except SimulatedCrash:
        crashed = True
    money.crash.countdown = 0
    await money.reconciler.run_once(ignore_leases=True)
    report = await verify_ledger(money.store)
    assert report.ok, report.problems
    transfer = await money.ledger.get("gift:alice:x")
    assert transfer is not None and transfer.state is TransferState.SETTLED
    assert await balance(money, "alice") == 6
    assert crashed


async def test_a_crash_in_a_rejected_transfer_is_undone_by_the_reconciler(money: Money) -> None:
    await money.ledger.execute(topup("topup:1", "alice", 3))
    await money.ledger.execute(topup("topup:2", "bob", 3))
    spec = TransferSpec(
        "gift:two",
        TransferKind.GIFT,
        (
            Leg(user_coins("alice"), Currency.COINS, -2),
            Leg(user_coins("bob"), Currency.COINS, -5),
            Leg(COINS_GIFT_REVENUE, Currency.COINS, 7),
        ),
    )
    money.crash.countdown = 3  # inserted, alice debited, rejected -> crash before the undo
    with pytest.raises(SimulatedCrash):
        await money.ledger.execute(spec)
    assert await balance(money, "alice") == 1
    money.crash.countdown = 0
    await money.reconciler.run_once(ignore_leases=True)
    assert await balance(money, "alice") == 3
    assert (await verify_ledger(money.store)).ok


async def test_a_replay_while_the_first_attempt_is_in_flight_waits_and_never_applies_twice(money: Money) -> None:
    await money.ledger.execute(topup("topup:1", "alice", 10))
    money.crash.countdown = 2
    with pytest.raises(SimulatedCrash):
        await money.ledger.execute(spend("gift:alice:y", "alice", 4))
    money.crash.countdown = 0
    with pytest.raises(TransferInProgressError):
        await money.ledger.execute(spend("gift:alice:y", "alice", 4))  # lease still held by the 'dead' request
    money.clock.advance(11)  # the lease runs out: the replay takes over and finishes it
    result = await money.ledger.execute(spend("gift:alice:y", "alice", 4))
    assert result.state is TransferState.SETTLED
    assert await balance(money, "alice") == 6
    assert (await verify_ledger(money.store)).ok


async def test_verify_reports_a_balance_that_disagrees_with_the_ledger(money: Money) -> None:
    await money.ledger.execute(topup("topup:1", "alice", 10))
    await money.store.apply_leg(user_coins("alice"), "forged", 5, min_balance=None, honour_freeze=False)
    await money.store.release_marker(user_coins("alice"), "forged")
    report = await verify_ledger(money.store)
    assert not report.ok
    assert any("ledger says 10" in p for p in report.problems)
