"""The transfer protocol of MONEY.md: one transfer, several single-document steps, each idempotent.

1. insert the transfer (``_id`` = a deterministic id; a duplicate insert means "already seen"),
2. apply each debit leg with its guard (balance covers it, account not frozen, marker absent) and leave the
   transfer id as a marker on the account; a failed guard rejects the transfer and undoes what was applied,
3. apply the legs no guard can refuse (credits, debits of system accounts that may go negative) the same way, all in
   one unordered bulk write (each update still single-document and marker-guarded),
4. mark the transfer ``applied`` (with its result), tell the kind's applied listener (at once, on the node that
   applied it: a gift's effect goes out here), publish its outbox event if it has one (the relay, after the ack),
5. remove the markers (one multi-document update, each document on its own), mark it ``settled`` (for a request's
   own new transfer with an outbox the relay does 4's publishing and 5 after the request has its answer, for all the
   transfers queued meanwhile at once: their markers off in one update, settled and published in one more).

Only the holder of a transfer's lease drives it: the request that inserted it, or later the reconciler once the
lease has run out. A step hook called between steps lets tests crash a transfer anywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from core.clock import Clock, as_utc
from wallet.accounts import may_go_negative, owner_of
from wallet.errors import TransferInProgressError
from wallet.models import HoldState, Leg, Transfer, TransferKind, TransferSpec, TransferState
from wallet.outbox import OutboxRelay
from wallet.settings import DEFAULTS
from wallet.store import DuplicateTransferError, LedgerStore

log = logging.getLogger(__name__)

StepHook = Callable[[str, str], Awaitable[None]]  # (transfer id, name of the step just done)
Publisher = Callable[[Transfer], Awaitable[None]]

PENDING = TransferState.PENDING
APPLIED = TransferState.APPLIED
SETTLED = TransferState.SETTLED
REJECTED = TransferState.REJECTED


async def _no_hook(tid: str, step: str) -> None:
    return None


def _guarded(leg: Leg) -> bool:
    """A debit the balance must cover (system accounts that may go negative are never refused)."""
    return leg.amount < 0 and not may_go_negative(leg.account)


class Ledger:
    def __init__(
        self,
        store: LedgerStore,
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
        self._publishers: dict[TransferKind, Publisher] = {}
        self._applied_listeners: dict[TransferKind, Publisher] = {}
        self._relay: OutboxRelay | None = None

    @property
    def store(self) -> LedgerStore:
        return self._store

    def set_step_hook(self, hook: StepHook | None) -> None:
        """Called after every step (tests raise from it to simulate a crash between two steps)."""
        self._hook = hook or _no_hook

    def use_relay(self, relay: OutboxRelay | None) -> None:
        """Publish outbox events through ``relay`` (off the request path) instead of inline."""
        self._relay = relay

    async def publish_outbox(self, doc: dict[str, Any]) -> None:
        await self._publish(doc)

    def register_publisher(self, kind: TransferKind, publisher: Publisher) -> None:
        """``publisher`` turns an applied transfer of ``kind`` with an outbox into an event (at least once)."""
        self._publishers[kind] = publisher

    def register_applied_listener(self, kind: TransferKind, listener: Publisher) -> None:
        """``listener`` hears of each transfer of ``kind`` right after this node applied it, before the outbox relay
        runs (at most once per apply; never after a crash between applying and telling it: the outbox event,
        published at least once, is the fallback). A failing listener is logged and changes nothing."""
        self._applied_listeners[kind] = listener

    async def get(self, tid: str) -> Transfer | None:
        doc = await self._store.get_transfer(tid)
        return Transfer.from_doc(doc) if doc else None

    async def execute(self, spec: TransferSpec) -> Transfer:
        """Apply ``spec`` exactly once. A replay of the same id returns the stored transfer (waiting briefly if it is
        still in flight); it never applies the legs a second time."""
        now = self._clock.now()
        doc: dict[str, Any] = {
            "_id": spec.id,
            "kind": spec.kind.value,
            "state": PENDING.value,
            "legs": [leg.to_doc() for leg in spec.legs],
            "accounts": [leg.account for leg in spec.legs],
            "refs": spec.refs,
            "created_at": now,
            "updated_at": now,
            "lease_until": now + self._lease,
            "lease_owner": self._node,
            "outbox": spec.outbox,
            "published": False,
        }
        if spec.hold is not None:
            doc["hold"] = {
                "held": spec.hold.held,
                "available": spec.hold.available,
                "currency": spec.hold.currency.value,
                "amount": spec.hold.amount,
                "matures_at": spec.hold.matures_at,
                "payer": spec.hold.payer,
                "state": HoldState.HELD.value,
            }
        try:
            await self._store.insert_transfer(doc)
        except DuplicateTransferError:
            return await self._existing(spec.id)
        await self._hook(spec.id, "inserted")
        return await self.drive(doc, settle_later=True)

    async def _existing(self, tid: str) -> Transfer:
        deadline = time.monotonic() + self._replay_wait_s  # real time: a replay waits for real work
        delay = 0.005
        for _ in range(1_000):  # bounded by the deadline below; the count is a backstop
            doc = await self._store.get_transfer(tid)
            assert doc is not None, "a transfer is never deleted"
            if doc["state"] != PENDING:
                return Transfer.from_doc(doc)
            now = self._clock.now()
            if as_utc(doc["lease_until"]) < now:
                claimed = await self.claim(doc)
                if claimed is not None:
                    return await self.drive(claimed)
            if time.monotonic() >= deadline:
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.1)
        raise TransferInProgressError("this transfer is being applied right now; retry in a moment", transfer_id=tid)

    async def claim(self, doc: dict[str, Any], *, steal: bool = False) -> dict[str, Any] | None:
        """Take the lease of ``doc`` if nobody renewed it since it was read (or unconditionally with ``steal``)."""
        return await self._store.claim_lease(
            doc["_id"],
            lease_was=None if steal else doc["lease_until"],
            lease_until=self._clock.now() + self._lease,
            owner=self._node,
        )

    async def drive(self, doc: dict[str, Any], *, settle_later: bool = False) -> Transfer:
        """Move a transfer whose lease we hold forward to its final state, from wherever it stopped. With
        ``settle_later`` (a request applying its own new transfer) an applied transfer with an outbox is handed to
        the relay, which publishes it and then releases its markers and settles it: the caller gets it ``applied``
        (its result is final), two round trips sooner; a crash before the relay got to it leaves it applied with its
        markers, which the reconciler finishes like any other."""
        tid: str = doc["_id"]
        legs = [Leg.from_doc(leg) for leg in doc["legs"]]
        state = doc["state"]
        if state == PENDING:
            balances: dict[str, int] = {}
            guarded = [leg for leg in legs if _guarded(leg)]
            for leg in guarded:  # the debits whose guard may refuse the transfer, one at a time, first
                outcome = await self._apply(tid, leg)
                if isinstance(outcome, str):
                    await self._reject(tid, legs, outcome)
                    return await self._reload(tid)
                balances[leg.account] = outcome
                await self._hook(tid, f"leg:{leg.account}")
            unguarded = [leg for leg in legs if not _guarded(leg)]
            await self._apply_unguarded(tid, unguarded)  # nothing can refuse these: one round trip for all
            for leg in unguarded:
                await self._hook(tid, f"leg:{leg.account}")
            result = {"balances": balances}
            now = self._clock.now()
            moved = await self._store.mark_applied(tid, result, now)
            if moved:
                doc = {**doc, "state": APPLIED.value, "result": result, "updated_at": now}
            else:  # cannot happen while we hold the lease; trust the database
                current = await self._store.get_transfer(tid)
                assert current is not None
                if current["state"] != APPLIED:
                    return await self.drive(current) if current["state"] == REJECTED else Transfer.from_doc(current)
                doc = current
            state = APPLIED
            await self._hook(tid, "applied")
            await self._tell_applied(doc)
        unpublished = state in (APPLIED, SETTLED) and doc.get("outbox") and not doc.get("published")
        relay = self._relay
        if settle_later and state == APPLIED and unpublished and relay is not None and relay.submit(doc, settle=True):
            return Transfer.from_doc(doc)
        if unpublished and (self._relay is None or not self._relay.submit(doc)):
            await self._publish(doc)
        if state == APPLIED:
            settled = await self.settle(doc)
            if settled is not None:
                return settled
        elif state == REJECTED and not doc.get("clean"):
            await self._undo(tid, legs)
        return await self._reload(tid)

    async def relay_batch(self, items: list[tuple[dict[str, Any], bool]]) -> None:
        """The outbox relay's work for several applied transfers at once: publish each, then — for those handed over
        to be settled (``True``) — release all their markers in one round trip and mark them settled (and
        published) in one more; the others are marked published in one. What fails stays for the reconciler."""
        ok: list[dict[str, Any]] = []
        for doc, _ in items:
            if await self._publish(doc, mark=False):
                ok.append(doc)
        done = {doc["_id"] for doc in ok}
        settle = [doc for doc, s in items if s]
        only_published = [doc["_id"] for doc, s in items if not s and doc["_id"] in done]
        if only_published:
            await self._store.mark_published_many(only_published)
        if settle:
            accounts = list(dict.fromkeys(leg["account"] for doc in settle for leg in doc["legs"]))
            await self._store.release_markers_of(accounts, [doc["_id"] for doc in settle])
            now = self._clock.now()
            for published in (True, False):
                tids = [doc["_id"] for doc in settle if (doc["_id"] in done) is published]
                if tids:
                    await self._store.mark_settled_many(tids, now, published=published)
        for doc, s in items:
            if doc["_id"] in done:
                await self._hook(doc["_id"], "published")
            if s:
                for leg in doc["legs"]:
                    await self._hook(doc["_id"], f"release:{leg['account']}")
                await self._hook(doc["_id"], "settled")

    async def settle(self, doc: dict[str, Any]) -> Transfer | None:
        """An applied transfer's last steps: release its markers (one round trip for every leg), then ``settled``.
        Returns it settled, or None when it was not applied any more (somebody else settled it)."""
        tid: str = doc["_id"]
        accounts = [leg["account"] for leg in doc["legs"]]
        await self._store.release_markers(accounts, tid)
        for account in accounts:
            await self._hook(tid, f"release:{account}")
        now = self._clock.now()
        if await self._store.mark_settled(tid, now):
            await self._hook(tid, "settled")
            return Transfer.from_doc({**doc, "state": SETTLED.value, "updated_at": now})
        return None

    async def _reload(self, tid: str) -> Transfer:
        doc = await self._store.get_transfer(tid)
        assert doc is not None
        return Transfer.from_doc(doc)

    async def _apply_unguarded(self, tid: str, legs: list[Leg]) -> None:
        """Apply legs that no guard can refuse (credits, debits of accounts that may go negative) in one write; the
        marker keeps each at most once. If one did not match (a missing account, or applied before a crash) the
        legs go one by one, which sorts out both cases."""
        if not legs:
            return
        if await self._store.apply_legs_unguarded([(leg.account, leg.amount) for leg in legs], tid) == len(legs):
            return
        for leg in legs:
            await self._apply(tid, leg)

    async def _apply(self, tid: str, leg: Leg) -> int | str:
        """Apply one leg. Returns the balance after it, or an error code when its guard refuses it."""
        guarded = _guarded(leg)
        for _ in range(3):
            after = await self._store.apply_leg(
                leg.account,
                tid,
                leg.amount,
                min_balance=-leg.amount if guarded else None,
                honour_freeze=guarded and not leg.force,
            )
            if after is not None:
                return int(after["balance"])
            account = await self._store.get_account(leg.account)
            if account is None:
                await self._store.ensure_account(leg.account, leg.currency.value, owner_of(leg.account))
                continue
            if tid in account.get("pending", ()):
                return int(account["balance"])  # applied before a crash or by an earlier attempt
            if guarded and not leg.force and account.get("frozen"):
                return "account_frozen"
            if guarded:
                return "insufficient_funds"
        return "insufficient_funds"

    async def _reject(self, tid: str, legs: list[Leg], code: str) -> None:
        await self._store.mark_rejected(tid, code, self._clock.now())
        await self._hook(tid, "rejected")
        await self._undo(tid, legs)

    async def _undo(self, tid: str, legs: list[Leg]) -> None:
        for leg in legs:
            await self._store.undo_leg(leg.account, tid, leg.amount)
            await self._hook(tid, f"undo:{leg.account}")
        await self._store.mark_undone(tid)

    async def _tell_applied(self, doc: dict[str, Any]) -> None:
        listener = self._applied_listeners.get(TransferKind(doc["kind"]))
        if listener is None:
            return
        try:
            await listener(Transfer.from_doc(doc))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the applied listener of transfer %s failed; its outbox event still follows", doc["_id"])

    async def _publish(self, doc: dict[str, Any], *, mark: bool = True) -> bool:
        """Publish its outbox event; True when it went out (then marked ``published`` unless ``mark`` is False: the
        caller marks it)."""
        transfer = Transfer.from_doc(doc)
        publisher = self._publishers.get(transfer.kind)
        if publisher is None:
            return False
        try:
            await publisher(transfer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("publishing transfer %s failed; the reconciler will retry", transfer.id)
            return False
        if mark:
            await self._store.mark_published(transfer.id)
            await self._hook(transfer.id, "published")
        return True
