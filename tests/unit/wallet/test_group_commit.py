"""The group commit's own loop: batches form from what queued meanwhile, and no request is ever left waiting (a
failed batch answers each of its requests with the error; closing answers those still waiting)."""

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
