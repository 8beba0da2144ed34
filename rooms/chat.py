"""Chat: validate, check restrictions and room settings, store, fan out. Reading history for joins and the HTTP API."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from accounts.models import Role
from accounts.service import AccountService
from core.clock import Clock, as_utc
from core.errors import ForbiddenError, InvalidInputError, RateLimitedError, UnauthenticatedError, UnavailableError
from core.ids import StreamId, UserId, new_id
from core.pagination import Page, clamp_limit, decode_time_cursor, encode_cursor
from core.ratelimit import Rate, RateLimiter
from core.text import CHAT_TEXT
from rooms.access import badges, role_of_user
from rooms.chat_models import ChatMessage, Restriction, RoomSettings
from rooms.errors import StreamEndedError
from rooms.live_state import RECENT_MAX, LiveState
from rooms.models import Stream, StreamStatus
from rooms.notify import NullNotifier, RoomNotifier
from rooms.settings import DEFAULTS
from rooms.store_chat import ChatStore
from rooms.streams import StreamService
from rooms.terms import find_blocked

TEXT_MAX = CHAT_TEXT.max_chars
ROOM_CACHE_S = 1.0
ROOM_CACHE_MAX = 10_000
_MENTION = re.compile(r"@(\w{2,32})", re.UNICODE)
MENTIONS_MAX = 5


class RestrictedError(ForbiddenError):
    code = "restricted"


class SlowModeError(RateLimitedError):
    code = "slow_mode"


class FollowersOnlyError(ForbiddenError):
    code = "followers_only"


class SubscribersOnlyError(ForbiddenError):
    code = "subscribers_only"


class AccountTooNewError(ForbiddenError):
    code = "account_too_new"


class BlockedTermError(InvalidInputError):
    code = "blocked_term"


@dataclass(frozen=True, slots=True)
class Speaker:
    """Who is talking, as the edge knows them from the connection (no database read per message)."""

    user_id: UserId
    nickname: str
    role: Role
    created_at: datetime
    sub_months: int = 0  # a subscriber of the channel (months count), as the use case read it; 0: not one


@dataclass(frozen=True, slots=True)
class ChatLimits:
    # per user, every room together; the default is the settings' (rooms/settings.py)
    rate: Rate = field(default_factory=lambda: Rate(burst=DEFAULTS.chat_burst, per_second=DEFAULTS.chat_per_second))


def clean_chat_text(text: str) -> str:
    """The shared text policy (``core.text``): one line, 1 to 500 characters as people count them."""
    return CHAT_TEXT.clean(text)


class ChatService:
    def __init__(
        self,
        store: ChatStore,
        live: LiveState,
        streams: StreamService,
        accounts: AccountService,
        limiter: RateLimiter,
        clock: Clock,
        limits: ChatLimits | None = None,
        notifier: RoomNotifier | None = None,
    ) -> None:
        self._store = store
        self._live = live
        self._streams = streams
        self._accounts = accounts
        self._limiter = limiter
        self._clock = clock
        self._limits = limits or ChatLimits()
        self.notifier: RoomNotifier = notifier or NullNotifier()
        self._room_cache: dict[str, tuple[float, Stream, RoomSettings]] = {}

    # Settings and restrictions (shared with moderation)
    async def settings(self, stream_id: str) -> RoomSettings:
        return RoomSettings.from_doc(stream_id, await self._store.get_settings(stream_id))

    async def _room(self, stream_id: StreamId) -> tuple[Stream, RoomSettings]:
        """The stream and its settings for the send path, cached on this node for ``ROOM_CACHE_S``: two database
        reads fewer per message. Changes made here forget the entry at once; changes made on other nodes arrive
        as ``room:settings`` / ``stream:ended`` room events, which the hub wires to ``forget_room``."""
        now = self._clock.monotonic()
        hit = self._room_cache.get(stream_id)
        if hit is not None and hit[0] > now:
            return hit[1], hit[2]
        stream = await self._streams.get(stream_id)
        settings = await self.settings(stream_id)
        if len(self._room_cache) >= ROOM_CACHE_MAX:
            self._room_cache.clear()
        self._room_cache[stream_id] = (now + ROOM_CACHE_S, stream, settings)
        return stream, settings

    async def screen_gift_message(self, stream_id: str, text: str) -> None:
        """A gift's message follows the room's blocked terms like chat does (``blocked_term``), for everyone: it is
        drawn on the stream's overlays, which moderators cannot take back."""
        settings = await self.settings(stream_id)
        if find_blocked(text, settings.effective().blocked_terms) is not None:
            raise BlockedTermError("the gift message contains a blocked term", field="message")

    def forget_room(self, stream_id: str) -> None:
        self._room_cache.pop(stream_id, None)

    async def restriction(self, stream: Stream, user_id: str) -> Restriction | None:
        doc = await self._store.get_restriction(stream.owner_id, user_id)
        if doc is None:
            return None
        r = Restriction.from_doc(doc)
        return r if r.active(self._clock.now()) else None

    async def send(
        self,
        stream_id: StreamId,
        speaker: Speaker | None,
        text: str,
        client_id: str | None = None,
        emotes: tuple[tuple[str, str], ...] = (),
        *,
        highlighted: bool = False,
    ) -> ChatMessage:
        """``emotes``: the channel's emotes the text uses that the speaker may show (subscribers only)."""
        if speaker is None:
            raise UnauthenticatedError("log in to chat")
        text = clean_chat_text(text)
        wait = await self._limiter.hit(f"chat:{speaker.user_id}", self._limits.rate)
        if wait:
            raise RateLimitedError("you are sending messages too fast", retry_after_s=wait)
        stream, settings = await self._room(stream_id)
        if stream.status is StreamStatus.ENDED:
            raise StreamEndedError("this stream has ended")
        restriction = await self.restriction(stream, speaker.user_id)  # never cached: a ban holds at once
        if restriction is not None:
            raise RestrictedError(
                "you cannot chat in this room right now",
                kind=restriction.kind,
                until=restriction.until.isoformat() if restriction.until else None,
            )
        role = role_of_user(stream, speaker.user_id, speaker.role)
        if not role.can_moderate:
            await self._check_settings(stream, speaker, settings.effective(), text)
        mentions = await self._mentions(stream_id, text)
        msg = ChatMessage(
            id=new_id(),
            stream_id=stream_id,
            user_id=speaker.user_id,
            nickname=speaker.nickname,
            text=text,
            at=self._clock.now(),
            badges=badges(stream, speaker.user_id, speaker.role, settings.top_gifters, speaker.sub_months),
            mentions=mentions,
            client_id=client_id,
            sub_months=speaker.sub_months,
            emotes=emotes,
            highlighted=highlighted,
        )
        await self._store.insert_message(msg.to_doc())
        wire = msg.to_dict()
        await self.notifier.chat(stream_id, wire)  # fan-out first: under load every await costs a loop iteration
        await self._live.push_recent(stream_id, json.dumps(wire, separators=(",", ":")))
        return msg

    async def _check_settings(self, stream: Stream, speaker: Speaker, settings: RoomSettings, text: str) -> None:
        term = find_blocked(text, settings.blocked_terms)
        if term is not None:
            raise BlockedTermError("the message contains a blocked term")
        if settings.subscribers_only and not speaker.sub_months:
            raise SubscribersOnlyError("only the channel's subscribers can chat here")
        now = self._clock.now()
        if settings.min_account_age_s and speaker.created_at > now - timedelta(seconds=settings.min_account_age_s):
            raise AccountTooNewError(
                "your account is too new to chat here", min_account_age_s=settings.min_account_age_s
            )
        if settings.followers_only_min_s is not None:
            since = await self._accounts.followed_since(speaker.user_id, stream.owner_id)
            if since is None or since > now - timedelta(seconds=settings.followers_only_min_s):
                raise FollowersOnlyError("only followers can chat here", min_follow_s=settings.followers_only_min_s)
        if settings.slow_s:
            wait = await self._limiter.hit(
                f"slow:{stream.id}:{speaker.user_id}", Rate(burst=1, per_second=1 / settings.slow_s)
            )
            if wait:
                raise SlowModeError(f"slow mode: one message every {settings.slow_s} s", retry_after_s=wait)

    async def _mentions(self, stream_id: str, text: str) -> tuple[tuple[str, str], ...]:
        names = list(dict.fromkeys(m.lower() for m in _MENTION.findall(text)))[:MENTIONS_MAX]
        if not names:
            return ()
        found = await self._live.find_nicknames(stream_id, names)
        original = {m.lower(): m for m in _MENTION.findall(text)}
        return tuple((found[n], original[n]) for n in names if n in found)

    async def recent(self, stream_id: str, limit: int = RECENT_MAX) -> list[dict[str, Any]]:
        """The newest messages, oldest first (as a chat view shows them)."""
        try:
            items = await self._live.recent(stream_id, limit)
        except UnavailableError:  # the shared cache is away: read the database instead
            docs = await self._store.page_messages(stream_id, None, limit, include_removed=False)
            return [ChatMessage.from_doc(d).to_dict() for d in reversed(docs)]
        return [json.loads(i) for i in reversed(items)]

    async def rebuild_recent(self, stream_id: str) -> None:
        docs = await self._store.page_messages(stream_id, None, RECENT_MAX, include_removed=False)
        items = [json.dumps(ChatMessage.from_doc(d).to_dict(), separators=(",", ":")) for d in docs]
        await self._live.replace_recent(stream_id, items)

    async def history(
        self, stream_id: StreamId, *, cursor: str | None, limit: int | None, include_removed: bool = False
    ) -> Page:
        """Stored messages, newest first, with cursor pagination."""
        await self._streams.get(stream_id)
        n = clamp_limit(limit, default=50)
        after = decode_page_cursor(cursor)
        docs = await self._store.page_messages(stream_id, after, n + 1, include_removed=include_removed)
        items = []
        for d in docs[:n]:
            item = ChatMessage.from_doc(d).to_dict()
            if include_removed:
                item["deleted"] = bool(d.get("deleted"))
                item["cleared"] = bool(d.get("cleared"))
            items.append(item)
        return Page(items, page_cursor(docs, n))

    async def set_top_gifters(self, stream_id: str, user_ids: tuple[str, ...]) -> None:
        """Who wears the top-gifter badge in the stream's chat (from gifts' ``TopGiftersChanged``)."""
        await self._store.set_settings(stream_id, top_gifters=list(user_ids)[:10])
        self.forget_room(stream_id)

    async def remember_nickname(self, stream_id: str, nickname: str, user_id: str) -> None:
        await self._live.put_nickname(stream_id, nickname, user_id)


def decode_page_cursor(cursor: str | None) -> tuple[datetime, str] | None:
    if not cursor:
        return None
    return decode_time_cursor(cursor)


def page_cursor(docs: list[dict[str, Any]], n: int) -> str | None:
    if len(docs) <= n:
        return None
    last = docs[n - 1]
    return encode_cursor([as_utc(last["at"]).isoformat(), last["_id"]])
