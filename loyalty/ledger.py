"""The points ledger: the transfer protocol of the coins ledger (MONEY.md), for one viewer leg per entry.

1. insert the entry (``_id`` = its idempotency key, ``pending``, a lease); a duplicate insert means "already seen":
   the stored entry is the answer (a replay never applies twice);
2. apply the viewer's leg in one conditional single-document update that also leaves the entry id as a marker on
   the account: a debit only if the balance covers it, an earning only while the hourly cap has room (the cap
   counter moves in the same update). No match and no marker: the guard refused → ``rejected`` (nothing to undo);
3. mark the entry ``applied`` with the balance after;
4. release the marker, mark it ``settled``.

The counter leg (``points:issued`` or ``points:spent``) is written on the entry and never stored as a balance: a
system account is the sum of its legs. Only the holder of an entry's lease drives it: the request that inserted it,
or the reconciler once the lease ran out. Each step is idempotent, so a crash anywhere is finished by replaying.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from core.clock import Clock, as_utc
from loyalty.errors import EntryInProgressError
from loyalty.models import Cap, EntryKind, EntrySpec, EntryState, PointsEntry, points_account
from loyalty.settings import DEFAULTS
from loyalty.store import DuplicateEntryError, PointsStore

log = logging.getLogger(__name__)

StepHook = Callable[[str, str], Awaitable[None]]  # (entry id, name of the step just done)

CAPPED = "hourly_cap"
INSUFFICIENT = "insufficient_points"


async def _no_hook(eid: str, step: str) -> None:
    return None


class PointsLedger:
    def __init__(
        self,
        store: PointsStore,
        clock: Clock,
        *,
        node_id: str = "node",
        lease_s: float = DEFAULTS.lease_s,
        replay_wait_s: float = 2.0,
    ) -> None:
        self._store = store
        self._clock = clock
        self._node = node_id
        self._lease = timedelta(seconds=lease_s)
        self._replay_wait_s = replay_wait_s
        self._hook: StepHook = _no_hook

    @property
    def store(self) -> PointsStore:
        return self._store

    def set_step_hook(self, hook: StepHook | None) -> None:
        """Called after every step (tests raise from it to simulate a crash between two steps)."""
        self._hook = hook or _no_hook

    async def get(self, eid: str) -> PointsEntry | None:
        doc = await self._store.get_entry(eid)
        return PointsEntry.from_doc(doc) if doc else None

    async def balance(self, channel: str, viewer: str) -> int:
        doc = await self._store.get_account(points_account(channel, viewer))
        return int(doc["balance"]) if doc else 0

    async def execute(self, spec: EntrySpec) -> PointsEntry:
        """Apply ``spec`` exactly once; a replay of its id returns the stored entry (waiting briefly while it is in
        flight), never applying it again."""
        now = self._clock.now()
        doc: dict[str, Any] = {
            "_id": spec.id,
            "kind": spec.kind.value,
            "state": EntryState.PENDING.value,
            "channel": spec.channel,
            "viewer": spec.viewer,
            "account": spec.account,
            "amount": spec.amount,
            "legs": [
                {"account": spec.account, "amount": spec.amount},
                {"account": spec.kind.counter_account, "amount": -spec.amount},
            ],
            "cap": {"kind": spec.cap.kind, "hour": spec.cap.hour, "limit": spec.cap.limit} if spec.cap else None,
            "refs": spec.refs,
            "created_at": now,
            "updated_at": now,
            "lease_until": now + self._lease,
            "lease_owner": self._node,
        }
        try:
            await self._store.insert_entry(doc)
        except DuplicateEntryError:
            return await self._existing(spec.id)
        await self._hook(spec.id, "inserted")
        return await self.drive(doc)

    async def void(self, eid: str, kind: EntryKind, channel: str, viewer: str, amount: int) -> PointsEntry:
        """Make sure entry ``eid`` can never apply: insert it ``rejected`` if it does not exist (a request that died
        before inserting it), else return it as it is (finishing it first if its lease ran out)."""
        now = self._clock.now()
        doc: dict[str, Any] = {
            "_id": eid,
            "kind": kind.value,
            "state": EntryState.REJECTED.value,
            "error": "abandoned",
            "channel": channel,
            "viewer": viewer,
            "account": points_account(channel, viewer),
            "amount": amount,
            "legs": [
                {"account": points_account(channel, viewer), "amount": amount},
                {"account": kind.counter_account, "amount": -amount},
            ],
            "cap": None,
            "refs": {},
            "created_at": now,
            "updated_at": now,
            "lease_until": now,
            "lease_owner": self._node,
        }
        try:
            await self._store.insert_entry(doc)
            return PointsEntry.from_doc(doc)
        except DuplicateEntryError:
            return await self._existing(eid)

    async def _existing(self, eid: str) -> PointsEntry:
        deadline = time.monotonic() + self._replay_wait_s  # real time: a replay waits for real work
        delay = 0.005
        for _ in range(1_000):  # bounded by the deadline below
            doc = await self._store.get_entry(eid)
            assert doc is not None, "an entry is never deleted"
            if doc["state"] != EntryState.PENDING.value:
                return PointsEntry.from_doc(doc)
            if as_utc(doc["lease_until"]) < self._clock.now():
                claimed = await self.claim(doc)
                if claimed is not None:
                    return await self.drive(claimed)
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise EntryInProgressError("this points entry is being applied right now; retry in a moment", entry_id=eid)

    async def claim(self, doc: dict[str, Any], *, steal: bool = False) -> dict[str, Any] | None:
        return await self._store.claim_lease(
            doc["_id"],
            lease_was=None if steal else doc["lease_until"],
            lease_until=self._clock.now() + self._lease,
            owner=self._node,
        )

    async def drive(self, doc: dict[str, Any]) -> PointsEntry:
        """Move an entry whose lease we hold to its final state, from wherever it stopped."""
        eid: str = doc["_id"]
        account: str = doc["account"]
        amount = int(doc["amount"])
        state = doc["state"]
        if state == EntryState.PENDING.value:
            await self._store.ensure_account(account, doc["channel"], doc["viewer"])
            if amount < 0:
                after = await self._store.apply_debit(account, eid, -amount)
            else:
                raw = doc.get("cap")
                cap = Cap(raw["kind"], int(raw["hour"]), int(raw["limit"])) if raw else None
                after = await self._store.apply_credit(account, eid, amount, cap)
            if after is None:
                current = await self._store.get_account(account)
                if current is None or eid not in current.get("pending", []):
                    await self._store.mark_rejected(eid, INSUFFICIENT if amount < 0 else CAPPED, self._clock.now())
                    return await self._reload(eid)
                after = current  # applied before a crash: the marker says so
            await self._hook(eid, "leg")
            await self._store.mark_applied(eid, int(after["balance"]), self._clock.now())
            await self._hook(eid, "applied")
            state = EntryState.APPLIED.value
        if state == EntryState.APPLIED.value:
            await self._store.release_marker(account, eid)
            await self._hook(eid, "released")
            await self._store.mark_settled(eid, self._clock.now())
        return await self._reload(eid)

    async def _reload(self, eid: str) -> PointsEntry:
        doc = await self._store.get_entry(eid)
        assert doc is not None
        return PointsEntry.from_doc(doc)

    async def drive_stuck(self, *, ignore_leases: bool = False, limit: int = 200) -> int:
        """One reconciler pass over entries a crash left pending or applied."""
        expired_before = None if ignore_leases else self._clock.now()
        count = 0
        for doc in await self._store.unfinished(lease_expired_before=expired_before, limit=limit):
            claimed = await self.claim(doc, steal=ignore_leases)
            if claimed is None:
                continue
            entry = await self.drive(claimed)
            log.info("reconciled points entry %s -> %s", entry.id, entry.state.value)
            count += 1
        return count
