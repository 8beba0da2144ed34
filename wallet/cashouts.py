"""Cash-outs: matured beans only, a minimum, a verified identity; the beans wait in a hold until an admin decides.

Every state change is a ledger transfer with a deterministic id and an audit record with a deterministic id:

- request: ``cashout:{id}`` moves the beans ``beans:user`` → ``beans_cashout:user`` (guarded: matured beans only),
- approve: ``cashout:{id}:paid`` moves them ``beans_cashout:user`` → ``beans:payouts``,
- reject:  ``cashout:{id}:returned`` moves them back to ``beans:user``.

A decision is claimed first (``pending`` → ``approving``/``rejecting``) and then completed; re-running a decision or
the reconciler's ``finish_decisions`` completes one a crash interrupted.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from core.clock import Clock, as_utc
from core.errors import InvalidInputError
from core.ids import new_id
from wallet.accounts import BEANS_PAYOUTS, Currency, user_beans, user_beans_cashout
from wallet.errors import (
    AccountFrozenError,
    CashoutNotFoundError,
    CashoutRefusedError,
    CashoutStateError,
    InsufficientFundsError,
)
from wallet.models import CashoutStatus, Leg, Transfer, TransferKind, TransferSpec, TransferState
from wallet.service import WalletService
from wallet.store_payments import PaymentStore

DECISIONS = {
    "approve": (CashoutStatus.APPROVING, CashoutStatus.PAID),
    "reject": (CashoutStatus.REJECTING, CashoutStatus.REJECTED),
}
# Audit actions besides the statuses a cash-out passes through
REQUESTED = "requested"
HELD = "held"


@dataclass(frozen=True, slots=True)
class Cashout:
    id: str
    user_id: str
    beans: int
    status: CashoutStatus
    created_at: str
    decided_by: str | None = None
    note: str | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Cashout:
        return cls(
            doc["_id"],
            doc["user_id"],
            int(doc["beans"]),
            CashoutStatus(doc["status"]),
            as_utc(doc["created_at"]).isoformat(),
            doc.get("decided_by"),
            doc.get("note"),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "beans": self.beans,
            "status": self.status.value,
            "created_at": self.created_at,
            "decided_by": self.decided_by,
            "note": self.note,
        }


class CashoutService:
    def __init__(self, store: PaymentStore, wallet: WalletService, clock: Clock, *, minimum_beans: int) -> None:
        self._store = store
        self._wallet = wallet
        self._clock = clock
        self._minimum = minimum_beans

    @property
    def minimum_beans(self) -> int:
        return self._minimum

    async def request(self, user_id: str, beans: int, *, identity_verified: bool, key: str | None = None) -> Cashout:
        if isinstance(beans, bool) or not isinstance(beans, int) or beans <= 0:
            raise InvalidInputError("beans must be a positive integer", field="beans")
        if beans < self._minimum:
            raise CashoutRefusedError(
                f"the minimum cash-out is {self._minimum} beans", code="below_minimum", minimum=self._minimum
            )
        if not identity_verified:
            raise CashoutRefusedError("verify your identity before cashing out", code="identity_not_verified")
        cashout_id = f"{user_id}:{key}" if key else new_id()
        now = self._clock.now()
        doc = {
            "_id": cashout_id,
            "user_id": user_id,
            "beans": beans,
            "status": CashoutStatus.REQUESTING.value,
            "created_at": now,
        }
        if not await self._store.insert_cashout(doc):
            existing = await self._store.get_cashout(cashout_id)
            assert existing is not None
            if existing["user_id"] != user_id or int(existing["beans"]) != beans:
                raise CashoutStateError("this idempotency key was used for another cash-out")
        await self._audit(cashout_id, REQUESTED, user_id, beans)
        transfer = await self._wallet.execute(
            TransferSpec(
                f"cashout:{cashout_id}",
                TransferKind.CASHOUT,
                (
                    Leg(user_beans(user_id), Currency.BEANS, -beans),
                    Leg(user_beans_cashout(user_id), Currency.BEANS, beans),
                ),
                refs={"cashout_id": cashout_id, "user_id": user_id, "step": "hold"},
            )
        )
        return await self._settle_request(cashout_id, transfer)

    async def _settle_request(self, cashout_id: str, transfer: Transfer) -> Cashout:
        if transfer.applied:
            doc = await self._store.move_cashout(cashout_id, CashoutStatus.REQUESTING, CashoutStatus.PENDING)
        else:
            doc = await self._store.move_cashout(
                cashout_id, CashoutStatus.REQUESTING, CashoutStatus.FAILED, note=transfer.error
            )
        current = doc or await self._store.get_cashout(cashout_id)
        assert current is not None
        if transfer.state is TransferState.REJECTED:
            await self._audit(cashout_id, CashoutStatus.FAILED, current["user_id"], int(current["beans"]))
            if transfer.error == "account_frozen":
                raise AccountFrozenError("this account is frozen")
            raise InsufficientFundsError("not enough matured beans", cashout_id=cashout_id)
        await self._audit(cashout_id, HELD, current["user_id"], int(current["beans"]))
        return Cashout.from_doc(current)

    async def get(self, cashout_id: str) -> Cashout:
        doc = await self._store.get_cashout(cashout_id)
        if doc is None:
            raise CashoutNotFoundError("no such cash-out")
        return Cashout.from_doc(doc)

    async def find(
        self, *, user_id: str | None = None, status: CashoutStatus | str | None = None, limit: int = 50
    ) -> list[Cashout]:
        wanted = None
        if status:
            try:
                wanted = CashoutStatus(status)
            except ValueError:
                raise InvalidInputError(f"no cash-out status {status!r}", field="status") from None
        docs = await self._store.list_cashouts(user_id=user_id, status=wanted, limit=limit)
        return [Cashout.from_doc(d) for d in docs]

    async def decide(self, actor_id: str, cashout_id: str, decision: str, note: str | None = None) -> Cashout:
        """Approve or reject a pending cash-out (who may is ``app.policy``'s ``administer_money``); ``actor_id`` is
        recorded as the decider."""
        if decision not in DECISIONS:
            raise InvalidInputError("decision must be approve or reject", field="decision")
        working, final = DECISIONS[decision]
        doc = await self._store.move_cashout(
            cashout_id,
            CashoutStatus.PENDING,
            working,
            decided_by=actor_id,
            note=note,
            decided_at=self._clock.now(),
        )
        if doc is None:
            doc = await self._store.get_cashout(cashout_id)
            if doc is None:
                raise CashoutNotFoundError("no such cash-out")
            if doc["status"] == final:
                return Cashout.from_doc(doc)  # already done: idempotent
            if doc["status"] != working:
                raise CashoutStateError(f"this cash-out is {doc['status']}", status_now=doc["status"])
        await self._audit(cashout_id, working, actor_id, int(doc["beans"]))
        return await self._complete(doc, decision)

    async def _complete(self, doc: dict[str, Any], decision: str) -> Cashout:
        cashout_id, user_id, beans = doc["_id"], doc["user_id"], int(doc["beans"])
        working, final = DECISIONS[decision]
        to = BEANS_PAYOUTS if decision == "approve" else user_beans(user_id)
        suffix = "paid" if decision == "approve" else "returned"
        transfer = await self._wallet.execute(
            TransferSpec(
                f"cashout:{cashout_id}:{suffix}",
                TransferKind.CASHOUT if decision == "approve" else TransferKind.REVERSAL,
                (Leg(user_beans_cashout(user_id), Currency.BEANS, -beans, force=True), Leg(to, Currency.BEANS, beans)),
                refs={"cashout_id": cashout_id, "user_id": user_id, "step": suffix},
            )
        )
        if not transfer.applied:
            raise CashoutStateError(f"the cash-out transfer was rejected: {transfer.error}")
        updated = await self._store.move_cashout(cashout_id, working, final)
        await self._audit(cashout_id, final, doc.get("decided_by") or "system", beans)
        return Cashout.from_doc(updated or doc | {"status": final.value})

    async def finish_interrupted(self, *, stale_s: float = 60.0) -> int:
        """Complete requests and decisions a crash left half-way (called by the reconciler loop)."""
        done = 0
        before = self._clock.now() - timedelta(seconds=stale_s)
        for doc in await self._store.interrupted_cashouts(before, 100):
            if doc["status"] == CashoutStatus.REQUESTING:
                transfer = await self._wallet.ledger.get(f"cashout:{doc['_id']}")
                if transfer is None:
                    await self._store.move_cashout(
                        doc["_id"], CashoutStatus.REQUESTING, CashoutStatus.FAILED, note="interrupted"
                    )
                elif transfer.state in (TransferState.SETTLED, TransferState.REJECTED):
                    with contextlib.suppress(InsufficientFundsError, AccountFrozenError):
                        await self._settle_request(doc["_id"], transfer)
                else:
                    continue
            else:
                await self._complete(doc, "approve" if doc["status"] == CashoutStatus.APPROVING else "reject")
            done += 1
        return done

    async def audit_trail(self, cashout_id: str) -> list[dict[str, Any]]:
        return [
            {k: (as_utc(v).isoformat() if k == "at" else v) for k, v in d.items() if k != "_id"}
            for d in await self._store.audit_for(f"cashout:{cashout_id}")
        ]

    async def _audit(self, cashout_id: str, action: str, actor: str, beans: int) -> None:
        await self._store.audit(
            {
                "_id": f"cashout:{cashout_id}:{action}",
                "subject": f"cashout:{cashout_id}",
                "action": str(action),
                "actor": actor,
                "beans": beans,
                "at": self._clock.now(),
            }
        )
