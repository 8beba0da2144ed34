"""MongoDB access for the ledger: every call is one single-document atomic operation.

Collections owned here: ``wallet_accounts``, ``wallet_transfers``. (Top-ups, Stripe events, cash-outs and the
audit trail live in ``store_payments.py``.)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError, DuplicateKeyError

from wallet.models import APPLIED_STATES, HoldState, TransferKind, TransferState

#: MongoDB's error code for a duplicate key.
DUPLICATE_KEY = 11000


class DuplicateTransferError(Exception):
    """A transfer with this id exists already."""


class LedgerStore:
    def __init__(self, db: Any) -> None:
        self._accounts = db["wallet_accounts"]
        self._transfers = db["wallet_transfers"]

    async def create_indexes(self) -> None:
        await self._transfers.create_index(
            [("accounts", ASCENDING), ("created_at", DESCENDING), ("_id", DESCENDING)], name="by_account"
        )
        await self._transfers.create_index([("state", ASCENDING), ("lease_until", ASCENDING)], name="in_flight")
        await self._transfers.create_index(
            [("outbox", ASCENDING), ("published", ASCENDING), ("lease_until", ASCENDING)], name="outbox"
        )
        await self._transfers.create_index([("hold.state", ASCENDING), ("hold.matures_at", ASCENDING)], name="holds")
        await self._transfers.create_index(
            [("hold.payer", ASCENDING), ("hold.state", ASCENDING), ("created_at", DESCENDING)], name="holds_by_payer"
        )
        await self._transfers.create_index(
            [("kind", ASCENDING), ("refs.streamer_id", ASCENDING), ("state", ASCENDING)], name="by_streamer"
        )

    # Transfers
    async def insert_transfer(self, doc: dict[str, Any]) -> None:
        try:
            await self._transfers.insert_one(doc)
        except DuplicateKeyError:
            raise DuplicateTransferError(doc["_id"]) from None

    async def insert_transfers(self, docs: list[dict[str, Any]]) -> set[int]:
        """``insert_transfer`` for several transfers in one round trip (unordered: each document on its own).
        Returns the positions in ``docs`` of those whose id existed already (that document was left as it was;
        of two with one id, the second)."""
        try:
            await self._transfers.insert_many(docs, ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return {int(e["index"]) for e in errors}
        return set()

    async def get_transfer(self, tid: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._transfers.find_one({"_id": tid})
        return doc

    async def _move(self, tid: str, was: TransferState, fields: dict[str, Any]) -> bool:
        result = await self._transfers.update_one({"_id": tid, "state": was.value}, {"$set": fields})
        return bool(result.matched_count)

    async def mark_applied(self, tid: str, result: dict[str, Any], at: datetime) -> bool:
        """``pending`` → ``applied`` with its result; False if it was not pending."""
        return await self._move(
            tid, TransferState.PENDING, {"state": TransferState.APPLIED.value, "result": result, "updated_at": at}
        )

    async def mark_applied_many(self, results: list[tuple[str, dict[str, Any]]], at: datetime) -> int:
        """``mark_applied`` for several transfers in one round trip (each document on its own, each with its own
        result); returns how many moved."""
        written = await self._transfers.bulk_write(
            [
                UpdateOne(
                    {"_id": tid, "state": TransferState.PENDING.value},
                    {"$set": {"state": TransferState.APPLIED.value, "result": result, "updated_at": at}},
                )
                for tid, result in results
            ],
            ordered=False,
        )
        return int(written.matched_count)

    async def mark_settled(self, tid: str, at: datetime) -> bool:
        """``applied`` → ``settled``; False if it was not applied."""
        return await self._move(tid, TransferState.APPLIED, {"state": TransferState.SETTLED.value, "updated_at": at})

    async def mark_rejected(self, tid: str, code: str, at: datetime) -> bool:
        """``pending`` → ``rejected`` (with the error code), not yet clean: its applied legs still need undoing."""
        return await self._move(
            tid,
            TransferState.PENDING,
            {"state": TransferState.REJECTED.value, "error": code, "clean": False, "updated_at": at},
        )

    async def mark_undone(self, tid: str) -> None:
        """Every applied leg of the rejected transfer has been undone."""
        await self._move(tid, TransferState.REJECTED, {"clean": True})

    async def mark_published(self, tid: str) -> None:
        """Its outbox event has been published."""
        await self._transfers.update_one({"_id": tid}, {"$set": {"published": True}})

    async def mark_published_many(self, tids: list[str]) -> None:
        """``mark_published`` for several transfers in one round trip."""
        await self._transfers.update_many({"_id": {"$in": tids}}, {"$set": {"published": True}})

    async def mark_settled_many(self, tids: list[str], at: datetime, *, published: bool) -> None:
        """``applied`` → ``settled`` for several transfers in one round trip (each document on its own); with
        ``published`` their outbox events were published too."""
        fields: dict[str, Any] = {"state": TransferState.SETTLED.value, "updated_at": at}
        if published:
            fields["published"] = True
        await self._transfers.update_many(
            {"_id": {"$in": tids}, "state": TransferState.APPLIED.value}, {"$set": fields}
        )

    async def claim_lease(
        self, tid: str, *, lease_was: datetime | None, lease_until: datetime, owner: str
    ) -> dict[str, Any] | None:
        """Take the transfer's lease if it still is ``lease_was`` (nobody renewed it since it was read), or
        unconditionally with ``lease_was=None``. Returns the transfer after, or None if somebody else holds it."""
        query: dict[str, Any] = {"_id": tid}
        if lease_was is not None:
            query["lease_until"] = lease_was
        doc: dict[str, Any] | None = await self._transfers.find_one_and_update(
            query,
            {"$set": {"lease_until": lease_until, "lease_owner": owner}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def claim_hold(self, tid: str, working: HoldState) -> bool:
        """``held`` → ``working`` (maturing or reversing): the two fates of a hold exclude each other."""
        result = await self._transfers.update_one(
            {"_id": tid, "hold.state": HoldState.HELD.value}, {"$set": {"hold.state": working.value}}
        )
        return bool(result.matched_count)

    async def finish_hold(self, tid: str, working: HoldState, final: HoldState) -> None:
        await self._transfers.update_one(
            {"_id": tid, "hold.state": working.value}, {"$set": {"hold.state": final.value}}
        )

    async def _find(
        self, query: dict[str, Any], *, limit: int, sort: list[tuple[str, int]] | None = None
    ) -> list[dict[str, Any]]:
        cursor = self._transfers.find(query)
        if sort:
            cursor = cursor.sort(sort)
        docs: list[dict[str, Any]] = await cursor.limit(limit).to_list(None)
        return docs

    async def unfinished(self, *, lease_expired_before: datetime | None, limit: int) -> list[dict[str, Any]]:
        """Transfers a driver has to move on, oldest first: pending or applied, rejected but not undone, settled
        with an unpublished outbox event. With ``lease_expired_before``, only those whose lease ran out by then."""
        query: dict[str, Any] = {
            "$or": [
                {"state": {"$in": [TransferState.PENDING.value, TransferState.APPLIED.value]}},
                {"state": TransferState.REJECTED.value, "clean": False},
                {"state": TransferState.SETTLED.value, "outbox": True, "published": False},
            ]
        }
        if lease_expired_before is not None:
            query["lease_until"] = {"$lt": lease_expired_before}
        return await self._find(query, limit=limit, sort=[("created_at", ASCENDING)])

    async def holds_due(self, now: datetime, *, limit: int) -> list[dict[str, Any]]:
        """Settled transfers whose hold has matured by ``now`` and is still held (or its maturation interrupted)."""
        return await self._find(
            {
                "state": TransferState.SETTLED.value,
                "hold.state": {"$in": [HoldState.HELD.value, HoldState.MATURING.value]},
                "hold.matures_at": {"$lte": now},
            },
            limit=limit,
        )

    async def holds_reversing(self, *, limit: int) -> list[dict[str, Any]]:
        """Settled transfers whose reversal was claimed but not finished."""
        return await self._find(
            {"state": TransferState.SETTLED.value, "hold.state": HoldState.REVERSING.value}, limit=limit
        )

    async def holds_paid_by(self, payer: str, *, limit: int) -> list[dict[str, Any]]:
        """Settled transfers paid by ``payer`` whose amount is still held (or being reversed), newest first."""
        return await self._find(
            {
                "state": TransferState.SETTLED.value,
                "hold.payer": payer,
                "hold.state": {"$in": [HoldState.HELD.value, HoldState.REVERSING.value]},
            },
            limit=limit,
            sort=[("created_at", DESCENDING), ("_id", DESCENDING)],
        )

    async def applied_touching(
        self, accounts: list[str], *, before: tuple[datetime, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Applied or settled transfers with a leg on any of ``accounts``, newest first, after the page that ended
        at ``before`` (its last ``created_at`` and id)."""
        query: dict[str, Any] = {"accounts": {"$in": accounts}, "state": {"$in": [s.value for s in APPLIED_STATES]}}
        if before is not None:
            at, last_id = before
            query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": last_id}}]
        return await self._find(query, limit=limit, sort=[("created_at", DESCENDING), ("_id", DESCENDING)])

    async def iter_transfers(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self._transfers.find({}):
            yield doc

    async def sum_applied_refs(
        self, kind: TransferKind, match: dict[str, Any], group_by: str, amount: str, limit: int
    ) -> list[dict[str, Any]]:
        """Applied transfers of ``kind`` whose ``refs`` equal ``match``: ``refs.<amount>`` summed by
        ``refs.<group_by>``, largest first; rows ``{"_id": group, "total", "count"}``."""
        query: dict[str, Any] = {"kind": kind.value, "state": {"$in": [s.value for s in APPLIED_STATES]}}
        query.update({f"refs.{k}": v for k, v in match.items()})
        pipeline: list[dict[str, Any]] = [
            {"$match": query},
            {"$group": {"_id": "$refs." + group_by, "total": {"$sum": "$refs." + amount}, "count": {"$sum": 1}}},
            {"$sort": {"total": -1, "_id": 1}},
            {"$limit": limit},
        ]
        cursor = await self._transfers.aggregate(pipeline)
        docs: list[dict[str, Any]] = await cursor.to_list(None)
        return docs

    # Accounts
    async def ensure_account(self, account: str, currency: str, owner: str | None) -> None:
        await self._accounts.update_one(
            {"_id": account},
            {
                "$setOnInsert": {
                    "currency": currency,
                    "owner": owner,
                    "balance": 0,
                    "pending": [],
                    "locks": [],
                    "frozen": False,
                    "debt": 0,
                }
            },
            upsert=True,
        )

    async def get_account(self, account: str) -> dict[str, Any] | None:
        doc: dict[str, Any] | None = await self._accounts.find_one({"_id": account})
        return doc

    async def get_accounts(self, accounts: list[str]) -> list[dict[str, Any]]:
        docs: list[dict[str, Any]] = await self._accounts.find({"_id": {"$in": accounts}}).to_list(None)
        return docs

    async def iter_accounts(self) -> AsyncIterator[dict[str, Any]]:
        async for doc in self._accounts.find({}):
            yield doc

    async def apply_leg(
        self, account: str, tid: str, amount: int, *, min_balance: int | None, honour_freeze: bool
    ) -> dict[str, Any] | None:
        """``$inc`` the balance and leave ``tid`` as a marker, unless the marker is there already or a guard fails.

        ``min_balance``: the balance must be at least this before the change (a debit's cover). Returns the
        account after the change, or None when nothing matched.
        """
        query: dict[str, Any] = {"_id": account, "pending": {"$ne": tid}}
        if min_balance is not None:
            query["balance"] = {"$gte": min_balance}
        if honour_freeze:
            query["frozen"] = {"$ne": True}
        doc: dict[str, Any] | None = await self._accounts.find_one_and_update(
            query,
            {"$inc": {"balance": amount}, "$push": {"pending": tid}},
            return_document=ReturnDocument.AFTER,
        )
        return doc

    async def undo_leg(self, account: str, tid: str, amount: int) -> bool:
        """Reverse an applied leg of a rejected transfer; the marker makes it happen at most once."""
        result = await self._accounts.update_one(
            {"_id": account, "pending": tid}, {"$inc": {"balance": -amount}, "$pull": {"pending": tid}}
        )
        return bool(result.matched_count)

    async def apply_legs_unguarded(self, legs: list[tuple[str, int]], tid: str) -> int:
        """``apply_leg`` without guards for several accounts in one round trip (an unordered bulk write); returns how
        many matched (an account that is missing or already carries the marker does not)."""
        result = await self._accounts.bulk_write(
            [
                UpdateOne(
                    {"_id": account, "pending": {"$ne": tid}}, {"$inc": {"balance": amount}, "$push": {"pending": tid}}
                )
                for account, amount in legs
            ],
            ordered=False,
        )
        return int(result.matched_count)

    async def apply_legs_grouped(self, legs: list[tuple[str, int, list[str]]]) -> int:
        """The legs of several transfers that no guard can refuse, one update per account for all of them (an
        unordered bulk write): ``(account, the sum of their amounts, their ids)``. Each update applies its sum and
        leaves every id as a marker, only if none of the ids is there yet (so all of an account's legs in it go
        in at once or none does). Returns how many accounts matched."""
        result = await self._accounts.bulk_write(
            [
                UpdateOne(
                    {"_id": account, "pending": {"$nin": tids}},
                    {"$inc": {"balance": amount}, "$push": {"pending": {"$each": tids}}},
                )
                for account, amount, tids in legs
            ],
            ordered=False,
        )
        return int(result.matched_count)

    async def release_marker(self, account: str, tid: str) -> None:
        await self._accounts.update_one({"_id": account, "pending": tid}, {"$pull": {"pending": tid}})

    async def release_markers(self, accounts: list[str], tid: str) -> None:
        """``release_marker`` for several accounts in one round trip."""
        await self._accounts.update_many({"_id": {"$in": accounts}, "pending": tid}, {"$pull": {"pending": tid}})

    async def release_markers_of(self, accounts: list[str], tids: list[str]) -> None:
        """The markers of several transfers off the accounts they touched, in one round trip (each document on its
        own; a marker is only ever on an account its transfer touched)."""
        # ``$pullAll`` (remove these values), not ``$pull`` with ``$in`` (remove what matches a condition): the same for
        # plain ids, and the stand-in evaluates a condition per array element (~11x the CPU on a hot account's list).
        await self._accounts.update_many(
            {"_id": {"$in": accounts}, "pending": {"$in": tids}}, {"$pullAll": {"pending": tids}}
        )

    async def add_lock(self, account: str, tid: str) -> dict[str, Any] | None:
        """Freeze the account under ``tid`` (idempotent); returns the account after."""
        await self._accounts.update_one(
            {"_id": account, "locks": {"$ne": tid}}, {"$push": {"locks": tid}, "$set": {"frozen": True}}
        )
        return await self.get_account(account)

    async def release_lock(self, account: str, tid: str, debt: int) -> None:
        """Drop ``tid``'s lock, booking ``debt`` (what could not be clawed back) once; unfreeze if nothing is owed."""
        await self._accounts.update_one(
            {"_id": account, "locks": tid}, {"$pull": {"locks": tid}, "$inc": {"debt": debt}}
        )
        await self._accounts.update_one(
            {"_id": account, "locks": {"$size": 0}, "debt": {"$lte": 0}, "frozen": True}, {"$set": {"frozen": False}}
        )

    async def set_frozen(self, account: str, frozen: bool, *, clear_debt: bool = False) -> None:
        update: dict[str, Any] = {"frozen": frozen}
        if clear_debt:
            update["debt"] = 0
        await self._accounts.update_one({"_id": account}, {"$set": update})
