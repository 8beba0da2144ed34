from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.support.money import Money, SimulatedCrash
from wallet.accounts import COINS_GIFT_REVENUE, COINS_STRIPE, Currency, user_coins
from wallet.errors import TransferInProgressError
from wallet.group_commit import GroupCommit, Submitted
from wallet.ledger import Ledger
from wallet.models import Leg, TransferKind, TransferSpec, TransferState
from wallet.store import LedgerStore
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


class _Turns:
    """Counts the event loop's iterations (a callback that schedules itself again runs once per iteration)."""

    def __init__(self) -> None:
        self.count = 0
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        self._handle.cancel()


class _TimedBatches:
    """Between the group commit and the ledger: the loop iterations each batch took, and its size."""

    def __init__(self, ledger: Ledger, turns: _Turns) -> None:
        self.ledger = ledger
        self.turns = turns
        self.batches: list[tuple[int, int]] = []  # (size, iterations)

    async def commit_batch(self, items: list[Submitted]) -> None:
        before = self.turns.count
        await self.ledger.commit_batch(items)
        self.batches.append((len(items), self.turns.count - before))


class _SlowDebits(LedgerStore):
    """A database across the network, as far as the guarded debits go: each takes a round trip (yields)."""

    in_flight = 0
    most_in_flight = 0

    async def apply_leg(
        self, account: str, tid: str, amount: int, *, min_balance: int | None, honour_freeze: bool
    ) -> dict[str, Any] | None:
        type(self).in_flight += 1
        type(self).most_in_flight = max(type(self).most_in_flight, type(self).in_flight)
        try:
            await asyncio.sleep(0.005)
            return await super().apply_leg(account, tid, amount, min_balance=min_balance, honour_freeze=honour_freeze)
        finally:
            type(self).in_flight -= 1


@pytest.mark.parametrize("remote", [False, True], ids=["in-process", "debits-over-the-network"])
async def test_a_batch_is_one_piece_of_loop_work_in_process_and_its_debits_go_side_by_side_over_a_network(
    money: Money, database: Any, remote: bool
) -> None:
    ledger = money.ledger
    if remote:
        _SlowDebits.most_in_flight = 0
        ledger = Ledger(_SlowDebits(database), money.clock, lease_s=10, replay_wait_s=0.2)
    users = [f"fan{i}" for i in range(5)]
    for user in users:
        await ledger.execute(topup(f"topup:{user}", user, 3))
    await ledger.execute(topup("topup:poor", "poor", 1))
    turns = _Turns()
    timed = _TimedBatches(ledger, turns)
    group = GroupCommit(timed)
    ledger.use_group_commit(group, (TransferKind.GIFT,))
    ledger.set_step_hook(None)
    group.start()
    try:
        specs = [spend(f"gift:{user}:k", user, 2) for user in users] + [spend("gift:poor:k", "poor", 2)]
        results = await asyncio.gather(*(ledger.execute(spec) for spec in specs))
    finally:
        turns.stop()
        await group.close()
    assert [r.state for r in results] == [TransferState.SETTLED] * 5 + [TransferState.REJECTED]
    assert [r.result["balances"][user_coins(u)] for r, u in zip(results, users, strict=False)] == [1] * 5
    assert [await balance(money, u) for u in users] == [1] * 5 and await balance(money, "poor") == 1
    assert sum(size for size, _ in timed.batches) == 6
    if remote:
        # The first debit yields (a round trip): the other five go side by side, not one round trip each.
        assert _SlowDebits.most_in_flight >= 5
    else:
        # Nothing yields on the in-process database: no batch goes round the event loop (each iteration would
        # also carry a slice of every busy room's tick); before, side-by-side debits cost two iterations a batch.
        assert all(iterations == 0 for _, iterations in timed.batches), timed.batches
    report = await verify_ledger(money.store)
    assert report.ok, report.problems
