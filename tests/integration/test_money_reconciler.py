"""The hub's own reconciler (a background task started and stopped with the hub) finishes a gift whose request
died between two ledger steps, and the gift's event still reaches the room exactly as if nothing happened."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from core.events import GiftSent
from core.ids import UserId
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.money import CrashSwitch, SimulatedCrash
from wallet.accounts import COINS_STRIPE, Currency, user_coins
from wallet.models import Leg, TransferKind, TransferSpec, TransferState
from wallet.verify import verify_ledger


async def test_the_background_reconciler_finishes_a_crashed_gift_and_publishes_it(
    db_name: str, mongo_client: Any
) -> None:
    settings = make_settings(db_name, wallet_lease_s=0.2, wallet_reconcile_interval_s=0.1)
    hub = Hub(settings, mongo_client=mongo_client)
    await hub.start()
    try:
        seen: list[GiftSent] = []

        async def record(event: GiftSent) -> None:
            seen.append(event)

        hub.events.subscribe(GiftSent, record)
        fan, _ = await hub.accounts.register(email="fan@example.com", password="correct horse", nickname="Fan")
        star, _ = await hub.accounts.register(email="star@example.com", password="correct horse", nickname="Star")
        stream = await hub.streams.create(UserId(star.id), title="live")
        await hub.streams.go_live(stream.id)
        await hub.money.ledger.execute(
            TransferSpec(
                "topup:seed",
                TransferKind.TOPUP,
                (Leg(COINS_STRIPE, Currency.COINS, -10), Leg(user_coins(fan.id), Currency.COINS, 10)),
            )
        )
        crash = CrashSwitch(countdown=3)  # inserted, first leg, second leg → the request dies
        hub.money.ledger.set_step_hook(crash)
        with pytest.raises(SimulatedCrash):
            await hub.gifts.send(fan.id, stream.id, "rose", 1, "k1")
        hub.money.ledger.set_step_hook(None)
        tid = f"gift:{fan.id}:k1"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            transfer = await hub.money.ledger.get(tid)
            if transfer is not None and transfer.state is TransferState.SETTLED and seen:
                break
            await asyncio.sleep(0.05)
        assert [e.transfer_id for e in seen] == [tid]
        assert (await hub.wallet.balances(fan.id)).coins == 9
        ack = await hub.gifts.send(fan.id, stream.id, "rose", 1, "k1")  # the client's retry: the same gift
        assert (ack.transfer_id, ack.balance) == (tid, 9)
        await hub.money.relay.drain()
        assert len(seen) == 1
        report = await verify_ledger(hub.money.ledger_store)
        assert report.ok, report.problems
    finally:
        await hub.close()
        await mongo_client.drop_database(db_name)
