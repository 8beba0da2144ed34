"""Channel subscriptions as people use them: the tiers, subscribing (a Stripe Checkout URL for the web, an incomplete
subscription and its client secret for the app), one's memberships, cancelling at the period's end and resuming,
gifting a month paid in coins, and a channel's emotes (the streamer uploads and deletes them; anyone sees them).
Stripe's confirmations arrive through ``app.payments`` (the webhook)."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from accounts.service import AccountService
from app.access import RoomAccess
from app.policy import Action, require
from app.principal import Principal
from core.clock import Clock
from core.errors import ConflictError, InvalidInputError, NotFoundError
from core.ids import StreamId, UserId
from rooms.presence import PresenceService
from subscriptions.emotes import Emote, EmoteImage, EmoteService
from subscriptions.errors import ChannelNotFoundError
from subscriptions.service import SubscriptionService, tier_dict


class Subscribing:
    def __init__(
        self,
        accounts: AccountService,
        subscriptions: SubscriptionService,
        emotes: EmoteService,
        clock: Clock,
        access: RoomAccess,
        presence: PresenceService,
    ) -> None:
        self._access = access
        self._presence = presence
        self._clock = clock
        self._accounts = accounts
        self._subs = subscriptions
        self._emotes = emotes

    def tiers(self, who: Principal | None) -> dict[str, Any]:
        require(Action.BROWSE_SUBSCRIPTIONS, who)
        return {"version": self._subs.settings.tiers_version, "items": [tier_dict(t) for t in self._subs.tiers()]}

    async def start(self, who: Principal | None, channel_id: str, tier_id: str, method: str) -> dict[str, Any]:
        require(Action.SUBSCRIBE, who)
        assert who is not None
        await self._channel(channel_id)
        me = await self._accounts.get_user(who.user_id)
        return await self._subs.start(who.user_id, me.email, channel_id, tier_id, method)

    async def membership(self, who: Principal | None, channel_id: str) -> dict[str, Any]:
        """The caller's membership in the channel (``not_subscribed`` when there never was one)."""
        require(Action.SUBSCRIBE, who)
        assert who is not None
        member = await self._subs.membership(channel_id, who.user_id)
        if member is None:
            raise NotFoundError("you have never subscribed to this channel", code="not_subscribed")
        return member.to_dict(self._now())

    async def mine(self, who: Principal | None) -> dict[str, Any]:
        require(Action.SUBSCRIBE, who)
        assert who is not None
        now = self._now()
        return {"items": [m.to_dict(now) for m in await self._subs.memberships_of(who.user_id)]}

    async def cancel(self, who: Principal | None, channel_id: str) -> dict[str, Any]:
        """Cancel at the end of the paid period: the perks last until then."""
        require(Action.SUBSCRIBE, who)
        assert who is not None
        return (await self._subs.set_cancel_at_period_end(who.user_id, channel_id, True)).to_dict(self._now())

    async def change_tier(self, who: Principal | None, channel_id: str, tier_id: str) -> dict[str, Any]:
        """Upgrade or downgrade to another tier now (Stripe prorates the rest of the period)."""
        require(Action.SUBSCRIBE, who)
        assert who is not None
        return (await self._subs.change_tier(who.user_id, channel_id, tier_id)).to_dict(self._now())

    async def resume(self, who: Principal | None, channel_id: str) -> dict[str, Any]:
        """Take a cancellation back before the period ends."""
        require(Action.SUBSCRIBE, who)
        assert who is not None
        return (await self._subs.set_cancel_at_period_end(who.user_id, channel_id, False)).to_dict(self._now())

    async def gift(
        self,
        who: Principal | None,
        channel_id: str,
        recipient_id: str | None,
        tier_id: str,
        key: str,
        *,
        stream_id: str | None = None,
    ) -> dict[str, Any]:
        """A month for ``recipient_id``, paid with the caller's coins once per ``key``. Without a recipient, one is
        drawn at random among the signed-in viewers present in ``stream_id`` (the channel's stream) who are neither
        the buyer, the channel, suspended, nor subscribers already."""
        require(Action.GIFT_SUBSCRIPTION, who)
        assert who is not None
        await self._channel(channel_id)
        if recipient_id is None:
            if stream_id is None:
                raise InvalidInputError(
                    "name a recipient_id, or a stream_id to draw a viewer from", field="recipient_id"
                )
            # A retry gets the first draw's gift: its recipient is a subscriber now and would not be drawn again.
            recipient_id = await self._subs.gift_recipient(who.user_id, key)
            if recipient_id is None:
                recipient_id = await self._draw(who.user_id, channel_id, stream_id)
            return await self._subs.gift(who.user_id, recipient_id, channel_id, tier_id, key, drawn=True)
        users = await self._accounts.get_users([UserId(recipient_id)])
        recipient = users.get(UserId(recipient_id))
        if recipient is None or recipient.suspended:
            raise NotFoundError("no such recipient", code="recipient_not_found")
        return await self._subs.gift(who.user_id, recipient_id, channel_id, tier_id, key)

    async def _draw(self, buyer_id: str, channel_id: str, stream_id: str) -> str:
        stream, _ = await self._access.room(StreamId(stream_id), None, standing=False)
        if stream.owner_id != channel_id:
            raise InvalidInputError("this stream is not the channel's", field="stream_id")
        present = [k for k in await self._presence.viewers(stream.id, 1000) if not k.startswith("g:")]
        candidates = [k for k in present if k not in (buyer_id, channel_id)]
        users = await self._accounts.get_users([UserId(k) for k in candidates])
        eligible = [
            str(u.id)
            for u in users.values()
            if not u.suspended and await self._subs.perks(channel_id, str(u.id)) is None
        ]
        if not eligible:
            raise ConflictError("nobody in the room can receive a gifted subscription now", code="no_eligible_viewer")
        return random.SystemRandom().choice(sorted(eligible))

    async def emotes(self, who: Principal | None, channel_id: str) -> list[Emote]:
        require(Action.BROWSE_SUBSCRIPTIONS, who)
        return await self._emotes.of_channel(channel_id)

    async def emote_image(self, who: Principal | None, emote_id: str) -> EmoteImage:
        require(Action.BROWSE_SUBSCRIPTIONS, who)
        return await self._emotes.image(emote_id)

    async def upload_emote(self, who: Principal | None, code: str, data: bytes) -> Emote:
        """An emote for the caller's own channel (checked: type by magic bytes, pixel and byte caps)."""
        require(Action.MANAGE_EMOTES, who)
        assert who is not None
        return await self._emotes.upload(who.user_id, code, data)

    async def delete_emote(self, who: Principal | None, emote_id: str) -> None:
        require(Action.MANAGE_EMOTES, who)
        assert who is not None
        await self._emotes.delete(who.user_id, emote_id)

    async def _channel(self, channel_id: str) -> None:
        users = await self._accounts.get_users([UserId(channel_id)])
        channel = users.get(UserId(channel_id))
        if channel is None or channel.suspended:
            raise ChannelNotFoundError("no such channel")

    def _now(self) -> datetime:
        return self._clock.now()
