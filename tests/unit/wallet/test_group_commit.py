"""The group commit's own loop: batches form from what queued meanwhile, and no request is ever left waiting (a
failed batch answers each of its requests with the error; closing answers those still waiting); it goes round the
event loop once between two batches and no more (each iteration a request waits also carries room writes)."""

from __future__ import annotations

import asyncio

import pytest

from core.errors import UnavailableError
from wallet.accounts import COINS_GIFT_REVENUE, Currency, user_coins
from wallet.group_commit import GroupCommit, Submitted
from wallet.models import Leg

DEBIT = Leg(user_coins("fan"), Currency.COINS, -1)
CREDIT = [Leg(COINS_GIFT_REVENUE, Currency.COINS, 1)]


class HeldLedger:
    """Holds every batch until ``go_on`` is set; then answers each transfer (or raises ``fail``)."""

    def __init__(self) -> None:
        self.go_on = asyncio.Event()
        self.batches: list[list[str]] = []
        self.fail: Exception | None = None

    async def commit_batch(self, items: list[Submitted]) -> None:
        self.batches.append([item.tid for item in items])
        await self.go_on.wait()
        if self.fail is not None:
            raise self.fail
        for item in items:
            item.resolve("applied", item.doc)


def submit(group: GroupCommit, tid: str) -> Submitted:
    item = group.submit({"_id": tid}, DEBIT, CREDIT)
    assert item is not None
    return item


async def test_what_queues_while_a_batch_is_written_goes_in_the_next_batch_together() -> None:
    ledger = HeldLedger()
    group = GroupCommit(ledger)
    assert group.submit({"_id": "early"}, DEBIT, CREDIT) is None  # not running: the caller writes it alone
    group.start()
    try:
        first = submit(group, "a")
        await asyncio.sleep(0.01)  # the loop took "a" alone
        later = [submit(group, t) for t in ("b", "c", "d")]
        assert group.queued == 3
        ledger.go_on.set()
        assert await first.outcome == ("applied", {"_id": "a"})
        assert [await item.outcome for item in later] == [("applied", {"_id": t}) for t in ("b", "c", "d")]
        assert ledger.batches == [["a"], ["b", "c", "d"]]
    finally:
        await group.close()


async def test_a_batch_that_fails_answers_each_of_its_requests_with_the_error_and_the_next_batch_goes_on() -> None:
    ledger = HeldLedger()
    ledger.fail = ConnectionError("database gone")
    group = GroupCommit(ledger)
    group.start()
    try:
        items = [submit(group, t) for t in ("a", "b")]
        ledger.go_on.set()
        for item in items:
            with pytest.raises(ConnectionError):
                await item.outcome
        ledger.fail = None
        assert await submit(group, "c").outcome == ("applied", {"_id": "c"})
    finally:
        await group.close()


async def test_closing_answers_every_request_still_waiting_so_none_hangs() -> None:
    ledger = HeldLedger()
    group = GroupCommit(ledger)
    group.start()
    writing = submit(group, "a")
    await asyncio.sleep(0.01)  # "a" is being written (held), "b" waits for the next batch
    waiting = submit(group, "b")
    await group.close()
    for item in (writing, waiting):
        with pytest.raises(UnavailableError):
            await asyncio.wait_for(item.outcome, 1)
    assert group.submit({"_id": "late"}, DEBIT, CREDIT) is None


class LoopTurns:
    """Counts the event loop's iterations: a callback that schedules itself again runs once per iteration."""

    def __init__(self) -> None:
        self.count = 0
        self._handle: asyncio.Handle | None = None

    def _tick(self) -> None:
        self.count += 1
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def start(self) -> None:
        self._handle = asyncio.get_running_loop().call_soon(self._tick)

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()


class InPlaceLedger:
    """Writes each batch without yielding (as the ledger does on an in-process database); notes the loop iteration
    each batch started in and, during the first batch, hands in ``arrive`` more requests."""

    def __init__(self, turns: LoopTurns) -> None:
        self.turns = turns
        self.group: GroupCommit | None = None
        self.started: list[tuple[int, list[str]]] = []
        self.arrive: list[str] = []
        self.arrived: list[Submitted] = []

    async def commit_batch(self, items: list[Submitted]) -> None:
        self.started.append((self.turns.count, [item.tid for item in items]))
        assert self.group is not None
        for tid in self.arrive:  # requests handed in while this batch is being written
            self.arrived.append(submit(self.group, tid))
        self.arrive = []
        for item in items:
            item.resolve("applied", item.doc)


async def test_an_idle_committer_writes_what_woke_it_in_the_loop_iteration_it_wakes_in() -> None:
    turns = LoopTurns()
    ledger = InPlaceLedger(turns)
    group = GroupCommit(ledger)
    ledger.group = group
    group.start()
    turns.start()
    try:
        await asyncio.sleep(0.01)  # the committer waits for a request
        handed_in = turns.count
        items = [submit(group, "a"), submit(group, "b")]  # handed in together (one request's turn, then another's)
        assert [await item.outcome for item in items] == [("applied", {"_id": t}) for t in ("a", "b")]
        # Woken by "a", the committer writes both in the iteration it wakes in (it used to go round once more).
        assert ledger.started == [(handed_in + 1, ["a", "b"])], (handed_in, ledger.started)
    finally:
        turns.stop()
        await group.close()


async def test_batches_back_to_back_are_one_loop_iteration_apart_and_the_next_takes_what_came_meanwhile() -> None:
    turns = LoopTurns()
    ledger = InPlaceLedger(turns)
    group = GroupCommit(ledger)
    ledger.group = group
    ledger.arrive = ["b", "c"]  # come while "a" is being written
    group.start()
    turns.start()
    try:
        await asyncio.sleep(0.01)
        first = submit(group, "a")
        assert await first.outcome == ("applied", {"_id": "a"})
        await asyncio.wait_for(asyncio.gather(*(item.outcome for item in ledger.arrived)), 1)
        (at_a, batch_a), (at_b, batch_b) = ledger.started
        assert (batch_a, batch_b) == (["a"], ["b", "c"])
        # The queue was not empty, so ``get`` did not yield: the committer still goes round the loop once between
        # the two (a never-empty queue must not hold the loop), and only once.
        assert at_b == at_a + 1
    finally:
        turns.stop()
        await group.close()
