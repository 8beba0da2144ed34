"""Channel points: the rewards menu with my balance, redeeming, the streamer's rewards and request queue, my points
everywhere, and achievements on a profile.

Points belong to the streamer's channel (the stream's owner), so the routes name a stream and its owner is the
channel. Redeeming delivers what it bought: a highlight posts the viewer's message highlighted in chat (through the
chat's own rules: a message the room refuses is refunded at once), a sound alert goes to the stream's overlays, a
custom request waits in the queue the streamer and the channel's moderators see (``redemption:new`` reaches them
live). Earning is wired here too: ``Chatting`` and ``Profiles`` call ``chatted``/``followed``; watch time is sampled
by ``loyalty.earning.Earning`` on every node.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from accounts.service import AccountService
from app.access import RoomAccess
from app.overlays import overlay_audience
from app.policy import Action, require
from app.principal import Principal
from core.errors import HubError
from core.ids import StreamId, UserId
from gifts.service import GiftService
from loyalty.achievements import Facts, compute
from loyalty.earning import Earning
from loyalty.models import EntryKind, Redemption, RedemptionStatus, Reward, RewardKind
from loyalty.rewards import RewardService
from rooms.chat import ChatService, Speaker
from rooms.models import StreamStatus
from rooms.notify import RoomNotifier
from wallet.models import TransferKind
from wallet.service import WalletService

log = logging.getLogger(__name__)

#: To the stream's moderators (the studio's queue): a paid redemption that waits for them.
REDEMPTION_NEW = "redemption:new"
#: To the stream's overlays: a sound alert bought with points.
REWARD_ALERT = "reward:alert"
#: To the viewer: their balance in the channel changed by a redemption or refund.
POINTS_BALANCE = "points:balance"


@dataclass(frozen=True, slots=True)
class RewardsMenu:
    channel_id: str
    balance: int | None  # None for a guest
    rewards: list[Reward]

    def to_dict(self) -> dict[str, Any]:
        return {
            "channel_id": self.channel_id,
            "balance": self.balance,
            "rewards": [r.to_dict() for r in self.rewards],
        }


class ChannelPoints:
    def __init__(
        self,
        access: RoomAccess,
        rewards: RewardService,
        earning: Earning,
        chat: ChatService,
        notifier: RoomNotifier,
        accounts: AccountService,
        wallet: WalletService,
        gifts: GiftService,
    ) -> None:
        self._access = access
        self._rewards = rewards
        self._earning = earning
        self._chat = chat
        self._notifier = notifier
        self._accounts = accounts
        self._wallet = wallet
        self._gifts = gifts

    # Earning (called by other use cases after their own work; never fails them)
    async def chatted(
        self, stream_owner: str, status: StreamStatus, viewer: str, message_id: str, stream_id: str
    ) -> None:
        if status is not StreamStatus.LIVE:
            return
        try:
            await self._earning.chat(stream_owner, viewer, message_id, stream_id)
        except Exception:
            log.warning("chat points for %s in %s not credited", viewer, stream_owner, exc_info=True)

    async def followed(self, channel: str, viewer: str) -> None:
        try:
            await self._earning.follow(channel, viewer)
        except Exception:
            log.warning("follow points for %s in %s not credited", viewer, channel, exc_info=True)

    # The viewer's side
    async def menu(self, who: Principal | None, stream_id: StreamId, *, include_disabled: bool = False) -> RewardsMenu:
        """The channel's rewards (enabled ones; all of them for its owner with ``include_disabled``) and, for a
        signed-in caller, their balance there."""
        stream, room = await self._access.room(stream_id, who, standing=False)
        require(Action.MANAGE_REWARDS if include_disabled else Action.BROWSE_REWARDS, who, room)
        rewards = await self._rewards.rewards(stream.owner_id, include_disabled=include_disabled)
        balance = await self._rewards.ledger.balance(stream.owner_id, who.user_id) if who is not None else None
        return RewardsMenu(stream.owner_id, balance, rewards)

    async def redeem(
        self, who: Principal | None, stream_id: StreamId, reward_id: str, key: str, text: str
    ) -> dict[str, Any]:
        stream = await self._access.authorize(Action.REDEEM_REWARD, stream_id, who)
        assert who is not None
        channel = stream.owner_id
        redemption = await self._rewards.redeem(
            channel, who.user_id, who.nickname, reward_id, key, text=text, stream_id=stream.id
        )
        fresh = redemption.status is RedemptionStatus.UNFULFILLED
        if fresh and redemption.reward_kind is RewardKind.HIGHLIGHT:
            redemption = await self._highlight(who, stream.id, redemption)
        elif fresh and redemption.reward_kind is RewardKind.SOUND:
            await self._notifier.to_user(overlay_audience(stream.id), REWARD_ALERT, self._alert(redemption))
            redemption = await self._rewards.delivered(redemption.id) or redemption
        elif fresh:
            await self._notifier.to_moderators(stream.id, REDEMPTION_NEW, redemption.to_dict())
        balance = await self._rewards.ledger.balance(channel, who.user_id)
        return {"redemption": redemption.to_dict(), "balance": balance}

    async def _highlight(self, who: Principal, stream_id: StreamId, redemption: Redemption) -> Redemption:
        """Post the message highlighted; if the room refuses it (slow mode, a blocked term, ...) the points go back."""
        assert who.created_at is not None
        speaker = Speaker(who.user_id, who.nickname, who.role, who.created_at)
        try:
            await self._chat.send(stream_id, speaker, redemption.text, None, highlighted=True)
        except HubError:
            await self._rewards.refund(redemption.channel, redemption.id, "auto")
            raise
        return await self._rewards.delivered(redemption.id) or redemption

    @staticmethod
    def _alert(r: Redemption) -> dict[str, Any]:
        return {
            "redemption_id": r.id,
            "stream_id": r.stream_id,
            "viewer": {"id": r.viewer, "nickname": r.viewer_nickname},
            "title": r.title,
            "sound": r.sound,
            "at": r.created_at.isoformat(),
        }

    async def my_points(self, who: Principal | None) -> list[dict[str, Any]]:
        """My balance in every channel I have points in, largest first."""
        require(Action.USE_POINTS, who)
        assert who is not None
        docs = await self._rewards.ledger.store.accounts_of(who.user_id, limit=200)
        return [{"channel_id": d["channel"], "balance": int(d["balance"])} for d in docs]

    # The streamer's side
    async def create_reward(self, who: Principal | None, stream_id: StreamId, fields: dict[str, Any]) -> Reward:
        stream = await self._access.authorize(Action.MANAGE_REWARDS, stream_id, who)
        kind = RewardKind(fields.pop("kind"))
        return await self._rewards.create(stream.owner_id, kind, fields.pop("title"), fields.pop("cost"), **fields)

    async def change_reward(
        self, who: Principal | None, stream_id: StreamId, reward_id: str, changes: dict[str, Any]
    ) -> Reward:
        stream = await self._access.authorize(Action.MANAGE_REWARDS, stream_id, who)
        return await self._rewards.update(stream.owner_id, reward_id, changes)

    async def delete_reward(self, who: Principal | None, stream_id: StreamId, reward_id: str) -> int:
        """Delete one of the channel's rewards; the redemptions waiting for it are refunded (how many)."""
        stream = await self._access.authorize(Action.MANAGE_REWARDS, stream_id, who)
        assert who is not None
        return await self._rewards.delete(stream.owner_id, reward_id, who.user_id)

    async def queue(
        self, who: Principal | None, stream_id: StreamId, statuses: list[RedemptionStatus], limit: int
    ) -> list[Redemption]:
        stream = await self._access.authorize(Action.HANDLE_REDEMPTIONS, stream_id, who)
        return await self._rewards.queue(stream.owner_id, statuses, limit=limit)

    async def fulfil(self, who: Principal | None, stream_id: StreamId, redemption_id: str) -> Redemption:
        stream = await self._access.authorize(Action.HANDLE_REDEMPTIONS, stream_id, who)
        assert who is not None
        return await self._rewards.fulfil(stream.owner_id, redemption_id, who.user_id)

    async def refund(self, who: Principal | None, stream_id: StreamId, redemption_id: str) -> Redemption:
        stream = await self._access.authorize(Action.HANDLE_REDEMPTIONS, stream_id, who)
        assert who is not None
        redemption = await self._rewards.refund(stream.owner_id, redemption_id, who.user_id)
        balance = await self._rewards.ledger.balance(redemption.channel, redemption.viewer)
        await self._notifier.to_user(
            redemption.viewer, POINTS_BALANCE, {"channel_id": redemption.channel, "balance": balance}
        )
        return redemption

    # Profiles
    async def achievements(self, who: Principal | None, user_id: UserId) -> list[dict[str, Any]]:
        """Computed from what is recorded: gifts in the coins ledger, follows, and the points ledger's facts."""
        require(Action.READ_PROFILE, who)
        await self._accounts.get_user(user_id)  # an unknown user is a 404, not an empty list
        store = self._rewards.ledger.store
        gifts = await self._wallet.totals_by(TransferKind.GIFT, {"sender_id": user_id}, "sender_id", "count", 1)
        days = await store.watch_days(user_id, limit=400)
        facts = Facts(
            gifts_sent=gifts[0][2] if gifts else 0,
            follows=max(
                len(await self._accounts.followees(user_id)),
                await store.count_entries(user_id, [EntryKind.FOLLOW.value], applied_only=False),
            ),
            chat_messages=await store.count_entries(user_id, [EntryKind.CHAT.value], applied_only=False),
            redemptions=await self._rewards.count_redeemed(user_id),
            watch_seconds=sum(seconds for _, seconds in days),
            watch_days=tuple(day for day, _ in days),
        )
        return [a.to_dict() for a in compute(facts)]
