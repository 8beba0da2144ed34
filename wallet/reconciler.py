"""The reconciler: finishes (or, for rejected ones, undoes) transfers a crash left half-done, republishes outbox
events that were not published, and matures held beans whose holding period is over.

An owned background task: ``start()`` launches it, ``close()`` cancels it. ``run_once()`` is one pass, for tests and
for ``hub wallet verify --reconcile``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from core.clock import Clock
from core.tasks import cancel_and_wait
from wallet import holds
from wallet.ledger import Ledger
from wallet.settings import DEFAULTS

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    driven: int
    matured: int

    @property
    def total(self) -> int:
        return self.driven + self.matured


class Reconciler:
    def __init__(
        self,
        ledger: Ledger,
        clock: Clock,
        *,
        interval_s: float = DEFAULTS.reconcile_interval_s,
        batch: int = 200,
        also: Sequence[Callable[[], Awaitable[int]]] = (),
    ) -> None:
        self._ledger = ledger
        self._also = tuple(also)  # further passes run after each reconcile (e.g. interrupted cash-out decisions)
        self._clock = clock
        self._interval_s = interval_s
        self._batch = batch
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="wallet-reconciler")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)  # first pass one interval after start-up
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciler pass failed; retrying next interval")

    async def run_once(self, *, ignore_leases: bool = False, max_passes: int = 5) -> ReconcileReport:
        """Drive everything stuck. ``ignore_leases`` takes over transfers whose lease has not run out yet — only for
        a process that knows their drivers are dead (tests after an injected crash, an operator's CLI run)."""
        driven = matured = 0
        for _ in range(max_passes):
            # A loop iteration between the queries: on an in-process database a query never yields, and each one
            # scans the transfers (a real server answers them from indexes in its own process).
            d = await self._drive_stuck(ignore_leases)
            await asyncio.sleep(0)
            m = await self._mature_holds()
            for extra in self._also:
                await asyncio.sleep(0)
                d += await extra()
            driven += d
            matured += m
            if d == 0 and m == 0:
                break
        return ReconcileReport(driven, matured)

    async def _drive_stuck(self, ignore_leases: bool) -> int:
        expired_before = None if ignore_leases else self._clock.now()
        count = 0
        for doc in await self._ledger.store.unfinished(lease_expired_before=expired_before, limit=self._batch):
            claimed = await self._ledger.claim(doc, steal=ignore_leases)
            if claimed is None:
                continue  # someone else renewed it
            transfer = await self._ledger.drive(claimed)
            log.info("reconciled transfer %s -> %s", transfer.id, transfer.state.value)
            count += 1
        return count

    async def _mature_holds(self) -> int:
        now = self._clock.now()
        docs = await self._ledger.store.holds_due(now, limit=self._batch)
        await asyncio.sleep(0)
        interrupted = await self._ledger.store.holds_reversing(limit=self._batch)
        count = 0
        for doc in docs:
            if await holds.mature(self._ledger, doc):
                count += 1
        for doc in interrupted:
            if await holds.reverse(self._ledger, doc, doc.get("refs", {}).get("reason", "resumed")):
                count += 1
        return count
