"""The stand-in presents the async API shapes the stores rely on (these tests also pass on a real MongoDB), and its
own deep copy of stored documents (cheaper than ``copy.deepcopy``) keeps what mongomock uses the copy for: reads
are copies, unchanged updates are not counted, a refused update rolls back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from pymongo import ReturnDocument, UpdateOne
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


async def test_an_unordered_bulk_of_guarded_updates_reports_how_many_matched(mongo_client: Any, db_name: str) -> None:
    col = mongo_client[db_name]["accounts"]
    await col.insert_many([{"_id": "a", "balance": 0, "pending": []}, {"_id": "b", "balance": 0, "pending": ["t"]}])
    ops = [
        UpdateOne({"_id": k, "pending": {"$ne": "t"}}, {"$inc": {"balance": 5}, "$push": {"pending": "t"}})
        for k in ("a", "b", "missing")
    ]
    result = await col.bulk_write(ops, ordered=False)
    assert result.matched_count == 1  # "b" already carries the marker, "missing" does not exist
    assert [d["balance"] async for d in col.find({}).sort("_id", 1)] == [5, 0]
    await col.update_many({"_id": {"$in": ["a", "b"]}, "pending": "t"}, {"$pull": {"pending": "t"}})
    assert [d["pending"] async for d in col.find({}).sort("_id", 1)] == [[], []]
    await mongo_client.drop_database(db_name)


async def test_an_update_changes_the_stored_document_and_not_what_was_read_before(
    mongo_client: Any, db_name: str
) -> None:
    coll = mongo_client[db_name]["accounts"]
    await coll.insert_one(
        {"_id": "a", "balance": 5, "pending": ["t1"], "meta": {"at": datetime(2026, 1, 1, tzinfo=UTC)}}
    )
    before = await coll.find_one({"_id": "a"})
    result = await coll.update_one({"_id": "a"}, {"$inc": {"balance": 2}, "$push": {"pending": "t2"}})
    after = await coll.find_one({"_id": "a"})
    assert (result.matched_count, result.modified_count) == (1, 1)
    assert before is not None and after is not None
    assert (before["balance"], before["pending"]) == (5, ["t1"])
    assert (after["balance"], after["pending"]) == (7, ["t1", "t2"])
    assert after["meta"]["at"] == datetime(2026, 1, 1, tzinfo=UTC)


async def test_an_update_that_changes_nothing_is_not_counted_as_a_modification(mongo_client: Any, db_name: str) -> None:
    coll = mongo_client[db_name]["accounts"]
    await coll.insert_one({"_id": "a", "pending": ["t1"], "nested": {"list": [{"x": 1}]}})
    same = await coll.update_one({"_id": "a"}, {"$set": {"nested.list": [{"x": 1}]}})
    changed = await coll.update_one({"_id": "a"}, {"$set": {"nested.list": [{"x": 2}]}})
    assert (same.matched_count, same.modified_count) == (1, 0)
    assert (changed.matched_count, changed.modified_count) == (1, 1)


async def test_an_update_that_breaks_a_unique_index_leaves_the_document_as_it_was(
    mongo_client: Any, db_name: str
) -> None:
    coll = mongo_client[db_name]["users"]
    await coll.create_index("email", unique=True)
    await coll.insert_one({"_id": "a", "email": "a@example.com", "tags": ["x"]})
    await coll.insert_one({"_id": "b", "email": "b@example.com", "tags": ["y"]})
    with pytest.raises(DuplicateKeyError):
        await coll.update_one({"_id": "b"}, {"$set": {"email": "a@example.com"}, "$push": {"tags": "z"}})
    assert await coll.find_one({"_id": "b"}) == {"_id": "b", "email": "b@example.com", "tags": ["y"]}


async def test_datetimes_anywhere_in_a_document_come_back_in_utc_to_the_millisecond(
    mongo_client: Any, db_name: str
) -> None:
    coll = mongo_client[db_name]["times"]
    at = datetime(2026, 11, 30, 6, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    in_utc = datetime(2026, 11, 30, 4, 0, 0, 123000, tzinfo=UTC)
    await coll.insert_one({"_id": "a", "at": at, "list": [at, {"at": at}], "nested": {"deep": [[at]]}})
    await coll.update_one({"_id": "a"}, {"$set": {"later": at}, "$push": {"list": at}})
    doc = await coll.find_one({"_id": "a", "at": {"$lte": at}})
    assert doc == {
        "_id": "a",
        "at": in_utc,
        "list": [in_utc, {"at": in_utc}, in_utc],
        "nested": {"deep": [[in_utc]]},
        "later": in_utc,
    }
    assert doc["at"].utcoffset() == timedelta(0)
