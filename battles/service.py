"""Battles: invitations, random matches, the countdown, live scores and the result.

Invariants kept here (who may act is ``app/policy.py``'s, the eligibility of the two streamers ``app/battling.py``'s):
- one invitation or battle per streamer at a time (``pk_slots``, claimed for both sides or neither);
- a gift counts for a battle when the gift's ledger transfer carries the battle's id (``refs.battle_id``, stamped by
  the gift use case while the battle is live); the live score adds each transfer once (``pk_counted``) and the final
  score is recomputed from the ledger (``scores_from_ledger``), so a crash neither loses nor double-counts a gift;
- the live score is added off the gift's ack path, per battle in batches: ``count`` only queues the transfer (a
  transfer this node already counted — the outbox relay's second telling — costs nothing), and one task per battle
  marks everything queued since its last write counted (one insert) and adds it (one ``$inc``), then sends one
  ``pk:score``. A burst of gifts then costs two writes and one event per battle instead of two writes and two
  events per gift (``docs/BENCHMARKS.md`` "PK battles");
- deadlines are stored (``due_at``); every node's timer loop takes the steps that are due, whichever node started
  the battle, and a step is stored only over the version it was computed from (one node wins it).

Every change goes to both streams' rooms as a ``pk:*`` event carrying the whole battle (``Battle.public``) with its
``version``, which grows with every change: a client keeps the highest version it saw (events from two nodes may
cross on the way).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Protocol

from battles import machine
from battles.errors import BattleNotFoundError, BattleStateError, NotInBattleError, StreamerBusyError
from battles.models import Battle, BattleState, EndReason, Side
from battles.settings import BattlesSettings
from battles.store import BattleStore
from core.clock import Clock
from core.ids import new_id
from core.tasks import cancel_and_wait
from wallet.models import TransferKind
from wallet.service import WalletService

log = logging.getLogger(__name__)

#: Between a battle's gifts stopping counting and its result being read from the ledger: gifts whose transfer was
#: stamped just before the end are applied (milliseconds) and so counted.
SETTLE_S = 0.3
#: Partners tried per random-match request before queueing (one that went offline is dropped from the queue).
MATCH_TRIES = 5
STEP_TRIES = 20
#: How many transfer ids this node remembers having counted (the outbox relay tells of a gift moments after its
#: apply did; this covers minutes of a gift storm). The ``pk_counted`` marker decides across nodes and restarts.
COUNTED_REMEMBERED = 100_000
CLOSE_WAIT_S = 2.0

#: The event each step sends to both rooms.
EVENTS = {
    BattleState.INVITED: "pk:invited",
    BattleState.LIVE: "pk:started",
    BattleState.AFTER: "pk:ended",
    BattleState.CLOSED: "pk:closed",
    BattleState.DECLINED: "pk:declined",
    BattleState.CANCELLED: "pk:cancelled",
    BattleState.EXPIRED: "pk:expired",
}
SCORE_EVENT = "pk:score"


class BattleNotifier(Protocol):
    """The room fan-out (``hub`` wires the Socket.IO broadcaster): an event to a stream's room on every node."""

    async def emit(self, stream_id: str, event: str, payload: dict[str, Any]) -> None: ...


#: Whether a queued streamer may still be matched (their stream live, not suspended...): decided by the use case.
Eligible = Callable[[Side], Awaitable[bool]]


