"""MongoDB access for battles.

Collections owned here: ``pk_battles`` (one document per battle: sides, state, deadlines, live scores, result),
``pk_slots`` (``_id`` = a streamer's user id while they are in an invitation or a battle: one at a time, by the unique
``_id``), ``pk_counted`` (``_id`` = a gift's transfer id once its beans were added to a live score; dropped when the
battle closes), ``pk_queue`` (``_id`` = a streamer waiting for a random opponent, until a deadline).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError

from battles.models import ACTIVE_STATES, Battle, BattleState

_ACTIVE = [s.value for s in ACTIVE_STATES]
DUPLICATE_KEY = 11000


class BattleStore:
    def __init__(self, db: Any) -> None:
        self._battles = db["pk_battles"]
        self._slots = db["pk_slots"]
        self._counted = db["pk_counted"]
        self._queue = db["pk_queue"]

    async def create_indexes(self) -> None:
        await self._battles.create_index([("state", ASCENDING), ("due_at", ASCENDING)], name="due")
        await self._battles.create_index([("streams", ASCENDING), ("state", ASCENDING)], name="by_stream")
        await self._counted.create_index([("battle_id", ASCENDING)], name="by_battle")
        await self._queue.create_index([("since", ASCENDING)], name="by_age")

    # Battles
    async def insert(self, battle: Battle) -> None:
        await self._battles.insert_one(battle.to_doc())

    async def get(self, battle_id: str) -> Battle | None:
        doc = await self._battles.find_one({"_id": battle_id})
        return Battle.from_doc(doc) if doc else None

    async def replace_if_version(self, battle: Battle, expected_version: int) -> bool:
        """Store ``battle`` (a step's outcome) only if the stored one is still at ``expected_version``: of two
        nodes taking the same step, or a step racing a score, one wins and the other reads again."""
        doc = battle.to_doc()
        doc.pop("_id")
        result = await self._battles.update_one({"_id": battle.id, "version": expected_version}, {"$set": doc})
        return bool(result.modified_count)

    async def active_for_stream(self, stream_id: str) -> Battle | None:
        doc = await self._battles.find_one({"streams": stream_id, "state": {"$in": _ACTIVE}})
        return Battle.from_doc(doc) if doc else None

    async def due(self, now: datetime, limit: int = 100) -> list[Battle]:
        cursor = self._battles.find({"state": {"$in": _ACTIVE}, "due_at": {"$lte": now}}).limit(limit)
        return [Battle.from_doc(d) for d in await cursor.to_list(None)]

    async def next_due(self) -> datetime | None:
        docs = await (
            self._battles.find({"state": {"$in": _ACTIVE}, "due_at": {"$ne": None}})
            .sort([("due_at", ASCENDING)])
            .limit(1)
            .to_list(None)
        )
        return Battle.from_doc(docs[0]).due_at if docs else None

    async def add_scores(self, battle_id: str, a: int, b: int) -> Battle | None:
        """Add beans to both sides' live scores (either may be 0) while the battle is live, in one write; the battle
        after it, or None."""
        doc = await self._battles.find_one_and_update(
            {"_id": battle_id, "state": BattleState.LIVE.value},
            {"$inc": {"score_a": a, "score_b": b, "version": 1}},
            return_document=ReturnDocument.AFTER,
        )
        return Battle.from_doc(doc) if doc else None

    # Counted gifts (the live score's idempotency)
    async def mark_counted(self, transfer_ids: list[str], battle_id: str) -> set[str]:
        """Mark transfers counted, in one write; the ones marked now (the others were counted before)."""
        if not transfer_ids:
            return set()
        try:
            await self._counted.insert_many([{"_id": t, "battle_id": battle_id} for t in transfer_ids], ordered=False)
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            return set(transfer_ids) - {transfer_ids[int(e["index"])] for e in errors}
        return set(transfer_ids)

    async def drop_counted(self, battle_id: str) -> None:
        await self._counted.delete_many({"battle_id": battle_id})

    # Slots: one invitation or battle per streamer
    async def claim_slots(self, battle_id: str, holders: list[tuple[str, str, str]]) -> str | None:
        """Claim every ``(user_id, stream_id, side)`` for ``battle_id``; all or none. None on success, else the user id
        whose slot is taken (by a battle that is still active: a slot a crash left behind is taken over)."""
        taken: list[str] = []
        for user_id, stream_id, side in holders:
            if not await self._claim(battle_id, user_id, stream_id, side):
                await self._slots.delete_many({"_id": {"$in": taken}, "battle_id": battle_id})
                return user_id
            taken.append(user_id)
        return None

    async def _claim(self, battle_id: str, user_id: str, stream_id: str, side: str) -> bool:
        doc = {"_id": user_id, "battle_id": battle_id, "stream_id": stream_id, "side": side, "live_until": None}
        for _ in range(2):
            try:
                await self._slots.insert_one(doc)
                return True
            except DuplicateKeyError:
                held = await self._slots.find_one({"_id": user_id})
                if held is None:
                    continue
                other = await self._battles.find_one({"_id": held["battle_id"], "state": {"$in": _ACTIVE}})
                if other is not None:
                    return False
                await self._slots.delete_one({"_id": user_id, "battle_id": held["battle_id"]})  # stale
        return False

    async def release_slots(self, battle_id: str, user_ids: list[str]) -> None:
        await self._slots.delete_many({"_id": {"$in": user_ids}, "battle_id": battle_id})

    async def mark_slots_live(self, battle_id: str, user_ids: list[str], until: datetime | None) -> None:
        """While ``live_until`` is ahead, gifts to these streamers' streams count for ``battle_id``."""
        await self._slots.update_many(
            {"_id": {"$in": user_ids}, "battle_id": battle_id}, {"$set": {"live_until": until}}
        )

    async def live_slot(self, user_id: str, now: datetime) -> tuple[str, str, str] | None:
        """(battle id, stream id, side) of the battle this streamer is live in at ``now``: one read by ``_id``."""
        doc = await self._slots.find_one({"_id": user_id, "live_until": {"$gt": now}})
        return (str(doc["battle_id"]), str(doc["stream_id"]), str(doc["side"])) if doc else None

    # The random-match queue
    async def enqueue(
        self, user_id: str, stream_id: str, nickname: str | None, since: datetime, until: datetime
    ) -> None:
        await self._queue.replace_one(
            {"_id": user_id},
            {"_id": user_id, "stream_id": stream_id, "nickname": nickname, "since": since, "until": until},
            upsert=True,
        )

    async def take_partner(self, user_id: str, now: datetime) -> dict[str, Any] | None:
        """Remove and return the longest-waiting other streamer whose wait has not run out."""
        doc: dict[str, Any] | None = await self._queue.find_one_and_delete(
            {"_id": {"$ne": user_id}, "until": {"$gt": now}}, sort=[("since", ASCENDING)]
        )
        return doc

    async def dequeue(self, user_id: str) -> bool:
        result = await self._queue.delete_one({"_id": user_id})
        return bool(result.deleted_count)

    async def dequeue_stream(self, stream_id: str) -> None:
        await self._queue.delete_many({"stream_id": stream_id})

    async def purge_queue(self, now: datetime) -> None:
        await self._queue.delete_many({"until": {"$lte": now}})
