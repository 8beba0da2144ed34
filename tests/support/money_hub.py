"""A whole hub (in-process, manual clock) set up for money scenarios: buyers, live streamers, signed webhooks."""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any

from accounts.models import Principal, Role
from core.clock import ManualClock
from core.ids import UserId
from hub.wiring import Hub
from tests.conftest import TEST_WEBHOOK_SECRET, make_settings
from tests.support import stripe_events
from tests.support.db import YieldingClient, configured_mongo_url, fresh_db_name, open_client
from tests.support.money import CrashSwitch
from wallet.models import TopUpStatus

ADMIN = Principal(UserId("admin-" + "0" * 10), Role.ADMIN, "admin-session")


@dataclass
class MoneyHub:
    hub: Hub
    clock: ManualClock
    crash: CrashSwitch
    mongo: Any
    buyers: list[str] = field(default_factory=list)
    streamers: list[str] = field(default_factory=list)
    streams: dict[str, str] = field(default_factory=dict)  # streamer -> live stream id

    async def add_user(self, nickname: str, *, verified: bool = False) -> str:
        user, _ = await self.hub.accounts.register(
            email=f"{nickname}-{secrets.token_hex(3)}@example.com", password="correct horse", nickname=nickname
        )
        if verified:
            await self.hub.accounts.set_identity_verified(user.id, True)
        return str(user.id)

    async def add_streamer(self, nickname: str) -> str:
        user_id = await self.add_user(nickname, verified=True)
        stream = await self.hub.streams.create(UserId(user_id), title=f"{nickname} live")
        await self.hub.streams.go_live(stream.id)
        self.streamers.append(user_id)
        self.streams[user_id] = str(stream.id)
        return user_id

    async def open_topup(self, user_id: str, pack_index: int = 0) -> dict[str, Any]:
        """A top-up as ``POST /wallet/topups`` leaves it once Stripe answered (here without calling Stripe)."""
        pack = self.hub.settings.wallet.coin_packs[pack_index]
        topup_id = secrets.token_hex(8)
        doc = {
            "_id": topup_id,
            "user_id": user_id,
            "pack_id": pack.id,
            "coins": pack.coins,
            "price_cents": pack.price_cents,
            "currency": pack.currency,
            "method": "payment_intent",
            "status": TopUpStatus.OPEN.value,
            "payment_intent": "pi_" + topup_id,
            "reversed_coins": 0,
            "reversals": [],
            "rev": 0,
            "created_at": self.clock.now(),
        }
        await self.hub.money.payment_store.insert_topup(doc)
        return doc

    async def deliver(self, evt: dict[str, Any]) -> dict[str, Any]:
        payload, header = stripe_events.sign(evt, TEST_WEBHOOK_SECRET)
        return await self.hub.money.webhooks.handle(payload, header)

    async def buy(self, user_id: str, pack_index: int = 0) -> dict[str, Any]:
        topup = await self.open_topup(user_id, pack_index)
        await self.deliver(stripe_events.intent_succeeded(topup["_id"], topup["payment_intent"], topup["price_cents"]))
        return topup

    async def close(self) -> None:
        await self.hub.close()
        try:
            await self.mongo.drop_database(self.hub.settings.mongo_db)
        finally:
            await self.mongo.close()


async def money_hub(*, yielding: random.Random | None = None, **overrides: Any) -> MoneyHub:
    """A started hub on a fresh database of the configured server (see ``tests/support/db.py``). With ``yielding``,
    every database call first yields to the event loop 0–2 times (drawn from it), so concurrent operations
    interleave step by step."""
    clock = ManualClock()
    settings = make_settings(
        fresh_db_name("money"),
        **{
            "wallet_lease_s": 0.5,
            "bean_hold_s": 10.0,
            "cashout_min_beans": 1,
            "gift_burst": 100_000,
            "gift_per_second": 100_000.0,
            "wallet_reconcile_interval_s": 3600.0,
            **overrides,
        },
    )
    mongo = open_client(configured_mongo_url())
    hub = Hub(settings, clock=clock, mongo_client=mongo if yielding is None else YieldingClient(mongo, yielding))
    await hub.start()
    crash = CrashSwitch()
    hub.money.ledger.set_step_hook(crash)
    return MoneyHub(hub, clock, crash, mongo)
