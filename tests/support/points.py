"""A points ledger, earning and rewards on a test database with a manual clock (the loyalty package's parts, as
``hub/loyalty_wiring.py`` builds them)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.clock import ManualClock
from loyalty.earning import Earning
from loyalty.ledger import PointsLedger
from loyalty.reconciler import PointsReconciler
from loyalty.rewards import RewardService
from loyalty.settings import LoyaltySettings
from loyalty.store import PointsStore, RewardStore


@dataclass
class Points:
    clock: ManualClock
    store: PointsStore
    ledger: PointsLedger
    earning: Earning
    rewards: RewardService
    reconciler: PointsReconciler


async def make_points(database: Any, settings: LoyaltySettings | None = None, node: str = "n1") -> Points:
    s = settings or LoyaltySettings()
    clock = ManualClock(datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC))
    store = PointsStore(database)
    await store.create_indexes()
    rstore = RewardStore(database)
    await rstore.create_indexes()
    ledger = PointsLedger(store, clock, node_id=node, lease_s=s.lease_s)
    rewards = RewardService(rstore, ledger, clock, s)
    return Points(
        clock, store, ledger, Earning(ledger, clock, s), rewards, PointsReconciler(ledger, rewards, interval_s=1)
    )
