"""Ledger values: legs, transfers and their states."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.clock import as_utc
from wallet.accounts import Currency


class TransferKind(StrEnum):
    TOPUP = "topup"
    GIFT = "gift"
    REFUND = "refund"
    CHARGEBACK = "chargeback"
    CASHOUT = "cashout"
    REVERSAL = "reversal"
    ADJUSTMENT = "adjustment"
    MATURATION = "maturation"  # held beans becoming cash-out-able
    SUBSCRIPTION = "subscription"  # a paid subscription month: the streamer's share of its bean value (subscriptions/)
    SUB_GIFT = "sub_gift"  # a gifted subscription month paid in coins (subscriptions/)


class TransferState(StrEnum):
    PENDING = "pending"  # inserted; legs being applied
    APPLIED = "applied"  # every leg applied; markers still on the accounts
    SETTLED = "settled"  # markers removed: final
    REJECTED = "rejected"  # a guarded debit failed; applied legs undone: final once ``clean``


FINAL_STATES = (TransferState.SETTLED, TransferState.REJECTED)
APPLIED_STATES = (TransferState.APPLIED, TransferState.SETTLED)  # the money has moved


class HoldState(StrEnum):
    """Where a transfer's held amount is (``hold.state``): ``held`` until it matures or the transfer is reversed."""

    HELD = "held"
    MATURING = "maturing"  # claimed by the maturation; its transfer may be in flight
    MATURED = "matured"
    REVERSING = "reversing"  # claimed by a reversal; its transfer may be in flight
    REVERSED = "reversed"
    FAILED = "failed"  # the maturation was rejected (the held balance was short): for a human


class TopUpStatus(StrEnum):
    CREATING = "creating"  # stored; Stripe not asked yet (or its answer lost)
    OPEN = "open"  # Stripe has the payment; waiting for the buyer
    FAILED = "failed"  # Stripe refused to create it (may still be paid later if Stripe did create it)
    PAID = "paid"  # coins credited
    REFUNDED = "refunded"  # (partly) refunded: coins clawed back
    DISPUTED = "disputed"  # a chargeback: coins clawed back


UNPAID_TOPUP_STATES = (TopUpStatus.CREATING, TopUpStatus.OPEN, TopUpStatus.FAILED)


class CashoutStatus(StrEnum):
    REQUESTING = "requesting"  # stored; the hold transfer may be in flight
    PENDING = "pending"  # beans held, waiting for an admin
    FAILED = "failed"  # the hold was refused (or the request interrupted before it)
    APPROVING = "approving"  # an admin approved; the payout transfer may be in flight
    REJECTING = "rejecting"  # an admin rejected; the return transfer may be in flight
    PAID = "paid"
    REJECTED = "rejected"


INTERRUPTED_CASHOUT_STATES = (CashoutStatus.REQUESTING, CashoutStatus.APPROVING, CashoutStatus.REJECTING)


@dataclass(frozen=True, slots=True)
class Leg:
    """One account's side of a transfer; ``amount`` is signed (negative = debit)."""

    account: str
    currency: Currency
    amount: int
    force: bool = False  # a debit that ignores the account's freeze (claw-backs); never its balance guard

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int) or self.amount == 0:
            raise ValueError("a leg needs a non-zero integer amount")

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"account": self.account, "currency": self.currency.value, "amount": self.amount}
        if self.force:
            doc["force"] = True
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Leg:
        # A leg is an immutable value and the same few recur in every transfer read back (the system accounts', a
        # streamer's): one instance per distinct leg, kept for the next read (a dict lookup instead of an enum
        # lookup, a frozen dataclass's construction and its checks: ~3 us, 15 times per gift).
        key = (doc["account"], doc["currency"], doc["amount"], doc.get("force", False))
        leg = _LEGS.get(key)
        if leg is None or type(leg) is not cls:
            leg = cls(doc["account"], Currency(doc["currency"]), int(doc["amount"]), bool(doc.get("force", False)))
            if len(_LEGS) >= _LEGS_KEPT:
                _LEGS.clear()
            _LEGS[key] = leg
        return leg


#: ``Leg.from_doc``'s instances by ``(account, currency, amount, force)`` as read; cleared when it reaches this size.
_LEGS_KEPT = 20_000
_LEGS: dict[tuple[Any, Any, Any, Any], Leg] = {}


@dataclass(frozen=True, slots=True)
class Hold:
    """Part of a transfer available only later: ``amount`` moves ``held`` → ``available`` at ``matures_at``."""

    held: str
    available: str
    currency: Currency
    amount: int
    matures_at: datetime
    payer: str | None = None  # the user whose spending produced it: a claw-back from them may reverse it


@dataclass(frozen=True, slots=True)
class TransferSpec:
    id: str
    kind: TransferKind
    legs: tuple[Leg, ...]
    refs: dict[str, Any] = field(default_factory=dict)
    outbox: bool = False  # publish an event once applied (the transfer document is the outbox)
    hold: Hold | None = None

    def __post_init__(self) -> None:
        if not self.legs:
            raise ValueError("a transfer needs at least one leg")
        totals: dict[Currency, int] = {}
        for leg in self.legs:
            totals[leg.currency] = totals.get(leg.currency, 0) + leg.amount
        if any(totals.values()):
            raise ValueError(f"legs of transfer {self.id} do not balance: {totals}")
        if len({leg.account for leg in self.legs}) != len(self.legs):
            raise ValueError("an account may appear only once in a transfer")


@dataclass(frozen=True, slots=True)
class Transfer:
    id: str
    kind: TransferKind
    state: TransferState
    legs: tuple[Leg, ...]
    refs: dict[str, Any]
    created_at: datetime
    error: str | None
    result: dict[str, Any]

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Transfer:
        return cls(
            id=doc["_id"],
            kind=TransferKind(doc["kind"]),
            state=TransferState(doc["state"]),
            legs=tuple(Leg.from_doc(leg) for leg in doc["legs"]),
            refs=dict(doc.get("refs") or {}),
            created_at=as_utc(doc["created_at"]),
            error=doc.get("error"),
            result=dict(doc.get("result") or {}),
        )

    @property
    def applied(self) -> bool:
        return self.state in (TransferState.APPLIED, TransferState.SETTLED)

    def amount_for(self, account: str) -> int:
        return sum(leg.amount for leg in self.legs if leg.account == account)

    def public(self, accounts: set[str] | None = None) -> dict[str, Any]:
        legs = [leg for leg in self.legs if accounts is None or leg.account in accounts]
        return {
            "id": self.id,
            "kind": self.kind.value,
            "state": self.state.value,
            "created_at": self.created_at.isoformat(),
            "legs": [{"account": leg.account, "currency": leg.currency.value, "amount": leg.amount} for leg in legs],
            "refs": {k: v for k, v in self.refs.items() if not k.startswith("_")},  # "_" marks internal refs
            "error": self.error,
        }
