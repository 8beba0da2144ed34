"""The protocol under real interleaving: every database call yields to the event loop first (as a network round
trip does), so concurrent requests, replays and two nodes' reconcilers interleave step by step."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest

from core.clock import ManualClock
from tests.support.db import yielding
from tests.support.money import CrashSwitch, Money, SimulatedCrash, make_money
from wallet.accounts import COINS_GIFT_REVENUE, COINS_STRIPE, Currency, user_coins
from wallet.ledger import Ledger
from wallet.models import Leg, TransferKind, TransferSpec, TransferState
from wallet.reconciler import Reconciler
from wallet.verify import verify_ledger


@pytest.fixture
async def money(database: Any) -> Money:
    """The ledger on this test's database, every call of which yields to the event loop 0–2 times first."""
    return await make_money(yielding(database, random.Random(5)))


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


async def test_interleaved_concurrent_debits_and_replays_never_spend_a_coin_twice(money: Money) -> None:
    await money.ledger.execute(topup("topup:1", "ann", 10))
    specs = [spend(f"gift:ann:{i % 40}", "ann", 1) for i in range(120)]  # each key sent three times at once
    results = await asyncio.gather(*(money.ledger.execute(s) for s in specs), return_exceptions=True)
    assert not [
        r for r in results if isinstance(r, BaseException) and r.__class__.__name__ != "TransferInProgressError"
    ]
    settled = {r.id for r in results if not isinstance(r, BaseException) and r.state is TransferState.SETTLED}
    assert len(settled) == 10
    assert (await money.wallet.balances("ann")).coins == 0
    report = await verify_ledger(money.store)
    assert report.ok, report.problems


async def test_two_nodes_reconcilers_and_client_retries_racing_over_crashed_transfers(money: Money) -> None:
    clock: ManualClock = money.clock
    node_b = Ledger(money.store, clock, node_id="node-b", lease_s=10, replay_wait_s=0.2)
    reconcilers = [money.reconciler, Reconciler(node_b, clock)]
    for user in ("ann", "bob"):
        await money.ledger.execute(topup(f"topup:{user}", user, 50))
    crashed: list[TransferSpec] = []
    for i in range(30):
        spec = spend(f"gift:{'ann' if i % 2 else 'bob'}:{i}", "ann" if i % 2 else "bob", 3)
        money.crash.countdown = 1 + i % 7
        try:
            await money.ledger.execute(spec)
        except SimulatedCrash:
            crashed.append(spec)
    money.crash.countdown = 0
    money.ledger.set_step_hook(CrashSwitch())
    assert crashed
    clock.advance(11)  # every lease has run out
    retries = [node_b.execute(s) for s in crashed] + [money.ledger.execute(s) for s in crashed]
    outcomes = await asyncio.gather(*(r.run_once() for r in reconcilers), *retries, return_exceptions=True)
    assert not [
        o for o in outcomes if isinstance(o, BaseException) and o.__class__.__name__ != "TransferInProgressError"
    ]
    clock.advance(11)
    for r in reconcilers:
        await r.run_once()
    report = await verify_ledger(money.store)
    assert report.ok, report.problems
    ann, bob = (await money.wallet.balances("ann")).coins, (await money.wallet.balances("bob")).coins
    assert ann == bob == 50 - 15 * 3  # each sent 15 gifts of 3 coins: every one applied exactly once


async def test_interleaved_claw_backs_and_gifts_on_one_account(money: Money) -> None:
    await money.ledger.execute(topup("topup:1", "ann", 60))
    work: list[Any] = [money.wallet.clawback(f"refund:{i}", TransferKind.REFUND, "ann", 20, {}) for i in range(3)]
    work += [money.ledger.execute(spend(f"gift:ann:{i}", "ann", 7)) for i in range(6)]
    results = await asyncio.gather(*work, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(f.__class__.__name__ == "PaymentProviderUnavailableError" for f in failures), failures
    for i in range(3):  # Stripe retries a claw-back that had to wait for another one
        await money.wallet.clawback(f"refund:{i}", TransferKind.REFUND, "ann", 20, {})
    b = await money.wallet.balances("ann")
    assert b.coins >= 0
    report = await verify_ledger(money.store)
    assert report.ok, report.problems
    assert report.totals["coins_clawed_back"] + b.debt == 60
