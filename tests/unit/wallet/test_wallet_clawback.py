"""Claw-backs (refunds, chargebacks): once per id, serialized per account, never a negative balance."""

from __future__ import annotations

import asyncio

from tests.support.money import Money
from wallet.accounts import COINS_GIFT_REVENUE, COINS_LOSSES, COINS_STRIPE, Currency, user_coins
from wallet.models import Leg, TransferKind, TransferSpec, TransferState
from wallet.verify import verify_ledger


async def credit(money: Money, tid: str, user: str, coins: int) -> None:
    await money.ledger.execute(
        TransferSpec(
            tid,
            TransferKind.TOPUP,
            (Leg(COINS_STRIPE, Currency.COINS, -coins), Leg(user_coins(user), Currency.COINS, coins)),
        )
    )


async def spend(money: Money, tid: str, user: str, coins: int) -> TransferState:
    t = await money.ledger.execute(
        TransferSpec(
            tid,
            TransferKind.GIFT,
            (Leg(user_coins(user), Currency.COINS, -coins), Leg(COINS_GIFT_REVENUE, Currency.COINS, coins)),
        )
    )
    return t.state


async def test_a_claw_back_the_balance_covers_takes_it_and_leaves_the_account_usable(money: Money) -> None:
    await credit(money, "topup:1", "ann", 100)
    t = await money.wallet.clawback("refund:1", TransferKind.REFUND, "ann", 40, {})
    again = await money.wallet.clawback("refund:1", TransferKind.REFUND, "ann", 40, {})
    assert t.state is again.state is TransferState.SETTLED
    b = await money.wallet.balances("ann")
    assert (b.coins, b.frozen, b.debt) == (60, False, 0)
    assert await spend(money, "gift:1", "ann", 10) is TransferState.SETTLED


async def test_what_was_already_spent_is_written_off_and_the_account_frozen(money: Money) -> None:
    await credit(money, "topup:1", "ann", 100)
    assert await spend(money, "gift:1", "ann", 70) is TransferState.SETTLED
    await money.wallet.clawback("chargeback:1", TransferKind.CHARGEBACK, "ann", 100, {})
    b = await money.wallet.balances("ann")
    assert (b.coins, b.frozen, b.debt) == (0, True, 70)
    losses = await money.store.get_account(COINS_LOSSES)
    assert losses is not None and losses["balance"] == -70
    await credit(money, "topup:2", "ann", 5)  # a new top-up arrives, but spending stays blocked
    rejected = await money.ledger.execute(
        TransferSpec(
            "gift:2",
            TransferKind.GIFT,
            (Leg(user_coins("ann"), Currency.COINS, -1), Leg(COINS_GIFT_REVENUE, Currency.COINS, 1)),
        )
    )
    assert rejected.state is TransferState.REJECTED and rejected.error == "account_frozen"
    report = await verify_ledger(money.store)
    assert report.ok, report.problems
    assert report.totals["coins_clawed_back"] == 30


async def test_concurrent_claw_backs_and_gifts_on_one_account_never_go_negative(money: Money) -> None:
    await credit(money, "topup:1", "ann", 50)
    results = await asyncio.gather(
        money.wallet.clawback("refund:a", TransferKind.REFUND, "ann", 30, {}),
        money.wallet.clawback("chargeback:b", TransferKind.CHARGEBACK, "ann", 30, {}),
        *(spend(money, f"gift:{i}", "ann", 5) for i in range(6)),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)], results
    b = await money.wallet.balances("ann")
    assert b.coins >= 0
    report = await verify_ledger(money.store)
    assert report.ok, report.problems
    assert report.totals["coins_bought"] == 50


async def test_a_claw_back_first_reverses_the_payers_gifts_whose_beans_are_still_held(money: Money) -> None:
    from datetime import timedelta

    from wallet.accounts import BEANS_ISSUER, user_beans, user_beans_held
    from wallet.models import Hold

    await credit(money, "topup:1", "ann", 100)

    async def gift(tid: str, coins: int, beans: int) -> None:
        spec = TransferSpec(
            tid,
            TransferKind.GIFT,
            (
                Leg(user_coins("ann"), Currency.COINS, -coins),
                Leg(COINS_GIFT_REVENUE, Currency.COINS, coins),
                Leg(BEANS_ISSUER, Currency.BEANS, -beans),
                Leg(user_beans_held("sam"), Currency.BEANS, beans),
            ),
            refs={"sender_id": "ann", "streamer_id": "sam", "coins": coins},
            hold=Hold(
                user_beans_held("sam"),
                user_beans("sam"),
                Currency.BEANS,
                beans,
                money.clock.now() + timedelta(hours=48),
                payer="ann",
            ),
        )
        assert (await money.ledger.execute(spec)).state is TransferState.SETTLED

    await gift("gift:old", 30, 240)
    money.clock.advance(49 * 3600)
    await money.reconciler.run_once()  # the first gift's beans matured: it can no longer be reversed
    await gift("gift:new1", 40, 320)
    await gift("gift:new2", 20, 160)
    assert (await money.wallet.balances("ann")).coins == 10
    await money.wallet.clawback("refund:1", TransferKind.REFUND, "ann", 100, {})
    ann, sam = await money.wallet.balances("ann"), await money.wallet.balances("sam")
    assert (ann.coins, ann.debt, ann.frozen) == (0, 30, True)  # 10 left + 60 reversed; the matured 30 is a loss
    assert (sam.beans, sam.beans_held) == (240, 0)
    for tid in ("gift:new1", "gift:new2"):
        reversal = await money.ledger.get(f"reversal:{tid}")
        assert reversal is not None and reversal.state is TransferState.SETTLED
    report = await verify_ledger(money.store)
    assert report.ok, report.problems
    assert report.totals["coins_spent"] == 30 and report.totals["coins_clawed_back"] == 70
