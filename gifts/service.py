"""Sending gifts: checks, one ledger transfer (coins → revenue, beans → the streamer's hold), then the facts.

The transfer id is ``gift:{sender}:{client key}``: a replay (a retry, a second tab, another node) returns the stored
ack and never debits twice. ``GiftSent`` is published only after the transfer is applied; the transfer document is
the outbox, so the reconciler republishes what a crash left unpublished. Leaderboards, goals and combos are
projections, each counting a transfer once.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from accounts.service import AccountService
from core.clock import Clock
from core.errors import HubError, InvalidInputError, RateLimitedError, UnavailableError
from core.events import EventBus, GiftApplied, GiftSent, TopGiftersChanged
from core.ids import UserId, new_id
from core.ratelimit import Rate, RateLimiter
from core.text import GIFT_MESSAGE
from gifts.catalogue import GiftCatalogue
from gifts.errors import DailySpendCapError, SelfGiftError, StreamNotLiveError, UserBlockedError
from gifts.goals import GoalService
from gifts.live_state import LiveState
from gifts.models import Gift, GiftAck, StreamRef
from gifts.settings import DEFAULTS
from gifts.store import GiftStore
from wallet.accounts import (
    BEANS_ISSUER,
    BEANS_PLATFORM_REVENUE,
    COINS_GIFT_REVENUE,
    Currency,
    user_beans,
    user_beans_held,
    user_coins,
)
from wallet.errors import AccountFrozenError, InsufficientFundsError
from wallet.models import Hold, Leg, Transfer, TransferKind, TransferSpec, TransferState
from wallet.service import WalletService

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
StreamLookup = Callable[[str], Awaitable[StreamRef]]
#: Checks a gift's message against the room's rules (blocked terms) before the gift moves money; raises to refuse.
MessageScreen = Callable[[str, str], Awaitable[None]]  # (stream_id, message)
TOP_BADGES = 3
NICKNAME_TTL_S = 60.0
LEADERBOARD_SIZE = 10
#: The outbox relay publishes a batch's gifts in slices of this many, one event-loop iteration apart.
PUBLISH_SLICE = 32


@dataclass(frozen=True, slots=True)
class GiftPolicy:
    # The defaults are the settings' (gifts/settings.py).
    rate: Rate = field(default_factory=lambda: Rate(DEFAULTS.burst, DEFAULTS.per_second))  # per sender
    daily_cap_coins: int = DEFAULTS.daily_cap_coins
    combo_window_s: float = DEFAULTS.combo_window_s
    bean_hold_s: float = DEFAULTS.bean_hold_s
    share_bps: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULTS.share_bps))
    default_share_bps: int = 8000
    max_count: int = 99

    def share_for(self, kind: str) -> int:
        return int(self.share_bps.get(kind, self.default_share_bps))


class GiftService:
    def __init__(
        self,
        *,
        catalogue: GiftCatalogue,
        goals: GoalService,
        store: GiftStore,
        wallet: WalletService,
        accounts: AccountService,
        streams: StreamLookup,
        live: LiveState,
        limiter: RateLimiter,
        events: EventBus,
        clock: Clock,
        policy: GiftPolicy,
        screen: MessageScreen | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.goals = goals
        self._store = store
        self._wallet = wallet
        self._accounts = accounts
        self._streams = streams
        self._live = live
        self._limiter = limiter
        self._events = events
        self._clock = clock
        self._policy = policy
        self._screen = screen
        self._top_cache: dict[str, tuple[str, ...]] = {}
        self._nicknames: dict[str, tuple[str | None, float]] = {}  # user id -> (nickname, valid until, monotonic)
        wallet.ledger.register_publisher(TransferKind.GIFT, self._publish, many=self._publish_many)
        wallet.ledger.register_applied_listener(TransferKind.GIFT, self._applied)

    @property
    def policy(self) -> GiftPolicy:
        return self._policy

    async def send(
        self,
        sender_id: str,
        stream_id: str,
        gift_id: str,
        count: int,
        key: str,
        message: str = "",
        *,
        stream: StreamRef | None = None,
        battle: tuple[str, str] | None = None,
    ) -> GiftAck:
        """Send a gift once per (sender, ``key``). ``battle``: (battle id, side) when the stream is in a live PK
        battle; the transfer carries them (``refs.battle_id``, ``refs.battle_side``) so the battle's score is the
        ledger's sum. ``stream``: the stream as the caller has just read it (the use
        case read it to authorize), so it is not read twice; without it the service reads it. ``message``: an
        optional short text shown with the gift (the text policy's ``GIFT_MESSAGE`` rule and the room's blocked
        terms apply); it is part of the transfer, so a replay must carry the same one."""
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= self._policy.max_count:
            raise InvalidInputError(f"count must be between 1 and {self._policy.max_count}", field="count")
        if not _KEY.match(key):
            raise InvalidInputError("idempotency_key must be 1-64 of A-Z a-z 0-9 _ . : -", field="idempotency_key")
        message = GIFT_MESSAGE.clean(message) if message else ""
        tid = f"gift:{sender_id}:{key}"
        try:
            prepared = await self._prepare(tid, sender_id, stream_id, gift_id, count, key, message, stream, battle)
        except HubError:
            # A check refused it: if this key was used before (a retry after the stream ended, the rate limit, the
            # daily cap...), the sender gets the first send's ack. Looked up only here, so a new gift does not pay
            # a read for the rare retry (a retry that passes the checks meets its transfer at the insert).
            existing = await self._wallet.ledger.get(tid)
            if existing is None:
                raise
            return await self._replay(existing, tid, stream_id, gift_id, count, message)
        spec, day_key, coins = prepared
        transfer = await self._wallet.execute(spec)
        if transfer.refs.get("_attempt") != spec.refs["_attempt"]:  # the key was used before: its transfer answers
            await self._store.refund_spend(day_key, coins)  # (its coins were counted when it was sent)
            return await self._replay(transfer, tid, stream_id, gift_id, count, message)
        if transfer.state is TransferState.REJECTED:
            await self._store.refund_spend(day_key, coins)  # nothing spent
        return self._ack(transfer)

    async def _prepare(
        self,
        tid: str,
        sender_id: str,
        stream_id: str,
        gift_id: str,
        count: int,
        key: str,
        message: str,
        stream: StreamRef | None,
        battle: tuple[str, str] | None = None,
    ) -> tuple[TransferSpec, str, int]:
        """The checks (each may refuse the gift), the day's spend counted, the combo: the transfer to execute."""
        if stream is None or stream.id != stream_id:
            stream = await self._streams(stream_id)
        if not stream.live:
            raise StreamNotLiveError("this stream is not live")
        if stream.owner_id == sender_id:
            raise SelfGiftError("you cannot send gifts to yourself")
        users = await self._accounts.get_users([UserId(sender_id), UserId(stream.owner_id)])
        sender, streamer = users.get(UserId(sender_id)), users.get(UserId(stream.owner_id))
        if sender is None or sender.suspended:
            raise UserBlockedError("your account cannot send gifts")
        if streamer is None or streamer.suspended:
            raise UserBlockedError("this streamer cannot receive gifts")
        if message and self._screen is not None:
            await self._screen(stream_id, message)  # a new gift only: a replay's message was screened when sent
        wait = await self._limiter.hit(f"gift:{sender_id}", self._policy.rate)
        if wait:
            raise RateLimitedError("you are sending gifts too fast", retry_after_s=wait)
        gift = await self.catalogue.get(gift_id, cached=True)
        if not gift.active:
            raise InvalidInputError("this gift is not available", code="gift_unavailable")
        coins = gift.coins * count
        bps = self._policy.share_for(gift.kind)
        value = gift.beans * count  # the gift's virtual value in beans
        beans = value * bps // 10_000  # the streamer's share; the platform keeps the rest of the value
        now = self._clock.now()
        attempt = new_id()
        day_key = f"{sender_id}:{now.date().isoformat()}"
        if not await self._store.add_spend(day_key, coins, self._policy.daily_cap_coins, now + timedelta(days=2)):
            raise DailySpendCapError(
                f"daily gift spending is capped at {self._policy.daily_cap_coins} coins",
                cap=self._policy.daily_cap_coins,
            )
        combo = count
        if gift.combo:
            try:
                combo = await self._live.combo(stream_id, sender_id, gift_id, count, self._policy.combo_window_s, tid)
            except UnavailableError:
                log.warning("combo state unavailable; sending without a combo")  # money first, projections after
        legs = [
            Leg(user_coins(sender_id), Currency.COINS, -coins),
            Leg(COINS_GIFT_REVENUE, Currency.COINS, coins),
        ]
        hold = None
        if value:
            legs.append(Leg(BEANS_ISSUER, Currency.BEANS, -value))
        if value - beans:
            legs.append(Leg(BEANS_PLATFORM_REVENUE, Currency.BEANS, value - beans))
        if beans:
            legs.append(Leg(user_beans_held(stream.owner_id), Currency.BEANS, beans))
            hold = Hold(
                user_beans_held(stream.owner_id),
                user_beans(stream.owner_id),
                Currency.BEANS,
                beans,
                now + timedelta(seconds=self._policy.bean_hold_s),
                payer=sender_id,
            )
        refs: dict[str, Any] = {
            "stream_id": stream_id,
            "sender_id": sender_id,
            "sender_nickname": sender.nickname,
            "streamer_id": stream.owner_id,
            "gift_id": gift.id,
            "gift_version": gift.version,
            "count": count,
            "coins": coins,
            "beans": beans,
            "platform_beans": value - beans,
            "share_bps": bps,
            "combo": combo,
            "_key": key,
            **({"message": message} if message else {}),
            **({"battle_id": battle[0], "battle_side": battle[1]} if battle else {}),
            "_attempt": attempt,  # tells this request's insert from a concurrent replay's
        }
        spec = TransferSpec(tid, TransferKind.GIFT, tuple(legs), refs=refs, outbox=True, hold=hold)
        return spec, day_key, coins

    async def _replay(
        self, existing: Transfer, tid: str, stream_id: str, gift_id: str, count: int, message: str
    ) -> GiftAck:
        refs = existing.refs
        sent = (refs.get("stream_id"), refs.get("gift_id"), refs.get("count"), refs.get("message", ""))
        if sent != (stream_id, gift_id, count, message):
            raise InvalidInputError("this idempotency key was used for a different gift", code="idempotency_key_reused")
        if existing.state is TransferState.PENDING:
            existing = await self._wallet.execute(TransferSpec(tid, existing.kind, existing.legs, refs=existing.refs))
        return self._ack(existing)

    def _ack(self, transfer: Transfer) -> GiftAck:
        refs = transfer.refs
        if transfer.state is TransferState.REJECTED:
            if transfer.error == "account_frozen":
                raise AccountFrozenError("your coins are frozen after a refund or chargeback; contact support")
            raise InsufficientFundsError("not enough coins for this gift", transfer_id=transfer.id)
        account = user_coins(refs["sender_id"])
        balance = int(transfer.result.get("balances", {}).get(account, 0))
        return GiftAck(
            transfer.id, refs["gift_id"], int(refs["count"]), int(refs["combo"]), int(refs["coins"]), balance
        )

    async def _gift_of(self, refs: Mapping[str, Any]) -> Gift:
        """The catalogue entry the gift was sent as (its version), from the cache when it is current."""
        gift = await self.catalogue.get(refs["gift_id"], cached=True)
        if gift.version != refs["gift_version"]:
            gift = await self.catalogue.version(refs["gift_id"], int(refs["gift_version"]))
        return gift

    async def _applied(self, transfer: Transfer) -> None:
        """Right after this node applied a gift (before its ack): the effect, for the room at once."""
        refs = transfer.refs
        gift = await self._gift_of(refs)
        await self._events.publish(
            GiftApplied(
                transfer_id=transfer.id,
                stream_id=refs["stream_id"],
                sender_id=refs["sender_id"],
                gift_id=refs["gift_id"],
                count=int(refs["count"]),
                combo=int(refs["combo"]),
                at=transfer.created_at,
                extra={
                    "sender": {"id": refs["sender_id"], "nickname": refs.get("sender_nickname")},
                    "gift": gift.public(),
                    "effect": gift.effect.to_dict(),
                    **({"message": refs["message"]} if refs.get("message") else {}),
                    **_battle_of(refs),
                },
            )
        )

    async def _publish(self, transfer: Transfer) -> None:
        """The outbox relay for one gift transfer (the reconciler's republishing)."""
        await self._publish_many([transfer])

    async def _publish_many(self, transfers: list[Transfer]) -> None:
        """The outbox relay for gift transfers: projections first (each idempotent, per stream once for all of its
        gifts here: one leaderboard read, one goal update), then the facts, in order."""
        by_stream: dict[str, list[Transfer]] = {}
        for transfer in transfers:
            by_stream.setdefault(transfer.refs["stream_id"], []).append(transfer)
        for stream_id, group in by_stream.items():
            await self._publish_stream(stream_id, group)

    async def _publish_stream(self, stream_id: str, transfers: list[Transfer]) -> None:
        top: list[dict[str, Any]] | None = None
        try:
            for transfer in transfers:
                refs = transfer.refs
                await self._live.add_score(stream_id, refs["sender_id"], int(refs["coins"]), transfer.id)
            top = await self.live_leaderboard(stream_id)
        except UnavailableError:
            # The live board is a projection (the all-time board comes from the ledger): the effect must not wait.
            log.warning("live leaderboard unavailable; publishing %d gifts without it", len(transfers))
        counted = [(t.refs["gift_id"], int(t.refs["beans"]), int(t.refs["count"]), t.id) for t in transfers]
        goal = await self.goals.count_many(stream_id, counted)
        for n, transfer in enumerate(transfers):
            if n and n % PUBLISH_SLICE == 0:
                await asyncio.sleep(0)  # a relay batch of hundreds does not hold the event loop in one piece
            refs = transfer.refs
            sender_id = refs["sender_id"]
            gift = await self._gift_of(refs)
            extra: dict[str, Any] = {
                "sender": {"id": sender_id, "nickname": refs.get("sender_nickname")},
                "gift": gift.public(),
                "effect": gift.effect.to_dict(),
                "goal": goal.to_dict() if goal else None,  # after these gifts, if they moved it
            }
            if refs.get("message"):
                extra["message"] = refs["message"]
            extra.update(_battle_of(refs))
            if top is not None:
                extra["leaderboard"] = top
            await self._events.publish(
                GiftSent(
                    transfer_id=transfer.id,
                    stream_id=stream_id,
                    sender_id=sender_id,
                    streamer_id=refs["streamer_id"],
                    gift_id=refs["gift_id"],
                    count=int(refs["count"]),
                    coins=int(refs["coins"]),
                    beans=int(refs["beans"]),
                    combo=int(refs["combo"]),
                    at=transfer.created_at,
                    extra=extra,
                )
            )
        if top is None:
            return
        badges = tuple(row["user_id"] for row in top[:TOP_BADGES])
        if self._top_cache.get(stream_id) != badges:
            self._top_cache[stream_id] = badges
            if len(self._top_cache) > 10_000:
                self._top_cache.pop(next(iter(self._top_cache)))
            await self._events.publish(TopGiftersChanged(stream_id, badges))

    async def live_leaderboard(self, stream_id: str, n: int = LEADERBOARD_SIZE) -> list[dict[str, Any]]:
        rows = await self._live.top(stream_id, n)
        return await self._named(rows)

    async def all_time_leaderboard(self, streamer_id: str, n: int = LEADERBOARD_SIZE) -> list[dict[str, Any]]:
        """From the ledger (the source of truth), not from a projection."""
        match = {"streamer_id": streamer_id}
        rows = await self._wallet.totals_by(TransferKind.GIFT, match, "sender_id", "coins", 10 * n)
        undone = await self._wallet.totals_by(TransferKind.REVERSAL, match, "sender_id", "coins", 10 * n)
        minus = {user: total for user, total, _ in undone}
        net = [(user, total - minus.get(user, 0)) for user, total, _ in rows]
        ranked = sorted((r for r in net if r[1] > 0), key=lambda r: (-r[1], r[0]))[:n]
        return await self._named(ranked)

    async def _named(self, rows: list[tuple[str, int]]) -> list[dict[str, Any]]:
        """Leaderboard rows with nicknames (cached for ``NICKNAME_TTL_S``: the board is redrawn on every gift)."""
        now = time.monotonic()
        missing = [UserId(u) for u, _ in rows if self._nicknames.get(u, (None, 0.0))[1] <= now]
        if missing:
            for user_id, user in (await self._accounts.get_users(missing)).items():
                self._nicknames[user_id] = (user.nickname, now + NICKNAME_TTL_S)
            while len(self._nicknames) > 50_000:
                self._nicknames.pop(next(iter(self._nicknames)))
        return [
            {"rank": i + 1, "user_id": user, "nickname": self._nicknames.get(user, (None, 0.0))[0], "coins": coins}
            for i, (user, coins) in enumerate(rows)
        ]


def _battle_of(refs: Mapping[str, Any]) -> dict[str, Any]:
    """``{"battle": {id, side, beans}}`` for a gift sent during a PK battle (the battle counts it), else nothing."""
    if not refs.get("battle_id"):
        return {}
    return {"battle": {"id": refs["battle_id"], "side": refs["battle_side"], "beans": int(refs["beans"])}}
