"""The stand-in presents the async API shapes the stores rely on (these tests also pass on a real MongoDB)."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError


async def test_crud_cursor_and_guarded_updates(mongo_client: Any, db_name: str) -> None:
    col = mongo_client[db_name]["things"]
    await col.create_index("name", unique=True)
    await col.insert_one({"_id": "a", "name": "a", "balance": 5})
    await col.insert_many([{"_id": "b", "name": "b", "balance": 1}, {"_id": "c", "name": "c", "balance": 3}])
    with pytest.raises(DuplicateKeyError):
        await col.insert_one({"_id": "d", "name": "a"})
    # A guarded debit: only applies where the balance covers it.
    assert await col.find_one_and_update({"_id": "b", "balance": {"$gte": 2}}, {"$inc": {"balance": -2}}) is None
    doc = await col.find_one_and_update(
        {"_id": "a", "balance": {"$gte": 2}}, {"$inc": {"balance": -2}}, return_document=ReturnDocument.AFTER
    )
    assert doc is not None and doc["balance"] == 3
    names = [d["name"] async for d in col.find({}).sort("balance", -1).limit(2)]
    assert names in (["a", "c"], ["c", "a"])
    assert len(await col.find({"balance": {"$gt": 0}}).to_list(None)) == 3
    cursor = await col.aggregate([{"$group": {"_id": None, "total": {"$sum": "$balance"}}}])
    assert (await cursor.to_list(None))[0]["total"] == 7
    assert await col.count_documents({}) == 3
    await mongo_client.drop_database(db_name)
