"""Helpers for money tests: a crash seam for the ledger and a ledger bundle on the test database."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

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


@contextlib.contextmanager
def yielding_database(rnd: random.Random) -> Iterator[None]:
    """Make every stand-in database call yield to the event loop 0–2 times first, as a network round trip does, so
    that concurrent money operations interleave step by step (the stand-in alone never suspends)."""
    from hub.mongo_standin import StandInCollection

    names = ("find_one", "insert_one", "update_one", "find_one_and_update", "replace_one", "delete_many")
    originals = {name: getattr(StandInCollection, name) for name in names}

    def make(original: Any) -> Any:
        async def op(self: Any, *args: Any, **kwargs: Any) -> Any:
            for _ in range(rnd.randint(0, 2)):
                await asyncio.sleep(0)
            return await original(self, *args, **kwargs)

        return op

    for name, original in originals.items():
        setattr(StandInCollection, name, make(original))
    try:
        yield
    finally:
        for name, original in originals.items():
            setattr(StandInCollection, name, original)
