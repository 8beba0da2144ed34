"""Achievements follow from the facts: a streak needs consecutive days, hours count whole hours, firsts need one."""

from __future__ import annotations

from loyalty.achievements import Facts, compute, longest_streak


def facts(**overrides: object) -> Facts:
    base: dict[str, object] = {
        "gifts_sent": 0,
        "follows": 0,
        "chat_messages": 0,
        "redemptions": 0,
        "watch_seconds": 0,
        "watch_days": (),
    }
    return Facts(**(base | overrides))  # type: ignore[arg-type]


def unlocked(f: Facts) -> set[str]:
    return {a.id for a in compute(f) if a.unlocked}


def test_nothing_is_unlocked_without_facts() -> None:
    assert unlocked(facts()) == set()


def test_firsts_unlock_with_one_fact_each() -> None:
    f = facts(gifts_sent=1, follows=2, chat_messages=1, redemptions=1)
    assert unlocked(f) == {"first_gift", "first_follow", "first_words", "first_redemption"}


def test_a_ten_day_streak_needs_ten_consecutive_days() -> None:
    nine = tuple(f"2026-03-{d:02d}" for d in range(1, 10))
    gap = (*nine, "2026-03-11")  # the 10th is missing: two runs of 9 and 1
    ten = (*nine, "2026-03-10")
    assert longest_streak(gap) == 9 and "watch_streak_10" not in unlocked(facts(watch_days=gap))
    assert longest_streak(ten) == 10 and "watch_streak_10" in unlocked(facts(watch_days=ten))
    across_months = tuple(f"2026-02-{d}" for d in (24, 25, 26, 27, 28)) + tuple(f"2026-03-0{d}" for d in range(1, 6))
    assert longest_streak(across_months) == 10


def test_hours_watched_count_whole_hours_and_progress_is_capped_at_the_target() -> None:
    almost = {a.id: a for a in compute(facts(watch_seconds=10 * 3600 - 1))}
    assert not almost["hours_watched_10"].unlocked and almost["hours_watched_10"].progress == 9
    done = {a.id: a.to_dict() for a in compute(facts(watch_seconds=250 * 3600))}
    assert done["hours_watched_10"]["unlocked"] and done["hours_watched_100"]["progress"] == 100
