"""The wallet as other packages use it: balances, history, applying transfers and clawing coins back."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from core.clock import Clock, as_utc
from core.errors import ConflictError, InvalidInputError
from core.pagination import Page, clamp_limit, decode_time_cursor, encode_cursor
from wallet import holds
from wallet.accounts import (
    BEANS_ADJUSTMENTS,
    COINS_ADJUSTMENTS,
    COINS_LOSSES,
    COINS_STRIPE,
    Currency,
    user_accounts,
    user_beans,
    user_coins,
)
from wallet.errors import InsufficientFundsError, PaymentProviderUnavailableError
from wallet.ledger import Ledger
from wallet.models import Leg, Transfer, TransferKind, TransferSpec, TransferState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Balances:
    coins: int
    beans: int  # matured: can be cashed out
    beans_held: int  # from recent gifts, not matured yet
    beans_cashout: int  # in cash-out requests awaiting review
    frozen: bool
    debt: int  # coins refunded or disputed after they were spent

    def to_dict(self) -> dict[str, Any]:
        return {
            "coins": self.coins,
            "beans": self.beans,
            "beans_held": self.beans_held,
            "beans_cashout": self.beans_cashout,
            "frozen": self.frozen,
            "debt": self.debt,
        }


class WalletService:
    def __init__(self, ledger: Ledger, clock: Clock, *, lock_wait_s: float = 2.0) -> None:
        self.ledger = ledger
        self._clock = clock
        self._lock_wait_s = lock_wait_s

    async def execute(self, spec: TransferSpec) -> Transfer:
        return await self.ledger.execute(spec)

    async def balances(self, user_id: str) -> Balances:
        names = user_accounts(user_id)
        docs = {d["_id"]: d for d in await self.ledger.store.get_accounts(list(names.values()))}

        def bal(key: str) -> int:
            return int(docs.get(names[key], {}).get("balance", 0))

        coins_doc = docs.get(names["coins"], {})
        return Balances(
            coins=bal("coins"),
            beans=bal("beans"),
            beans_held=bal("beans_held"),
            beans_cashout=bal("beans_cashout"),
            frozen=bool(coins_doc.get("frozen", False)),
            debt=int(coins_doc.get("debt", 0)),
        )

    async def transactions(self, user_id: str, *, cursor: str | None, limit: int | None) -> Page:
        """The user's transfers, newest first, showing only their own legs."""
        size = clamp_limit(limit)
        mine = set(user_accounts(user_id).values())
        before = None
        if cursor:
            before = decode_time_cursor(cursor)
        docs = await self.ledger.store.applied_touching(sorted(mine), before=before, limit=size + 1)
        items = [Transfer.from_doc(d).public(mine) for d in docs[:size]]
        next_cursor = None
        if len(docs) > size:
            last = docs[size - 1]
            at_ms = int(as_utc(last["created_at"]).timestamp() * 1000)
            next_cursor = encode_cursor([at_ms, last["_id"]])
        return Page(items, next_cursor)

    async def totals_by(
        self, kind: TransferKind, match: dict[str, Any], group_by: str, amount: str, limit: int
    ) -> list[tuple[str, int, int]]:
        """Sum ``refs.<amount>`` of applied transfers of ``kind`` matching ``refs.<k> = v``, by ``refs.<group_by>``."""
        rows = await self.ledger.store.sum_applied_refs(kind, match, group_by, amount, limit)
        return [(str(r["_id"]), int(r["total"]), int(r["count"])) for r in rows]

    async def clawback(self, tid: str, kind: TransferKind, user_id: str, coins: int, refs: dict[str, Any]) -> Transfer:
        """Take ``coins`` back from a user (refund or chargeback), once per ``tid``.

        The account is frozen first (no gift can spend from it meanwhile) and claw-backs of one account run one at
        a time, so the amount that can be taken is stable. What the balance cannot cover is written off to
        ``coins:losses`` and kept on the account as ``debt``; the account stays frozen until support clears it.
        Never a negative balance.
        """
        account = user_coins(user_id)
        await self.ledger.store.ensure_account(account, Currency.COINS.value, user_id)
        existing = await self.ledger.get(tid)
        if existing is not None and existing.state in (TransferState.SETTLED, TransferState.REJECTED):
            await self._finish_clawback(account, existing)
            return existing
        doc = await self.ledger.store.add_lock(account, tid)
        doc = await self._wait_for_turn(account, tid, doc)
        if existing is None:
            doc = await self._cover_from_holds(account, user_id, coins, doc)
            taken = min(max(0, int(doc["balance"])), coins)
            short = coins - taken
            legs = [Leg(COINS_STRIPE, Currency.COINS, coins)]
            if taken:
                legs.append(Leg(account, Currency.COINS, -taken, force=True))
            if short:
                legs.append(Leg(COINS_LOSSES, Currency.COINS, -short))
            spec = TransferSpec(
                tid,
                kind,
                tuple(legs),
                refs={**refs, "user_id": user_id, "coins": coins, "taken": taken, "short": short},
            )
        else:
            spec = TransferSpec(tid, kind, existing.legs, refs=existing.refs)
        transfer = await self.ledger.execute(spec)
        await self._finish_clawback(account, transfer)
        return transfer

    async def _cover_from_holds(self, account: str, user_id: str, coins: int, doc: dict[str, Any]) -> dict[str, Any]:
        """Before writing coins off: reverse the user's own recent gifts whose beans are still held (newest first)
        until the balance covers the claw-back. That is what the holding period is for."""
        if int(doc["balance"]) >= coins:
            return doc
        held = await self.ledger.store.holds_paid_by(user_id, limit=200)
        for transfer in held:
            await holds.reverse(self.ledger, transfer, "clawback")
            fresh = await self.ledger.store.get_account(account)
            assert fresh is not None
            doc = fresh
            if int(doc["balance"]) >= coins:
                break
        return doc

    async def _wait_for_turn(self, account: str, tid: str, doc: dict[str, Any] | None) -> dict[str, Any]:
        deadline = time.monotonic() + self._lock_wait_s
        for _ in range(1_000):
            assert doc is not None
            locks = list(doc.get("locks") or [])
            if not locks or locks[0] == tid:
                return doc
            ahead = await self.ledger.get(locks[0])
            if ahead is not None and ahead.state in (TransferState.SETTLED, TransferState.REJECTED):
                await self._finish_clawback(account, ahead)  # its request died after the money moved
            elif time.monotonic() >= deadline:
                break
            else:
                await asyncio.sleep(0.02)
            doc = await self.ledger.store.get_account(account)
        raise PaymentProviderUnavailableError("another claw-back on this account is in progress; retry later")

    async def _finish_clawback(self, account: str, transfer: Transfer) -> None:
        if transfer.state is TransferState.SETTLED:
            await self.ledger.store.release_lock(account, transfer.id, int(transfer.refs.get("short", 0)))
        elif transfer.state is TransferState.REJECTED:
            # Cannot happen while claw-backs are serialized. Book the whole amount as owed so the account stays
            # frozen for a human to look at, and let the next claw-back in line proceed.
            log.error("claw-back %s was rejected (%s); account %s stays frozen", transfer.id, transfer.error, account)
            await self.ledger.store.release_lock(account, transfer.id, int(transfer.refs.get("coins", 0)))

    async def set_frozen(self, user_id: str, frozen: bool) -> Balances:
        """Support's switch (after settling a debt outside the ledger); unfreezing clears the recorded debt."""
        await self.ledger.store.ensure_account(user_coins(user_id), Currency.COINS.value, user_id)
        await self.ledger.store.set_frozen(user_coins(user_id), frozen, clear_debt=not frozen)
        return await self.balances(user_id)

    async def adjust(
        self, actor_id: str, user_id: str, currency: Currency, amount: int, reason: str, key: str
    ) -> Transfer:
        """Support's correction: a new ``adjustment`` transfer (never an edit) between the user's account and the
        currency's adjustments account, once per ``key``. A debit needs the balance to cover it."""
        if isinstance(amount, bool) or not isinstance(amount, int) or amount == 0:
            raise InvalidInputError("amount must be a non-zero integer", field="amount")
        account = user_coins(user_id) if currency is Currency.COINS else user_beans(user_id)
        system = COINS_ADJUSTMENTS if currency is Currency.COINS else BEANS_ADJUSTMENTS
        spec = TransferSpec(
            f"adjustment:{key}",
            TransferKind.ADJUSTMENT,
            (Leg(account, currency, amount, force=True), Leg(system, currency, -amount)),
            refs={"user_id": user_id, "actor_id": actor_id, "reason": reason[:200]},
        )
        transfer = await self.ledger.execute(spec)
        if transfer.refs.get("user_id") != user_id or transfer.amount_for(account) != amount:
            raise ConflictError("this idempotency key was used for another adjustment", code="idempotency_key_reused")
        if transfer.state is TransferState.REJECTED:
            raise InsufficientFundsError("the balance does not cover this correction")
        return transfer
