"""ChatService and ModerationService on the in-process parts with a manual clock: time-based rules."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from accounts.models import Principal
from accounts.passwords import PasswordHasher
from accounts.service import AccountService
from accounts.settings import LoginLimits
from accounts.store import AccountStore
from accounts.tokens import AccessTokenCodec
from core.clock import ManualClock
from core.events import InProcessEventBus, UserRestricted
from core.ids import StreamId
from core.ratelimit import InProcessRateLimiter, Rate
from rooms.chat import ChatLimits, ChatService, Speaker
from rooms.chat_models import ModAction
from rooms.live_state import InProcessLiveState
from rooms.moderation import ModerationService, ModRequest
from rooms.presence import PresenceService, PresenceTiming
from rooms.store import StreamStore
from rooms.store_chat import ChatStore
from rooms.streams import StreamService


@dataclass
class Parts:
    clock: ManualClock
    accounts: AccountService
    streams: StreamService
    chat: ChatService
    moderation: ModerationService
    presence: PresenceService
    events: list[Any]


@pytest.fixture
async def parts(database: Any) -> AsyncIterator[Parts]:
    db = database
    clock = ManualClock()
    bus = InProcessEventBus()
    seen: list[Any] = []

    async def record(event: Any) -> None:
        seen.append(event)

    bus.subscribe(UserRestricted, record)
    limiter = InProcessRateLimiter(clock)
    accounts = AccountService(
        AccountStore(db),
        PasswordHasher(4),
        AccessTokenCodec("k" * 40, 900, 30),
        clock,
        limiter,
        LoginLimits(Rate(5, 1.0), Rate(20, 4.0)),
        3600,
    )
    streams = StreamService(StreamStore(db), clock, bus)
    live = InProcessLiveState()
    store = ChatStore(db)
    chat = ChatService(store, live, streams, accounts, limiter, clock, ChatLimits(Rate(100, 100.0)))
    moderation = ModerationService(store, chat, streams, accounts, limiter, clock, bus)
    presence = PresenceService(live, streams, limiter, clock, PresenceTiming(expiry_s=30))
    yield Parts(clock, accounts, streams, chat, moderation, presence, seen)


async def _user(p: Parts, nick: str) -> tuple[Principal, Speaker]:
    user, _ = await p.accounts.register(email=f"{nick}@example.com", password="correct horse", nickname=nick)
    return Principal(user.id, user.role, "s"), Speaker(user.id, user.nickname, user.role, user.created_at)


async def test_a_timeout_ends_on_time_and_is_published_as_a_core_event(parts: Parts) -> None:
    owner, _ = await _user(parts, "Owner")
    viewer, speaker = await _user(parts, "Viewer")
    stream = await parts.streams.create(owner.user_id, title="t")
    await parts.moderation.act(
        stream.id, owner, ModRequest(ModAction.TIMEOUT, target_user_id=viewer.user_id, duration_s=60)
    )
    assert [type(e) for e in parts.events] == [UserRestricted]
    assert parts.events[0].until == parts.clock.now() + timedelta(seconds=60)
    with pytest.raises(Exception, match="cannot chat"):
        await parts.chat.send(stream.id, speaker, "hi")
    parts.clock.advance(61)
    assert (await parts.chat.send(stream.id, speaker, "back")).text == "back"


async def test_a_ban_holds_on_the_owners_next_stream(parts: Parts) -> None:
    owner, _ = await _user(parts, "Owner")
    viewer, speaker = await _user(parts, "Viewer")
    first = await parts.streams.create(owner.user_id, title="one")
    await parts.moderation.act(first.id, owner, ModRequest(ModAction.BAN, target_user_id=viewer.user_id))
    second = await parts.streams.create(owner.user_id, title="two")
    with pytest.raises(Exception, match="cannot chat"):
        await parts.chat.send(second.id, speaker, "new stream, same channel")


async def test_slow_mode_lets_the_next_message_through_after_the_interval(parts: Parts) -> None:
    owner, _ = await _user(parts, "Owner")
    _, speaker = await _user(parts, "Viewer")
    stream = await parts.streams.create(owner.user_id, title="t")
    await parts.moderation.act(stream.id, owner, ModRequest(ModAction.SLOW, value=10))
    await parts.chat.send(stream.id, speaker, "one")
    with pytest.raises(Exception, match="slow mode"):
        await parts.chat.send(stream.id, speaker, "two")
    parts.clock.advance(10)
    await parts.chat.send(stream.id, speaker, "three")


async def test_viewers_of_a_dead_node_age_out(parts: Parts) -> None:
    owner, _ = await _user(parts, "Owner")
    stream = await parts.streams.create(owner.user_id, title="t")
    assert await parts.presence.join(stream.id, "u1") == 1
    assert await parts.presence.join(stream.id, "u1") == 1  # a second tab
    assert await parts.presence.join(stream.id, "g:x") == 2
    await parts.presence.leave(stream.id, "u1")
    assert await parts.presence.count(stream.id) == 2  # one tab still open
    parts.clock.advance(31)  # nobody refreshed them (the node died)
    assert await parts.presence.count(stream.id) == 0
    await parts.presence.heartbeat()  # a live node refreshes its own
    assert await parts.presence.count(stream.id) == 2


async def test_chat_history_pages_newest_first(parts: Parts) -> None:
    owner, speaker = await _user(parts, "Owner")
    stream = await parts.streams.create(owner.user_id, title="t")
    for i in range(5):
        await parts.chat.send(stream.id, speaker, f"m{i}")
        parts.clock.advance(1)
    page = await parts.chat.history(StreamId(stream.id), cursor=None, limit=2)
    assert [m["text"] for m in page.items] == ["m4", "m3"]
    page = await parts.chat.history(StreamId(stream.id), cursor=page.next_cursor, limit=2)
    assert [m["text"] for m in page.items] == ["m2", "m1"]
    page = await parts.chat.history(StreamId(stream.id), cursor=page.next_cursor, limit=2)
    assert [m["text"] for m in page.items] == ["m0"] and page.next_cursor is None
    assert [m["text"] for m in await parts.chat.recent(stream.id)] == ["m0", "m1", "m2", "m3", "m4"]
