"""The points ledger keeps the coins ledger's invariants: each entry applies once, guarded debits never overspend,
caps hold under concurrency, crashes are finished by the reconciler, and verify catches a tampered balance."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from core.errors import InvalidInputError
from loyalty.errors import InsufficientPointsError, RedemptionStateError, RewardCooldownError
from loyalty.models import EntryKind, EntrySpec, EntryState, RedemptionStatus, RewardKind
from loyalty.settings import LoyaltySettings
from loyalty.verify import verify_points
from tests.support.points import Points, make_points

CH, ALICE, BOB = "streamer1", "alice", "bob"


class Crash(Exception):
    pass


async def earn(points: Points, viewer: str, amount: int, key: str) -> None:
    entry = await points.ledger.execute(EntrySpec(key, EntryKind.FOLLOW, CH, viewer, amount))
    assert entry.state is EntryState.SETTLED


async def test_an_entry_applies_once_however_often_it_is_replayed(points: Points) -> None:
    for _ in range(3):
        await points.earning.follow(CH, ALICE)
    assert await points.ledger.balance(CH, ALICE) == 50
    report = await verify_points(points.store)
    assert report.ok, report.problems
    assert report.totals["points_earned"] == report.totals["points_held"] == 50


async def test_a_viewer_earns_nothing_in_their_own_channel(points: Points) -> None:
    assert await points.earning.follow(CH, CH) is None
    assert await points.earning.watch(CH, CH, "s1") is None
    assert await points.earning.watch(CH, "g:guest", "s1") is None


async def test_watch_points_hold_the_hourly_cap(database: Any) -> None:
    points = await make_points(database, LoyaltySettings(watch_interval_s=60, watch_points=10, watch_cap_per_hour=30))
    for _ in range(6):
        await points.earning.watch(CH, ALICE, "s1")
        points.clock.advance(60)
    assert await points.ledger.balance(CH, ALICE) == 30
    points.clock.advance(3600)  # a new clock hour: the cap starts again
    await points.earning.watch(CH, ALICE, "s1")
    assert await points.ledger.balance(CH, ALICE) == 40
    assert (await verify_points(points.store)).ok


async def test_concurrent_chat_earnings_never_pass_the_cap(database: Any) -> None:
    points = await make_points(database, LoyaltySettings(chat_points=1, chat_cap_per_hour=7))
    await asyncio.gather(*(points.earning.chat(CH, ALICE, f"m{i}", "s1") for i in range(40)))
    assert await points.ledger.balance(CH, ALICE) == 7
    report = await verify_points(points.store)
    assert report.ok, report.problems


async def test_concurrent_redemptions_never_overspend(points: Points) -> None:
    await earn(points, ALICE, 100, "seed:1")
    reward = await points.rewards.create(CH, RewardKind.REQUEST, "Sing a song", 30)
    results = await asyncio.gather(
        *(points.rewards.redeem(CH, ALICE, "Alice", reward.id, f"key-{i:06d}", text="hi") for i in range(25)),
        return_exceptions=True,
    )
    paid = [r for r in results if not isinstance(r, BaseException)]
    short = [r for r in results if isinstance(r, InsufficientPointsError)]
    assert len(paid) == 3 and len(short) == 22
    assert await points.ledger.balance(CH, ALICE) == 10
    queue = await points.rewards.queue(CH, [RedemptionStatus.UNFULFILLED], limit=50)
    assert len(queue) == 3
    assert (await verify_points(points.store)).ok


async def test_a_replayed_redemption_pays_once(points: Points) -> None:
    await earn(points, ALICE, 100, "seed:1")
    reward = await points.rewards.create(CH, RewardKind.REQUEST, "Hydrate", 40)
    first = await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "same-key-1", text="drink")
    again = await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "same-key-1", text="drink")
    assert first.id == again.id and await points.ledger.balance(CH, ALICE) == 60


async def test_the_global_cooldown_holds_for_everyone(points: Points) -> None:
    await earn(points, ALICE, 100, "seed:1")
    await earn(points, BOB, 100, "seed:2")
    reward = await points.rewards.create(CH, RewardKind.SOUND, "Airhorn", 10, cooldown_s=60)
    results = await asyncio.gather(
        *(points.rewards.redeem(CH, v, v, reward.id, f"k-{v}-{i:04d}") for i in range(5) for v in (ALICE, BOB)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert sum(isinstance(r, RewardCooldownError) for r in results) == 9
    points.clock.advance(61)
    await points.rewards.redeem(CH, BOB, "bob", reward.id, "k-after-cooldown")
    assert await points.ledger.balance(CH, ALICE) + await points.ledger.balance(CH, BOB) == 180


async def test_the_per_viewer_cooldown_holds_and_an_unpaid_attempt_hands_it_back(points: Points) -> None:
    await earn(points, ALICE, 25, "seed:1")
    reward = await points.rewards.create(CH, RewardKind.REQUEST, "Pick a game", 20, user_cooldown_s=300)
    expensive = await points.rewards.create(CH, RewardKind.REQUEST, "Big one", 1000, user_cooldown_s=300)
    with pytest.raises(InsufficientPointsError):
        await points.rewards.redeem(CH, ALICE, "Alice", expensive.id, "k-expensive", text="x")
    await earn(points, ALICE, 1100, "seed:2")
    await points.rewards.redeem(CH, ALICE, "Alice", expensive.id, "k-expensive-2", text="x")  # no cooldown was kept
    await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "k-first-one", text="chess")
    with pytest.raises(RewardCooldownError) as raised:
        await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "k-second-one", text="go")
    assert 299 <= raised.value.retry_after_s <= 300
    points.clock.advance(301)
    await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "k-third-one", text="go")


async def test_a_refund_restores_the_points_once(points: Points) -> None:
    await earn(points, ALICE, 100, "seed:1")
    reward = await points.rewards.create(CH, RewardKind.REQUEST, "Shout-out", 70)
    r = await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "k-shout-1", text="me")
    assert await points.ledger.balance(CH, ALICE) == 30
    refunded = await asyncio.gather(
        *(points.rewards.refund(CH, r.id, "streamer1") for _ in range(5)), return_exceptions=True
    )
    assert sum(not isinstance(x, BaseException) for x in refunded) == 1
    assert all(isinstance(x, RedemptionStateError) for x in refunded if isinstance(x, BaseException))
    assert await points.ledger.balance(CH, ALICE) == 100
    with pytest.raises(RedemptionStateError):
        await points.rewards.fulfil(CH, r.id, "streamer1")
    report = await verify_points(points.store)
    assert report.ok and report.totals["points_refunded"] == 70


@pytest.mark.parametrize("step", ["inserted", "leg", "applied", "released"])
async def test_a_crash_anywhere_in_an_entry_is_finished_once_by_the_reconciler(points: Points, step: str) -> None:
    async def crash(eid: str, at: str) -> None:
        if at == step and eid.startswith("follow"):
            raise Crash(at)

    points.ledger.set_step_hook(crash)
    with pytest.raises(Crash):
        await points.earning.follow(CH, ALICE)
    points.ledger.set_step_hook(None)
    assert not (await verify_points(points.store)).ok  # in flight
    await points.reconciler.run_once(ignore_leases=True)
    await points.earning.follow(CH, ALICE)  # the viewer follows again: nothing more
    assert await points.ledger.balance(CH, ALICE) == 50
    report = await verify_points(points.store)
    assert report.ok, report.problems


@pytest.mark.parametrize("step", ["inserted", "leg", "applied"])
async def test_a_redemption_interrupted_by_a_crash_is_settled_by_the_reconciler(points: Points, step: str) -> None:
    await earn(points, ALICE, 100, "seed:1")
    reward = await points.rewards.create(CH, RewardKind.REQUEST, "Song", 60)

    async def crash(eid: str, at: str) -> None:
        if at == step and eid.startswith("redeem"):
            raise Crash(at)

    points.ledger.set_step_hook(crash)
    with pytest.raises(Crash):
        await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "k-crashing", text="x")
    points.ledger.set_step_hook(None)
    points.clock.advance(60)
    await points.reconciler.run_once()
    queue = await points.rewards.queue(CH, [RedemptionStatus.UNFULFILLED], limit=10)
    assert [q.id for q in queue] == [f"redeem:{CH}:{ALICE}:k-crashing"]
    assert await points.ledger.balance(CH, ALICE) == 40
    assert (await verify_points(points.store)).ok


async def test_verify_detects_a_tampered_points_balance(points: Points) -> None:
    await earn(points, ALICE, 100, "seed:1")
    assert (await verify_points(points.store)).ok
    await points.store.set_balance_for_test(f"points:{CH}:{ALICE}", 1_000_000)
    report = await verify_points(points.store)
    assert not report.ok
    assert any("balance 1000000 but the ledger says 100" in p for p in report.problems)


async def test_a_reward_needs_valid_fields_and_a_request_needs_text(points: Points) -> None:
    with pytest.raises(InvalidInputError):
        await points.rewards.create(CH, RewardKind.REQUEST, "", 10)
    with pytest.raises(InvalidInputError):
        await points.rewards.create(CH, RewardKind.REQUEST, "ok", 0)
    reward = await points.rewards.create(CH, RewardKind.REQUEST, "ok", 1)
    with pytest.raises(InvalidInputError):
        await points.rewards.redeem(CH, ALICE, "Alice", reward.id, "k-no-text-1", text="  ")


async def test_watching_two_channels_at_once_earns_in_both_but_counts_the_time_once(points: Points) -> None:
    for _ in range(3):
        await points.earning.watch(CH, ALICE, "s1")
        await points.earning.watch("streamer2", ALICE, "s2")
        await points.earning.watch(CH, ALICE, "s1")  # another node sampling the same bucket
        points.clock.advance(60)
    assert await points.ledger.balance(CH, ALICE) == await points.ledger.balance("streamer2", ALICE) == 6
    assert await points.store.watch_seconds(ALICE) == 180
    assert await points.store.watch_days(ALICE, limit=5) == [("2026-03-02", 180)]
