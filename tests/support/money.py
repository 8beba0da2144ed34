"""Helpers for money tests: a crash seam for the ledger and a ledger bundle on the test database."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.clock import ManualClock
from wallet.ledger import Ledger
from wallet.reconciler import Reconciler
from wallet.service import WalletService
from wallet.store import LedgerStore


class SimulatedCrash(Exception):
    """Raised by the step hook: the process 'dies' between two steps."""


@dataclass
class CrashSwitch:
    """Crash at the ``countdown``-th step from now (0 = disarmed)."""

    countdown: int = 0
    steps: list[str] = field(default_factory=list)

    async def __call__(self, tid: str, step: str) -> None:
        self.steps.append(step)
        if self.countdown > 0:
            self.countdown -= 1
            if self.countdown == 0:
                raise SimulatedCrash(f"{tid} after {step}")


@dataclass
class Money:
    clock: ManualClock
    store: LedgerStore
    ledger: Ledger
    wallet: WalletService
    reconciler: Reconciler
    crash: CrashSwitch


async def make_money(db: object) -> Money:
    clock = ManualClock()
    store = LedgerStore(db)
    await store.create_indexes()
    ledger = Ledger(store, clock, lease_s=10, replay_wait_s=0.2)
    crash = CrashSwitch()
    ledger.set_step_hook(crash)
    return Money(clock, store, ledger, WalletService(ledger, clock, lock_wait_s=0.2), Reconciler(ledger, clock), crash)
