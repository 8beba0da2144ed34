"""The battle's state machine, pure: a battle and a step in, the next battle out (or ``BattleStateError``).

    invited --accept--> live --time, quit or a stream ended--> after --closes_at--> closed
    invited --decline--> declined;  invited --cancel or a stream ended--> cancelled;  invited --due_at--> expired

A random match starts ``live`` at once (both streamers asked for it). Every step bumps ``version``. Deadlines are
values in the battle (``due_at``), so any node can take the next step after a crash; the store applies a step only
to the version it was computed from, so two nodes never both take it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from battles.errors import BattleStateError
from battles.models import Battle, BattleState, EndReason, Mode, Result, Side


def invite(battle_id: str, a: Side, b: Side, now: datetime, invite_ttl_s: float) -> Battle:
    return Battle(
        id=battle_id,
        state=BattleState.INVITED,
        mode=Mode.INVITE,
        a=a,
        b=b,
        created_at=now,
        due_at=now + timedelta(seconds=invite_ttl_s),
    )


def matched(battle_id: str, a: Side, b: Side, now: datetime, duration_s: float) -> Battle:
    """Two streamers who both asked for a random opponent: the battle starts at once."""
    ends = now + timedelta(seconds=duration_s)
    return Battle(
        id=battle_id,
        state=BattleState.LIVE,
        mode=Mode.RANDOM,
        a=a,
        b=b,
        created_at=now,
        due_at=ends,
        started_at=now,
        ends_at=ends,
    )


def _need(battle: Battle, *states: BattleState) -> None:
    if battle.state not in states:
        raise BattleStateError(f"the battle is {battle.state.value}", state=battle.state.value, battle_id=battle.id)


def accept(battle: Battle, now: datetime, duration_s: float) -> Battle:
    _need(battle, BattleState.INVITED)
    if battle.due_at is not None and now >= battle.due_at:
        raise BattleStateError("the invitation has expired", state=BattleState.EXPIRED.value, battle_id=battle.id)
    ends = now + timedelta(seconds=duration_s)
    return replace(
        battle, state=BattleState.LIVE, started_at=now, ends_at=ends, due_at=ends, version=battle.version + 1
    )


def decline(battle: Battle) -> Battle:
    _need(battle, BattleState.INVITED)
    return replace(battle, state=BattleState.DECLINED, due_at=None, version=battle.version + 1)


def cancel(battle: Battle) -> Battle:
    _need(battle, BattleState.INVITED)
    return replace(battle, state=BattleState.CANCELLED, due_at=None, version=battle.version + 1)


def expire(battle: Battle, now: datetime) -> Battle:
    _need(battle, BattleState.INVITED)
    if battle.due_at is not None and now < battle.due_at:
        raise BattleStateError("the invitation has not expired yet", state=battle.state.value, battle_id=battle.id)
    return replace(battle, state=BattleState.EXPIRED, due_at=None, version=battle.version + 1)


def winner_by_score(score_a: int, score_b: int) -> str | None:
    return "a" if score_a > score_b else "b" if score_b > score_a else None


def finish(
    battle: Battle,
    now: datetime,
    score_a: int,
    score_b: int,
    after_s: float,
    *,
    reason: EndReason = EndReason.TIME,
    by: str | None = None,
) -> Battle:
    """The battle's result with its final scores (recomputed from the ledger by the caller). The countdown decides
    by score (equal scores: a draw); a side that quits or whose stream ends loses, whatever the score."""
    _need(battle, BattleState.LIVE)
    if reason is EndReason.TIME:
        if battle.ends_at is not None and now < battle.ends_at:
            raise BattleStateError("the battle is still running", state=battle.state.value, battle_id=battle.id)
        winner = winner_by_score(score_a, score_b)
    else:
        if by not in ("a", "b"):
            raise ValueError("a battle left early needs the side that left")
        winner = "b" if by == "a" else "a"
    closes = now + timedelta(seconds=after_s)
    done = replace(
        battle,
        state=BattleState.AFTER,
        result=Result(winner, reason, by),
        closes_at=closes,
        due_at=closes,
        version=battle.version + 1,
    )
    return done.with_scores(score_a, score_b)


def close(battle: Battle) -> Battle:
    _need(battle, BattleState.AFTER)
    return replace(battle, state=BattleState.CLOSED, due_at=None, version=battle.version + 1)


def step_due(battle: Battle, now: datetime) -> str | None:
    """Which timed step is due at ``now``: ``"expire"``, ``"finish"``, ``"close"`` or None."""
    if battle.due_at is None or now < battle.due_at:
        return None
    return {BattleState.INVITED: "expire", BattleState.LIVE: "finish", BattleState.AFTER: "close"}.get(battle.state)
