"""The go-live fan-out job: batched, resumable from its cursor by another node after a crash (its lease runs out),
each follower's notification written once, muted followers skipped."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from typing import Any

import pytest

from accounts.passwords import PasswordHasher
from accounts.service import AccountService, LoginLimits
from accounts.store import AccountStore
from accounts.tokens import AccessTokenCodec
from core.clock import ManualClock
from core.events import StreamStarted
from core.ids import UserId
from core.ratelimit import InProcessRateLimiter, Rate
from notifications.fanout import GoLiveFanout
from notifications.settings import NotificationsSettings
from notifications.store import NotificationStore


class Crashing:
    """Records what each user was told; raises (a node dying mid-step) at the ``crash_at``-th message."""

    def __init__(self, crash_at: int | None = None) -> None:
        self.told: Counter[str] = Counter()
        self.calls = 0
        self.crash_at = crash_at

    async def to_user(self, user_id: str, event: str, payload: dict[str, Any]) -> None:
        self.calls += 1
        if self.crash_at is not None and self.calls == self.crash_at:
            raise ConnectionError("the node died")
        self.told[user_id] += 1


@pytest.fixture
async def parts(database: Any) -> Any:
    clock = ManualClock()
    account_store = AccountStore(database)
    accounts = AccountService(
        account_store,
        PasswordHasher(4),
        AccessTokenCodec("k" * 40, 900, 30),
        clock,
        InProcessRateLimiter(clock),
        LoginLimits(Rate(5, 1.0), Rate(20, 4.0)),
        3600,
    )
    store = NotificationStore(database)
    await store.create_indexes()
    await account_store.create_indexes()
    return clock, accounts, store, account_store


async def test_a_fanout_cut_off_by_a_crash_is_finished_by_another_node_from_its_cursor(parts: Any) -> None:
    clock, accounts, store, follows = parts
    streamer, _ = await accounts.register(email="s@example.com", password="correct horse", nickname="Star")
    followers = [f"u{i:03d}" for i in range(25)]
    for f in followers:
        await follows.insert_follow(f, streamer.id, clock.now())
    settings = NotificationsSettings(batch_size=10, lease_s=30.0, poll_s=1.0)
    await store.mute("u007", streamer.id, clock.now())
    first = Crashing(crash_at=14)  # the 5th follower of the second batch
    a = GoLiveFanout(store, accounts, first, clock, settings, owner="node-a")
    await a.stream_started(StreamStarted("st1", streamer.id, clock.now(), "Night run"))

    with pytest.raises(ConnectionError):
        await a.run_once()
    # Node a is gone without a word: its lease holds the job, so node b waits ...
    second = Crashing()
    b = GoLiveFanout(store, accounts, second, clock, settings, owner="node-b")
    assert await b.run_once() is False
    job = await store.get_job("live:st1")
    assert job["cursor"] == "u009" and not job["done"]  # the first batch is done, the second is not
    # ... until the lease runs out; then b continues from the cursor, not from the start.
    clock.advance(31)
    assert await b.run_once() is True
    job = await store.get_job("live:st1")
    assert job["done"] and job["cursor"] == "u024"
    assert set(second.told) == set(followers[10:]) and max(second.told.values()) == 1
    told = first.told + second.told
    assert set(told) == set(followers) - {"u007"}
    # At most the step in flight is repeated (its in-app events carry the same ids); notifications exist once each.
    assert {u for u, n in told.items() if n > 1} <= set(followers[10:20])
    for f in followers:
        page = await store.page_notifications(f, None, 10)
        assert len(page) == (0 if f == "u007" else 1), f
    assert await b.run_once() is False  # nothing left


async def test_a_stream_going_live_twice_is_fanned_out_once(parts: Any) -> None:
    clock, accounts, store, follows = parts
    streamer, _ = await accounts.register(email="s2@example.com", password="correct horse", nickname="Star")
    await follows.insert_follow("fan", streamer.id, clock.now())
    told = Crashing()
    fanout = GoLiveFanout(store, accounts, told, clock, NotificationsSettings(), owner="n")
    event = StreamStarted("st2", streamer.id, clock.now(), "t")
    await fanout.stream_started(event)
    await fanout.stream_started(event)
    assert await fanout.run_once() is True
    assert await fanout.run_once() is False
    assert told.told == Counter({"fan": 1})
    assert await accounts.followers_after(UserId(streamer.id), None, 10) == ["fan"]
    clock.advance(timedelta(days=1).total_seconds())
    assert await store.count_open_jobs() == 0