class BattleService:
    def __init__(
        self,
        store: BattleStore,
        wallet: WalletService,
        clock: Clock,
        settings: BattlesSettings,
        notifier: BattleNotifier,
    ) -> None:
        self._store = store
        self._wallet = wallet
        self._clock = clock
        self._settings = settings
        self._notifier = notifier
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._seen: OrderedDict[str, None] = OrderedDict()  # transfer ids counted (or being counted) here
        self._tally: dict[str, list[tuple[str, str, int]]] = {}  # battle id -> (transfer id, side, beans) queued
        self._adders: dict[str, asyncio.Task[None]] = {}  # battle id -> the task adding its tally

    @property
    def settings(self) -> BattlesSettings:
        return self._settings

    # Reading
    async def get(self, battle_id: str) -> Battle:
        battle = await self._store.get(battle_id)
        if battle is None:
            raise BattleNotFoundError("no such battle")
        return battle

    async def current(self, stream_id: str) -> Battle | None:
        """The invitation or battle this stream is in now (after-period included), or None."""
        return await self._store.active_for_stream(stream_id)

    async def tag(self, owner_id: str, stream_id: str) -> tuple[str, str] | None:
        """(battle id, side) a gift to this stream counts for right now, or None: one read by the streamer's id."""
        slot = await self._store.live_slot(owner_id, self._clock.now())
        if slot is None or slot[1] != stream_id:
            return None
        return slot[0], slot[2]

    # Invitations
    async def invite(self, a: Side, b: Side) -> Battle:
        battle = machine.invite(new_id(), a, b, self._clock.now(), self._settings.invite_ttl_s)
        busy = await self._store.claim_slots(battle.id, [(a.user_id, a.stream_id, "a"), (b.user_id, b.stream_id, "b")])
        if busy is not None:
            raise StreamerBusyError(
                "you are already in a battle or an invitation" if busy == a.user_id else "that streamer is busy",
                user_id=busy,
            )
        await self._store.dequeue(a.user_id)
        await self._store.dequeue(b.user_id)
        await self._store.insert(battle)
        self._wake.set()
        await self._announce(battle)
        return battle

    async def accept(self, battle_id: str, user_id: str) -> Battle:
        return await self._answer(battle_id, user_id, "b", lambda b: machine.accept(b, self._clock.now(), self._dur))

    async def decline(self, battle_id: str, user_id: str) -> Battle:
        return await self._answer(battle_id, user_id, "b", machine.decline)

    async def cancel(self, battle_id: str, user_id: str) -> Battle:
        return await self._answer(battle_id, user_id, "a", machine.cancel)

    @property
    def _dur(self) -> float:
        return self._settings.duration_s

    async def _answer(self, battle_id: str, user_id: str, side: str, step: Callable[[Battle], Battle]) -> Battle:
        battle = await self.get(battle_id)
        if battle.side_of_user(user_id) != side:
            raise NotInBattleError(
                "only the invited streamer can answer" if side == "b" else "only the inviting streamer can cancel"
            )
        if battle.state is BattleState.INVITED and machine.step_due(battle, self._clock.now()) == "expire":
            await self.advance(battle_id)
            raise BattleStateError("the invitation has expired", state=BattleState.EXPIRED.value, battle_id=battle_id)
        return await self._step(battle_id, step)

    async def quit(self, battle_id: str, user_id: str) -> Battle:
        """A streamer leaves: an open invitation is withdrawn (side a) or declined (side b); a running battle ends
        and the side that left loses; in the after-period the battle closes for both."""
        battle = await self.get(battle_id)
        side = battle.side_of_user(user_id)
        if side is None:
            raise NotInBattleError("you are not in this battle")
        return await self._leave(battle, side, EndReason.QUIT)

    async def stream_ended(self, stream_id: str) -> Battle | None:
        """A side's stream ended (by its owner, staff, or its publisher gone past the grace): its battle ends with
        that side losing; an open invitation is cancelled; a queued random match is dropped."""
        await self._store.dequeue_stream(stream_id)
        battle = await self._store.active_for_stream(stream_id)
        if battle is None:
            return None
        side = battle.side_of_stream(stream_id)
        assert side is not None
        return await self._leave(battle, side, EndReason.STREAM_ENDED)

    async def _leave(self, battle: Battle, side: str, reason: EndReason) -> Battle:
        if battle.state is BattleState.INVITED:
            return await self._step(battle.id, machine.cancel if side == "a" else machine.decline)
        if battle.state is BattleState.LIVE:
            return await self._finish(battle.id, reason=reason, by=side)
        if battle.state is BattleState.AFTER:
            return await self._step(battle.id, machine.close)
        raise BattleStateError(f"the battle is {battle.state.value}", state=battle.state.value, battle_id=battle.id)

    # Random match
    async def match(self, me: Side, eligible: Eligible) -> Battle | None:
        """Battle the longest-waiting other streamer in the queue at once, or queue ``me`` (None) for
        ``match_wait_s``; whoever asks next is matched with me (``pk:started`` reaches my room then)."""
        now = self._clock.now()
        for _ in range(MATCH_TRIES):
            partner = await self._store.take_partner(me.user_id, now)
            if partner is None:
                break
            other = Side(str(partner["_id"]), str(partner["stream_id"]), partner.get("nickname"))
            if other.stream_id == me.stream_id or not await eligible(other):
                continue
            battle = machine.matched(new_id(), other, me, now, self._dur)
            holders = [(me.user_id, me.stream_id, "b"), (other.user_id, other.stream_id, "a")]
            busy = await self._store.claim_slots(battle.id, holders)
            if busy == me.user_id:
                await self._store.enqueue(other.user_id, other.stream_id, other.nickname, now, _until(partner, now))
                raise StreamerBusyError("you are already in a battle or an invitation", user_id=me.user_id)
            if busy is not None:
                continue  # the partner was invited meanwhile: next
            await self._store.dequeue(me.user_id)
            await self._store.insert(battle)
            await self._store.mark_slots_live(battle.id, list(battle.user_ids), battle.ends_at)
            self._wake.set()
            await self._announce(battle)
            return battle
        if await self._store.active_for_stream(me.stream_id) is not None:
            raise StreamerBusyError("you are already in a battle or an invitation", user_id=me.user_id)
        until = now + timedelta(seconds=self._settings.match_wait_s)
        await self._store.enqueue(me.user_id, me.stream_id, me.nickname, now, until)
        return None

    async def cancel_match(self, user_id: str) -> bool:
        return await self._store.dequeue(user_id)

    # Scores
    async def count(self, transfer_id: str, battle_id: str, side: str, beans: int) -> None:
        """A gift's beans on its side's live score, once per transfer (the apply and the outbox relay both call):
        queued for the battle's adder task, which writes it within moments (``scores_added`` waits for that)."""
        if beans <= 0 or side not in ("a", "b") or transfer_id in self._seen:
            return
        self._seen[transfer_id] = None
        if len(self._seen) > COUNTED_REMEMBERED:
            self._seen.popitem(last=False)
        self._tally.setdefault(battle_id, []).append((transfer_id, side, beans))
        if battle_id not in self._adders:
            self._adders[battle_id] = asyncio.create_task(self._add_tally(battle_id), name=f"pk-score-{battle_id}")

    async def _add_tally(self, battle_id: str) -> None:
        """Everything queued for the battle, in batches, until nothing is left: mark counted, add, announce."""
        try:
            while batch := self._tally.pop(battle_id, None):
                try:
                    fresh = await self._store.mark_counted([t for t, _, _ in batch], battle_id)
                    a = sum(beans for t, side, beans in batch if side == "a" and t in fresh)
                    b = sum(beans for t, side, beans in batch if side == "b" and t in fresh)
                    battle = await self._store.add_scores(battle_id, a, b) if a or b else None
                    if battle is not None:
                        await self._announce(battle, SCORE_EVENT)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    # The live score is a projection (the result is summed from the ledger); a later telling of
                    # these gifts (the outbox relay, the reconciler) may count the ones not marked yet.
                    log.exception("battle %s: could not add %d gifts to the live score", battle_id, len(batch))
                    for t, _, _ in batch:
                        self._seen.pop(t, None)
        finally:
            self._adders.pop(battle_id, None)

    async def scores_added(self) -> None:
        """Wait until every gift counted on this node so far is on its battle's live score (tests, shutdown)."""
        while self._adders:
            await asyncio.gather(*self._adders.values(), return_exceptions=True)

    async def scores_from_ledger(self, battle_id: str) -> tuple[int, int]:
        """Each side's beans from the gift transfers that carry this battle's id: the source of truth."""
        rows = await self._wallet.totals_by(TransferKind.GIFT, {"battle_id": battle_id}, "battle_side", "beans", 2)
        totals = {side: total for side, total, _ in rows}
        return totals.get("a", 0), totals.get("b", 0)

    # Steps
    async def _step(self, battle_id: str, step: Callable[[Battle], Battle]) -> Battle:
        for _ in range(STEP_TRIES):
            before = await self.get(battle_id)
            after = step(before)
            if await self._store.replace_if_version(after, before.version):
                await self._after_step(before, after)
                return after
        raise BattleStateError("the battle is changing; try again", state="busy", battle_id=battle_id)

    async def _finish(self, battle_id: str, *, reason: EndReason, by: str | None = None) -> Battle:
        battle = await self.get(battle_id)
        if battle.state is not BattleState.LIVE:
            raise BattleStateError(f"the battle is {battle.state.value}", state=battle.state.value, battle_id=battle_id)
        await self._store.mark_slots_live(battle_id, list(battle.user_ids), None)  # gifts stop counting
        await asyncio.sleep(SETTLE_S)
        for _ in range(STEP_TRIES):
            before = await self.get(battle_id)
            a, b = await self.scores_from_ledger(battle_id)
            now = self._clock.now()
            after = machine.finish(before, now, a, b, self._settings.after_s, reason=reason, by=by)
            if await self._store.replace_if_version(after, before.version):
                await self._after_step(before, after)
                return after
        raise BattleStateError("the battle is changing; try again", state="busy", battle_id=battle_id)

    async def _after_step(self, before: Battle, after: Battle) -> None:
        users = list(after.user_ids)
        if after.state is BattleState.LIVE:
            await self._store.mark_slots_live(after.id, users, after.ends_at)
            self._wake.set()
        elif after.state is BattleState.AFTER:
            self._wake.set()
        elif not after.active:
            await self._store.release_slots(after.id, users)
            await self._store.drop_counted(after.id)
        log.info("battle %s: %s -> %s", after.id, before.state.value, after.state.value)
        await self._announce(after)

    async def advance(self, battle_id: str) -> Battle | None:
        """Take the battle's timed step if it is due (any node may; one wins)."""
        battle = await self._store.get(battle_id)
        if battle is None:
            return None
        now = self._clock.now()
        due = machine.step_due(battle, now)
        try:
            if due == "expire":
                return await self._step(battle_id, lambda b: machine.expire(b, self._clock.now()))
            if due == "finish":
                return await self._finish(battle_id, reason=EndReason.TIME)
            if due == "close":
                return await self._step(battle_id, machine.close)
        except BattleStateError:
            return None  # another node took it
        return None

    async def advance_due(self) -> int:
        """Every due step, whichever node started the battle (deadlines are stored); how many were taken."""
        due = await self._store.due(self._clock.now())
        # Concurrently: a battle's finish waits SETTLE_S, which must not add up over battles ending together.
        done = await asyncio.gather(*(self.advance(b.id) for b in due), return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException) and not isinstance(outcome, Exception):
                raise outcome
            if isinstance(outcome, Exception):
                log.warning("a battle's timed step failed: %r", outcome)
        return sum(1 for outcome in done if isinstance(outcome, Battle))

    async def _announce(self, battle: Battle, event: str | None = None) -> None:
        name = event or EVENTS[battle.state]
        public = battle.public(self._clock.now())
        for stream_id in battle.stream_ids:
            try:
                await self._notifier.emit(stream_id, name, {"stream_id": stream_id, "battle": public})
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("could not send %s to stream %s", name, stream_id)

    # The timer loop
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="battles-timer")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        with contextlib.suppress(TimeoutError):  # the gifts counted so far reach the live score if they can
            await asyncio.wait_for(self.scores_added(), CLOSE_WAIT_S)
        await cancel_and_wait(*list(self._adders.values()))

    async def _run(self) -> None:
        poll = self._settings.poll_s
        while True:
            wait = poll
            try:
                await self.advance_due()
                await self._store.purge_queue(self._clock.now())
                nxt = await self._store.next_due()
                if nxt is not None:
                    wait = min(poll, max(0.05, (nxt - self._clock.now()).total_seconds()))
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("battle timer step failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)


def _until(partner: dict[str, Any], now: Any) -> Any:
    return partner.get("until") or now
