"""Wiring for money: the wallet (ledger, reconciler, Stripe top-ups, cash-outs) and gifts (catalogue, sending,
leaderboards, goals), plus the glue that turns gift facts into room broadcasts and stream stats.

Kept apart from ``hub/wiring.py`` so that file stays a readable list; ``Hub`` calls ``MoneyWiring`` once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from typing import Any

from accounts.service import AccountService
from core.clock import Clock
from core.events import EventBus, GiftApplied, GiftSent
from core.ids import StreamId
from core.ratelimit import Rate, RateLimiter
from core.tasks import cancel_and_wait
from gifts.catalogue import GiftCatalogue
from gifts.goals import GoalService
from gifts.live_state import InProcessLiveState, LiveState
from gifts.models import StreamRef
from gifts.service import GiftPolicy, GiftService, MessageScreen
from gifts.settings import GiftsSettings
from gifts.store import GiftStore
from gifts.store_redis import RedisLiveState
from hub.money_fanout import Broadcaster, CoalescingEmitter
from hub.redis_breaker import RedisBreaker, guarded
from rooms.models import StreamStatus
from rooms.streams import StreamService
from wallet.audit import LedgerAudit
from wallet.cashouts import CashoutService
from wallet.group_commit import GroupCommit
from wallet.ledger import Ledger
from wallet.models import TransferKind
from wallet.outbox import OutboxRelay
from wallet.reconciler import Reconciler
from wallet.service import WalletService
from wallet.settings import WalletSettings
from wallet.store import LedgerStore
from wallet.store_payments import PaymentStore
from wallet.stripe_gateway import StripeGateway
from wallet.topups import Pack, TopUpService
from wallet.webhooks import StripeWebhooks

log = logging.getLogger(__name__)

#: How many transfer ids whose effect went out this node remembers (so the outbox relay's ``GiftSent`` does not send
#: it again). A gift's relay runs within moments of its apply; this covers minutes of a gift storm.
EFFECTS_REMEMBERED = 100_000


class GiftTotals:
    """The streams' gift totals (``stats.gifts_coins``/``gifts_beans``), added up per stream and written by one task
    as one update per stream for whatever came in meanwhile (a gift storm's relay batches become a few writes, not
    one per gift). Stats are a projection: a crash loses what was not written yet."""

    def __init__(self, streams: StreamService) -> None:
        self._streams = streams
        self._due: dict[str, tuple[int, int]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="gift-totals")

    async def add(self, stream_id: str, coins: int, beans: int) -> None:
        if self._task is None:  # not started (or closed): written at once
            await self._write(stream_id, coins, beans)
            return
        was = self._due.get(stream_id, (0, 0))
        self._due[stream_id] = (was[0] + coins, was[1] + beans)
        self._wake.set()

    async def _write(self, stream_id: str, coins: int, beans: int) -> None:
        await self._streams.record_stats(StreamId(stream_id), inc={"gifts_coins": coins, "gifts_beans": beans})

    async def _flush(self) -> None:
        due, self._due = self._due, {}
        for stream_id, (coins, beans) in due.items():
            try:
                await self._write(stream_id, coins, beans)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("gift totals of stream %s not written", stream_id)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self._flush()

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        await self._flush()


class MoneyWiring:
    def __init__(
        self,
        wallet_settings: WalletSettings,
        gift_settings: GiftsSettings,
        *,
        node_id: str,
        public_url: str,
        db: Any,
        clock: Clock,
        events: EventBus,
        accounts: AccountService,
        streams: StreamService,
        limiter: RateLimiter,
        redis: Any,
        redis_breaker: RedisBreaker | None,
        broadcaster: Broadcaster,
        message_screen: MessageScreen | None = None,
    ) -> None:
        self._streams = streams
        self.ledger_store = LedgerStore(db)
        self.payment_store = PaymentStore(db)
        self.ledger = Ledger(self.ledger_store, clock, node_id=node_id, lease_s=wallet_settings.lease_s)
        self.relay = OutboxRelay(self.ledger)
        self.ledger.use_relay(self.relay)
        # New gift transfers in flight together are written together (wallet/group_commit.py).
        self.group_commit = GroupCommit(self.ledger)
        self.ledger.use_group_commit(self.group_commit, (TransferKind.GIFT,))
        self.wallet = WalletService(self.ledger, clock)
        gateway = StripeGateway(
            wallet_settings.stripe_secret_key,
            wallet_settings.stripe_webhook_secret,
            api_base=wallet_settings.stripe_api_base,
            public_url=public_url,
        )
        packs = [Pack(p.id, p.coins, p.price_cents, p.currency) for p in wallet_settings.coin_packs]
        self.topups = TopUpService(
            self.payment_store,
            self.wallet,
            gateway,
            packs,
            clock,
            limiter=limiter,
            rate=Rate(wallet_settings.topup_burst, wallet_settings.topup_per_hour / 3600),
        )
        self.webhooks = StripeWebhooks(self.payment_store, self.topups, clock)
        self.cashouts = CashoutService(
            self.payment_store, self.wallet, clock, minimum_beans=wallet_settings.cashout_min_beans
        )
        self.reconciler = Reconciler(
            self.ledger,
            clock,
            interval_s=wallet_settings.reconcile_interval_s,
            also=(self.cashouts.finish_interrupted,),
        )
        self.audit = LedgerAudit(self.ledger_store, self.relay, self.reconciler)

        # The node's limiter falls back to its own while Redis is away: gifts keep flowing (money is in Mongo)
        self.gift_store = GiftStore(db)
        self.catalogue = GiftCatalogue(self.gift_store, clock)
        self.goals = GoalService(self.gift_store, clock)
        live: LiveState = InProcessLiveState(clock)
        # Combos and the live board behind the node's Redis breaker (hub/redis_breaker.py).
        if redis is not None and redis_breaker is not None:
            live = guarded(RedisLiveState(redis), redis_breaker)
        self.gifts = GiftService(
            catalogue=self.catalogue,
            goals=self.goals,
            store=self.gift_store,
            wallet=self.wallet,
            accounts=accounts,
            streams=self._stream_ref,
            live=live,
            limiter=limiter,
            events=events,
            clock=clock,
            policy=GiftPolicy(
                rate=Rate(gift_settings.burst, gift_settings.per_second),
                daily_cap_coins=gift_settings.daily_cap_coins,
                combo_window_s=gift_settings.combo_window_s,
                bean_hold_s=gift_settings.bean_hold_s,
                share_bps=dict(gift_settings.share_bps),
            ),
            screen=message_screen,
        )
        self._emitter = CoalescingEmitter(broadcaster)
        self._stats = GiftTotals(streams)
        self._effects_sent: OrderedDict[str, None] = OrderedDict()
        events.subscribe(GiftApplied, self._on_gift_applied)
        events.subscribe(GiftSent, self._on_gift_sent)

    async def _stream_ref(self, stream_id: str) -> StreamRef:
        stream = await self._streams.get(StreamId(stream_id))
        return StreamRef(stream.id, stream.owner_id, stream.status is StreamStatus.LIVE)

    async def _emit_effect(self, event: GiftApplied | GiftSent) -> None:
        """``gift:received`` once per transfer from this node: right after the apply (``GiftApplied``), or from the
        outbox relay's ``GiftSent`` when this node was never told of the apply (a crash in between, another node's
        reconciler). A crash after the emit but before the relay marked the transfer published can repeat it from
        another node: clients tell effects apart by ``transfer_id`` (docs/protocol.md)."""
        if event.transfer_id in self._effects_sent:
            return
        self._effects_sent[event.transfer_id] = None
        if len(self._effects_sent) > EFFECTS_REMEMBERED:
            self._effects_sent.popitem(last=False)
        extra = event.extra
        payload: dict[str, Any] = {
            "stream_id": event.stream_id,
            "transfer_id": event.transfer_id,
            "sender": extra.get("sender", {"id": event.sender_id}),
            "gift": extra.get("gift", {"id": event.gift_id}),
            "count": event.count,
            "combo": event.combo,
            "effect": extra.get("effect"),
            "at": event.at.isoformat(),
        }
        if extra.get("message"):
            payload["message"] = extra["message"]  # a paid message: drawn highlighted, never merged with other gifts
        await self._emitter.emit_now(event.stream_id, "gift:received", payload)

    async def _on_gift_applied(self, event: GiftApplied) -> None:
        await self._emit_effect(event)

    async def _on_gift_sent(self, event: GiftSent) -> None:
        """Stream stats, then the room: the effect (unless it went out at the apply), the live leaderboard and the
        goal."""
        await self._stats.add(event.stream_id, event.coins, event.beans)
        room = self._emitter
        extra = event.extra
        await self._emit_effect(event)
        if "leaderboard" in extra:
            await room.emit_latest(
                event.stream_id, "leaderboard:update", {"stream_id": event.stream_id, "top": extra["leaderboard"]}
            )
        if extra.get("goal") is not None:
            await room.emit_latest(
                event.stream_id, "goal:progress", {"stream_id": event.stream_id, "goal": extra["goal"]}
            )

    async def start(self) -> None:
        await self.ledger_store.create_indexes()
        await self.payment_store.create_indexes()
        await self.gift_store.create_indexes()
        added = await self.catalogue.seed()
        if added:
            log.info("gift catalogue: seeded %d default gifts", added)
        self._stats.start()
        self.relay.start()
        self.group_commit.start()
        self.reconciler.start()

    async def close(self) -> None:
        await self.reconciler.close()
        await self.group_commit.close()
        with contextlib.suppress(TimeoutError):
            await self.relay.drain(2.0)
        await self.relay.close()
        await self._stats.close()
        await self._emitter.close()
