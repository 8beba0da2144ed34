"""Wiring for PK battles: the store, the service and its timer loop, and the facts it listens to (a gift applied or
relayed with a battle on its transfer adds to a live score; a stream that ends ends its battle)."""

from __future__ import annotations

from typing import Any

from battles.service import BattleNotifier, BattleService
from battles.settings import BattlesSettings
from battles.store import BattleStore
from core.clock import Clock
from core.events import EventBus, GiftApplied, GiftSent, StreamEnded
from wallet.service import WalletService


class BattlesWiring:
    def __init__(
        self,
        settings: BattlesSettings,
        *,
        db: Any,
        clock: Clock,
        events: EventBus,
        wallet: WalletService,
        notifier: BattleNotifier,
    ) -> None:
        self.store = BattleStore(db)
        self.service = BattleService(self.store, wallet, clock, settings, notifier)
        # After the money wiring's own GiftApplied handler (the effect), before the sender's ack.
        events.subscribe(GiftApplied, self._on_gift)
        events.subscribe(GiftSent, self._on_gift)  # the outbox relay: a gift whose apply a crash left untold
        events.subscribe(StreamEnded, self._on_stream_ended)

    async def _on_gift(self, event: GiftApplied | GiftSent) -> None:
        battle = event.extra.get("battle")
        if battle:
            await self.service.count(event.transfer_id, str(battle["id"]), str(battle["side"]), int(battle["beans"]))

    async def _on_stream_ended(self, event: StreamEnded) -> None:
        await self.service.stream_ended(event.stream_id)

    async def start(self) -> None:
        await self.store.create_indexes()
        self.service.start()

    async def close(self) -> None:
        await self.service.close()
