"""Wiring for channel subscriptions: the service (Stripe Billing, the ledger, memberships), the emotes, Stripe's
Billing events handed over from the one webhook endpoint, and the "new subscriber" alert into the channel's live
rooms (viewers and overlays, on every node through the room fan-out)."""

from __future__ import annotations

import logging
from typing import Any

from accounts.service import AccountService
from core.clock import Clock
from core.events import EventBus, SubscriberAdded
from core.ids import UserId
from hub.money_fanout import Broadcaster
from rooms.models import StreamStatus
from rooms.streams import StreamService
from subscriptions.billing import StripeBilling
from subscriptions.emotes import EmoteService
from subscriptions.refunds import REFUND_EVENTS, SubscriptionRefunds
from subscriptions.service import SUBSCRIPTION_EVENTS, SubscriptionService
from subscriptions.settings import SubscriptionsSettings
from subscriptions.store import SubscriptionStore
from subscriptions.store_refunds import InvoiceRefundStore
from wallet.service import WalletService
from wallet.settings import WalletSettings
from wallet.webhooks import StripeWebhooks

log = logging.getLogger(__name__)

#: The room event of a new (or returning, or gifted) subscriber: docs/protocol.md.
SUB_NEW = "sub:new"


class SubsWiring:
    def __init__(
        self,
        settings: SubscriptionsSettings,
        wallet_settings: WalletSettings,
        *,
        bean_hold_s: float,
        public_url: str,
        db: Any,
        clock: Clock,
        events: EventBus,
        wallet: WalletService,
        webhooks: StripeWebhooks,
        accounts: AccountService,
        streams: StreamService,
        broadcaster: Broadcaster,
    ) -> None:
        self.store = SubscriptionStore(db)
        self.billing = StripeBilling(
            wallet_settings.stripe_secret_key, api_base=wallet_settings.stripe_api_base, public_url=public_url
        )
        self.refund_store = InvoiceRefundStore(db)
        self.refunds = SubscriptionRefunds(self.refund_store, wallet)
        self.service = SubscriptionService(
            self.store, self.billing, wallet, events, clock, settings, bean_hold_s=bean_hold_s, refunds=self.refunds
        )
        self.emotes = EmoteService(self.store, clock, settings)
        self._accounts = accounts
        self._streams = streams
        self._broadcaster = broadcaster
        webhooks.register(SUBSCRIPTION_EVENTS, self.service.handle_event)
        # A refund, credit note or dispute of a subscription invoice takes the streamer's share back.
        webhooks.register(REFUND_EVENTS, self.refunds.credit_note)
        webhooks.claim_charges(self.refunds.charge_event)
        events.subscribe(SubscriberAdded, self._on_subscriber)

    async def _on_subscriber(self, event: SubscriberAdded) -> None:
        """``sub:new`` to each live stream of the channel (a channel usually has one)."""
        live = [s for s in await self._streams.owned_by(UserId(event.channel_id)) if s.status is StreamStatus.LIVE]
        if not live:
            return
        ids = [UserId(event.user_id)] + ([UserId(event.gifted_by)] if event.gifted_by else [])
        users = await self._accounts.get_users(ids)

        def person(user_id: str) -> dict[str, Any]:
            user = users.get(UserId(user_id))
            return {"id": user_id, "nickname": user.nickname if user else None}

        for stream in live:
            payload: dict[str, Any] = {
                "stream_id": stream.id,
                "channel_id": event.channel_id,
                "user": person(event.user_id),
                "tier_id": event.tier_id,
                "months": event.months,
                "gifted_by": person(event.gifted_by) if event.gifted_by else None,
                "at": event.at.isoformat(),
            }
            await self._broadcaster.emit(stream.id, SUB_NEW, payload)

    async def start(self) -> None:
        await self.store.create_indexes()
        await self.refund_store.create_indexes()
