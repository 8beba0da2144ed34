"""The battle state machine: steps, deadlines and results, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from battles import machine
from battles.errors import BattleStateError
from battles.models import Battle, BattleState, EndReason, Side

T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
A = Side("u-a", "s-a", "Ann")
B = Side("u-b", "s-b", "Bob")


def invited() -> Battle:
    return machine.invite("pk1", A, B, T0, invite_ttl_s=30)


def test_an_accepted_invitation_runs_for_the_duration_and_each_step_bumps_the_version() -> None:
    battle = machine.accept(invited(), T0 + timedelta(seconds=5), duration_s=300)
    assert battle.state is BattleState.LIVE and battle.version == 2
    assert battle.ends_at == T0 + timedelta(seconds=305) == battle.due_at
    assert machine.step_due(battle, T0 + timedelta(seconds=304)) is None
    assert machine.step_due(battle, T0 + timedelta(seconds=305)) == "finish"


def test_the_higher_score_wins_at_the_end_and_equal_scores_are_a_draw() -> None:
    live = machine.accept(invited(), T0, duration_s=300)
    end = T0 + timedelta(seconds=300)
    won = machine.finish(live, end, 120, 80, after_s=30)
    assert won.state is BattleState.AFTER and won.result is not None
    assert won.result.winner == "a" and won.result.reason is EndReason.TIME
    assert (won.a.score, won.b.score) == (120, 80)
    assert won.closes_at == end + timedelta(seconds=30) == won.due_at
    assert won.public()["result"]["winner_stream_id"] == "s-a"
    draw = machine.finish(live, end, 50, 50, after_s=30)
    assert draw.result is not None and draw.result.winner is None and draw.public()["result"]["draw"] is True


def test_a_battle_cannot_be_finished_by_time_before_its_end() -> None:
    live = machine.accept(invited(), T0, duration_s=300)
    with pytest.raises(BattleStateError):
        machine.finish(live, T0 + timedelta(seconds=299), 1, 0, after_s=30)


def test_the_side_that_leaves_loses_whatever_the_score() -> None:
    live = machine.accept(invited(), T0, duration_s=300)
    left = machine.finish(live, T0 + timedelta(seconds=10), 500, 0, after_s=30, reason=EndReason.QUIT, by="a")
    assert left.result is not None and left.result.winner == "b" and left.result.by == "a"
    ended = machine.finish(live, T0 + timedelta(seconds=10), 0, 0, after_s=30, reason=EndReason.STREAM_ENDED, by="b")
    assert ended.result is not None and ended.result.winner == "a"


def test_an_invitation_expires_only_after_its_deadline_and_cannot_be_accepted_then() -> None:
    battle = invited()
    with pytest.raises(BattleStateError):
        machine.expire(battle, T0 + timedelta(seconds=29))
    assert machine.step_due(battle, T0 + timedelta(seconds=30)) == "expire"
    assert machine.expire(battle, T0 + timedelta(seconds=30)).state is BattleState.EXPIRED
    with pytest.raises(BattleStateError):
        machine.accept(battle, T0 + timedelta(seconds=31), duration_s=300)


def test_answered_or_closed_battles_take_no_further_steps() -> None:
    declined = machine.decline(invited())
    assert declined.state is BattleState.DECLINED and not declined.active
    for step in (machine.decline, machine.cancel, machine.close):
        with pytest.raises(BattleStateError):
            step(declined)
    live = machine.accept(invited(), T0, duration_s=1)
    closed = machine.close(machine.finish(live, T0 + timedelta(seconds=1), 0, 0, after_s=5))
    assert closed.state is BattleState.CLOSED and closed.due_at is None
    with pytest.raises(BattleStateError):
        machine.finish(closed, T0 + timedelta(days=1), 0, 0, after_s=5)


def test_a_random_match_starts_at_once() -> None:
    battle = machine.matched("pk2", A, B, T0, duration_s=60)
    assert battle.state is BattleState.LIVE and battle.started_at == T0 and battle.ends_at == T0 + timedelta(seconds=60)


def test_a_battle_survives_its_stored_form() -> None:
    live = machine.accept(invited(), T0, duration_s=300).with_scores(7, 9)
    done = machine.finish(live, T0 + timedelta(seconds=300), 7, 9, after_s=30)
    for battle in (invited(), live, done):
        assert Battle.from_doc(battle.to_doc()) == battle
