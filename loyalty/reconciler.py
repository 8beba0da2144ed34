"""The points reconciler: finishes entries a crash left pending or applied, then redemptions left ``paying`` or
``refunding``. An owned background task (``start()``/``close()``); ``run_once()`` is one pass (tests, ``hub wallet
verify --reconcile``)."""

from __future__ import annotations

import asyncio
import logging

from core.tasks import cancel_and_wait
from loyalty.ledger import PointsLedger
from loyalty.rewards import RewardService

log = logging.getLogger(__name__)


class PointsReconciler:
    def __init__(self, ledger: PointsLedger, rewards: RewardService, *, interval_s: float) -> None:
        self._ledger = ledger
        self._rewards = rewards
        self._interval_s = interval_s
        self._task: asyncio.Task[None] | None = None

    async def run_once(self, *, ignore_leases: bool = False, max_passes: int = 5) -> int:
        total = 0
        for _ in range(max_passes):
            done = await self._ledger.drive_stuck(ignore_leases=ignore_leases)
            done += await self._rewards.reconcile_once(ignore_leases=ignore_leases)
            total += done
            if not done:
                break
        return total

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="loyalty-reconciler")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("points reconciler pass failed; retrying next interval")
