"""Group commit: the transfers that requests hand in while one batch is being written are written together.

Each transfer keeps its own id (its idempotency key), its own legs and markers and its own state; only the round
trips are shared (``Ledger.commit_batch``): one insert for every new transfer of the batch, their guarded debits
side by side, one update per account for all the legs nothing can refuse (a streamer's and the system accounts' many
credits become one ``$inc`` each, with every transfer's marker), one write marking them all applied. Every step stays
single-document and idempotent, so a crash anywhere in a batch leaves each transfer in a state the reconciler (or a
retry of the same key) finishes exactly as it finishes a transfer written alone.

The batch size follows the load on its own: a batch is whatever queued while the previous one was being written
(one transfer when the node is quiet, dozens in a gift storm), at most ``BATCH_MAX``. Every loop iteration a request
waits here is one in which the node also writes a slice of each busy room's tick, so the committer goes round the
loop once between two batches and not more: an idle committer writes what it was woken for (and whatever queued
with it) in the iteration it wakes in, and on an in-process database a batch is one piece of work (see
``Ledger.commit_batch``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol

from core.errors import UnavailableError
from core.tasks import cancel_and_wait
from wallet.models import Leg

log = logging.getLogger(__name__)

#: At most this many transfers per batch.
BATCH_MAX = 256


@dataclass(eq=False)
class Submitted:
    """One request's new transfer, waiting for its batch. ``outcome`` resolves to what the batch did for it:
    ``("applied", doc)``, ``("rejected", code)`` (its guarded debit was refused; nothing was applied),
    ``("duplicate", None)`` (the id existed: a replay) or ``("pending", doc)`` (the batch left it for the request
    to drive on alone); or it raises what a step of it raised (a crash between two of its steps)."""

    doc: dict[str, Any]
    guarded: Leg
    unguarded: list[Leg]
    outcome: asyncio.Future[tuple[str, Any]]
    balances: dict[str, int] = field(default_factory=dict)

    @property
    def tid(self) -> str:
        return str(self.doc["_id"])

    def resolve(self, kind: str, value: Any = None) -> None:
        if not self.outcome.done():
            self.outcome.set_result((kind, value))

    def fail(self, exc: BaseException) -> None:
        if not self.outcome.done():
            self.outcome.set_exception(exc)


class CommitsBatches(Protocol):
    async def commit_batch(self, items: list[Submitted]) -> None: ...


class GroupCommit:
    def __init__(self, ledger: CommitsBatches, *, max_queue: int = 10_000) -> None:
        self._ledger = ledger
        self._queue: asyncio.Queue[Submitted] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None
        self._batch: list[Submitted] = []

    @property
    def running(self) -> bool:
        return self._task is not None

    @property
    def queued(self) -> int:
        """Transfers waiting for the next batch."""
        return self._queue.qsize()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wallet-group-commit")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
        waiting = [*self._batch]
        while not self._queue.empty():
            waiting.append(self._queue.get_nowait())
        for item in waiting:  # their transfers (if inserted) are the reconciler's now
            item.fail(UnavailableError("the ledger is shutting down; retry with the same key"))

    def submit(self, doc: dict[str, Any], guarded: Leg, unguarded: list[Leg]) -> Submitted | None:
        """Queue a new transfer for the next batch; None when not running or full (the caller writes it alone)."""
        if self._task is None:
            return None
        item = Submitted(doc, guarded, unguarded, asyncio.get_running_loop().create_future())
        try:
            self._queue.put_nowait(item)
        except asyncio.QueueFull:
            return None
        return item

    async def _run(self) -> None:
        while True:
            idle = self._queue.empty()
            batch = [await self._queue.get()]
            self._batch = batch  # close() answers these if it cancels this batch half-way
            if not idle:
                # One loop iteration between batches: a queue that is never empty does not make ``get`` yield, and on
                # an in-process database nothing in a batch yields either, so back-to-back batches held the event
                # loop for tens of milliseconds (everything else on the node waited: acks, room ticks). Requests
                # handed in meanwhile join this batch. After waiting for the first request (an idle committer) the
                # loop has already gone round: what queued since is taken at once, one iteration sooner.
                await asyncio.sleep(0)
            while len(batch) < BATCH_MAX and not self._queue.empty():  # everything that queued meanwhile
                batch.append(self._queue.get_nowait())
            try:
                await self._ledger.commit_batch(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a database error: each request answers with it; the reconciler finishes
                log.exception("group commit: a batch of %d (first %s) failed", len(batch), batch[0].tid)
                for item in batch:
                    item.fail(exc)
            self._batch = []
            for item in batch:  # nothing stays unanswered
                item.fail(RuntimeError(f"transfer {item.tid}: the batch gave no outcome"))
