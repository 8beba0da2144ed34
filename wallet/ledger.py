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
from wallet.group_commit import GroupCommit, Submitted
from wallet.models import HoldState, Leg, Transfer, TransferKind, TransferSpec, TransferState
from wallet.outbox import OutboxRelay
from wallet.settings import DEFAULTS
from wallet.store import DuplicateTransferError, LedgerStore

log = logging.getLogger(__name__)

StepHook = Callable[[str, str], Awaitable[None]]  # (transfer id, name of the step just done)
Publisher = Callable[[Transfer], Awaitable[None]]
ManyPublisher = Callable[[list[Transfer]], Awaitable[None]]

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
        self._many_publishers: dict[TransferKind, ManyPublisher] = {}
        self._applied_listeners: dict[TransferKind, Publisher] = {}
        self._relay: OutboxRelay | None = None
        self._group: GroupCommit | None = None
        self._group_kinds: frozenset[TransferKind] = frozenset()

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

    def register_publisher(
        self, kind: TransferKind, publisher: Publisher, *, many: ManyPublisher | None = None
    ) -> None:
        """``publisher`` turns an applied transfer of ``kind`` with an outbox into an event (at least once);
        ``many``, when given, does the same for several at once (the outbox relay's batches: their projections can
        share round trips); it publishes all of them or raises."""
        self._publishers[kind] = publisher
        if many is None:
            self._many_publishers.pop(kind, None)
        else:
            self._many_publishers[kind] = many

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
        doc = self._new_doc(spec)
        item = self._submit(spec, doc)
        if item is not None:
            return await self._finish_grouped(item)
        try:
            await self._store.insert_transfer(doc)
        except DuplicateTransferError:
            return await self._existing(spec.id)
        await self._hook(spec.id, "inserted")
        return await self.drive(doc, settle_later=True)

    def _new_doc(self, spec: TransferSpec) -> dict[str, Any]:
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
        return doc

    # Group commit (wallet/group_commit.py)
    def use_group_commit(self, committer: GroupCommit | None, kinds: tuple[TransferKind, ...] = ()) -> None:
        """Write new transfers of ``kinds`` through ``committer`` (batched with the others in flight) when their
        shape allows it: one guarded debit (no forced leg), every leg on its own account."""
        self._group = committer
        self._group_kinds = frozenset(kinds)

    def _submit(self, spec: TransferSpec, doc: dict[str, Any]) -> Submitted | None:
        group = self._group
        if group is None or spec.kind not in self._group_kinds:
            return None
        guarded = [leg for leg in spec.legs if _guarded(leg)]
        if len(guarded) != 1 or any(leg.force for leg in spec.legs):
            return None
        if len({leg.account for leg in spec.legs}) != len(spec.legs):
            return None
        return group.submit(doc, guarded[0], [leg for leg in spec.legs if not _guarded(leg)])

    async def _finish_grouped(self, item: Submitted) -> Transfer:
        """What the request does once its batch is written: the same steps as ``drive`` from where the batch left
        the transfer (a replay's answer, the rejection, or the applied transfer's listener and outbox)."""
        kind, value = await item.outcome
        tid = item.tid
        if kind == "duplicate":
            return await self._existing(tid)
        if kind == "rejected":
            await self._reject(tid, [item.guarded, *item.unguarded], value)
            return await self._reload(tid)
        if kind == "pending":
            return await self.drive(value, settle_later=True)
        await self._hook(tid, "applied")
        await self._tell_applied(value)
        return await self.drive(value, settle_later=True)

    async def commit_batch(self, items: list[Submitted]) -> None:
        """Write a batch of new transfers (the ``Submitted`` doc says which steps and in what order): insert them
        all (one round trip), apply each one's guarded debit (side by side on a database across the network, one
        after another in place on an in-process one: ``_debits``; a refused one is rejected by its own request),
        apply all their other legs with one update per account, mark them all applied (one round trip). On an
        in-process database nothing here yields, so a batch is one piece of event-loop work. Each transfer's step
        hooks (when set) run between the steps; one that raises stops that transfer there (as a crash would) and
        its request raises it; the others go on."""

        async def hooks(live: list[Submitted], steps: Callable[[Submitted], list[str]]) -> list[Submitted]:
            if self._hook is _no_hook:
                return live
            alive = []
            for item in live:
                try:
                    for step in steps(item):
                        await self._hook(item.tid, step)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    item.fail(exc)
                    continue
                alive.append(item)
            return alive

        existing = await self._store.insert_transfers([item.doc for item in items])
        live = []
        for i, item in enumerate(items):
            if i in existing:
                item.resolve("duplicate")
            else:
                live.append(item)
        live = await hooks(live, lambda item: ["inserted"])

        debited = await self._debits(live)
        applied = []
        for item, outcome in zip(live, debited, strict=True):
            if isinstance(outcome, BaseException):
                item.fail(outcome)
            elif isinstance(outcome, str):
                item.resolve("rejected", outcome)
            else:
                item.balances[item.guarded.account] = outcome
                applied.append(item)
        live = await hooks(applied, lambda item: [f"leg:{item.guarded.account}"])

        by_account: dict[str, tuple[int, list[str]]] = {}
        for item in live:
            for leg in item.unguarded:
                amount, tids = by_account.get(leg.account, (0, []))
                by_account[leg.account] = (amount + leg.amount, [*tids, item.tid])
        grouped = [(account, amount, tids) for account, (amount, tids) in by_account.items()]
        if grouped and await self._store.apply_legs_grouped(grouped) < len(grouped):
            # An account is missing (or carries a marker already): leg by leg, which sorts out both.
            for item in live:
                try:
                    await self._apply_unguarded(item.tid, item.unguarded)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    item.fail(exc)
            live = [item for item in live if not item.outcome.done()]
        live = await hooks(live, lambda item: [f"leg:{leg.account}" for leg in item.unguarded])

        if not live:
            return
        now = self._clock.now()
        results = {item.tid: {"balances": item.balances} for item in live}
        moved = await self._store.mark_applied_many(list(results.items()), now)
        for item in live:
            if moved == len(live):
                item.resolve(
                    "applied", {**item.doc, "state": APPLIED.value, "result": results[item.tid], "updated_at": now}
                )
            else:  # cannot happen while the batch holds the leases: each request looks for itself
                item.resolve("pending", item.doc)

    async def _debits(self, items: list[Submitted]) -> list[int | str | BaseException]:
        """Each item's guarded debit: its balance after, the code of a refusal, or what it raised. One after another
        while they complete without yielding to the event loop (an in-process database: running them "side by side"
        would only add a task each and two loop iterations, each of them also carrying a slice of every busy room's
        tick, to the batch's wall time); once one has yielded (a database across the network), the rest go side by
        side, one round trip of latency for all of them."""
        outcomes: list[int | str | BaseException] = []
        loop = asyncio.get_running_loop()
        for n, item in enumerate(items):
            went_round: list[bool] = []
            probe = loop.call_soon(went_round.append, True)  # runs only if the loop gets a turn during the debit
            try:
                outcomes.append(await self._apply(item.tid, item.guarded))
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                outcomes.append(exc)
            finally:
                probe.cancel()
            if went_round:
                rest = items[n + 1 :]
                outcomes.extend(
                    await asyncio.gather(*(self._apply(i.tid, i.guarded) for i in rest), return_exceptions=True)
                )
                break
        return outcomes

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
        together: dict[TransferKind, list[dict[str, Any]]] = {}
        for doc, _ in items:
            kind = TransferKind(doc["kind"])
            if kind in self._many_publishers:
                together.setdefault(kind, []).append(doc)
            elif await self._publish(doc, mark=False):
                ok.append(doc)
        for kind, docs in together.items():
            try:
                await self._many_publishers[kind]([Transfer.from_doc(doc) for doc in docs])
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "publishing %d transfers (first %s) failed; the reconciler will retry", len(docs), docs[0]["_id"]
                )
                continue
            ok.extend(docs)
        done = {doc["_id"] for doc in ok}
        settle = [doc for doc, s in items if s]
        await asyncio.sleep(0)  # between the batch's steps (an in-process database never yields: see GroupCommit._run)
        only_published = [doc["_id"] for doc, s in items if not s and doc["_id"] in done]
        if only_published:
            await self._store.mark_published_many(only_published)
        if settle:
            accounts = list(dict.fromkeys(leg["account"] for doc in settle for leg in doc["legs"]))
            await self._store.release_markers_of(accounts, [doc["_id"] for doc in settle])
            await asyncio.sleep(0)
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
