"""The stand-in presents the async API shapes the stores rely on (these tests also pass on a real MongoDB), and its
own deep copy of stored documents (cheaper than ``copy.deepcopy``) keeps what mongomock uses the copy for: reads
are copies, unchanged updates are not counted, a refused update rolls back."""

from __future__ import annotations

import contextlib
import copy
from collections import OrderedDict
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from mongomock.filtering import filter_applies
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


# A scan's pre-check (hub/mongo_standin.py ``_precheck``) may only skip documents the full filter does
# not match: checked against mongomock's own evaluation on generated documents and filters (values of several types,
# arrays, embedded documents, missing fields, naive and aware datetimes), and through the client on the reconciler's
# queries.
_T0 = datetime(2026, 11, 30, 12, 0, 0)


def _applies(filter: Any, doc: Any) -> bool:
    """mongomock's own evaluation of ``filter`` on ``doc`` (what its scan did on every document)."""
    return bool(filter_applies(filter, doc))  # type: ignore[no-untyped-call]


_VALUES = st.one_of(
    st.sampled_from(["pending", "applied", "settled", "rejected", "held", ""]),
    st.integers(-2, 2),
    st.booleans(),
    st.none(),
    st.floats(-2, 2, allow_nan=False),
    st.sampled_from([_T0, _T0 + timedelta(seconds=1), _T0.replace(tzinfo=UTC)]),
)
_LEAF = st.one_of(_VALUES, st.lists(_VALUES, max_size=3))
_DOC_VALUE = st.one_of(_LEAF, st.dictionaries(st.sampled_from(["state", "at"]), _LEAF, max_size=2))
_FIELDS = st.sampled_from(["state", "n", "at", "hold.state", "hold.at", "flag"])
_DOCS = st.dictionaries(st.sampled_from(["state", "n", "at", "hold", "flag"]), _DOC_VALUE, max_size=5)
_CONDITION = st.one_of(
    _VALUES,
    st.builds(lambda v: {"$eq": v}, _VALUES),
    st.builds(lambda v: {"$in": v}, st.lists(st.sampled_from(["pending", "applied", "held", "x"]), max_size=3)),
    st.builds(lambda v: {"$in": v}, st.lists(_VALUES, max_size=3)),
    st.builds(lambda v: {"$nin": v}, st.lists(_VALUES, max_size=2)),
    st.builds(lambda v: {"$ne": v}, _VALUES),
    st.builds(lambda v: {"$exists": v}, st.booleans()),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$lt", "$lte", "$gt", "$gte"]), _VALUES),
    st.builds(lambda a, b: {"$gte": a, "$lt": b}, _VALUES, _VALUES),
)
_FLAT = st.dictionaries(_FIELDS, _CONDITION, min_size=1, max_size=3)
_FILTERS = st.one_of(
    _FLAT,
    st.builds(lambda branches, rest: {"$or": branches, **rest}, st.lists(_FLAT, min_size=1, max_size=3), _FLAT),
    st.builds(lambda branches: {"$and": branches}, st.lists(_FLAT, min_size=1, max_size=2)),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_FILTERS, _DOCS)
def test_a_scans_precheck_skips_only_documents_the_filter_does_not_match(filter: Any, doc: Any) -> None:
    from hub.mongo_standin import _precheck

    excluded = _precheck(filter)
    if excluded is None:
        return
    try:
        matches = _applies(filter, doc)
    except Exception:  # mongomock refuses the pair (naive against aware datetimes; never via the client): no claim
        return
    if excluded(doc):
        assert not matches


async def test_a_scan_finds_what_the_full_filter_finds(mongo_client: Any, db_name: str) -> None:
    coll = mongo_client[db_name]["wallet_transfers"]
    now = datetime(2026, 11, 30, 12, 0, 0, tzinfo=UTC)
    states = ["pending", "applied", "settled", "rejected"]
    docs = [
        {
            "_id": f"t{i}",
            "state": states[i % 4] if i % 13 else ["odd", "pending"][i % 2],  # arrays: left to the full filter
            "clean": i % 3 == 0,
            "outbox": i % 2 == 0,
            "published": i % 5 == 0,
            "lease_until": now + timedelta(seconds=(i % 7) - 3),
            "created_at": now + timedelta(milliseconds=i),
            **({"hold": {"state": ["held", "maturing", "matured"][i % 3], "matures_at": now}} if i % 4 == 2 else {}),
        }
        for i in range(200)
    ]
    await coll.insert_many(docs)
    query = {
        "$or": [
            {"state": {"$in": ["pending", "applied"]}},
            {"state": "rejected", "clean": False},
            {"state": "settled", "outbox": True, "published": False},
        ],
        "lease_until": {"$lt": now},
    }
    holds = {"state": "settled", "hold.state": {"$in": ["held", "maturing"]}, "hold.matures_at": {"$lte": now}}
    everything = await coll.find({}).to_list(None)
    for q in (query, holds, {"hold.state": "matured"}, {"state": {"$ne": "settled"}, "clean": True}):
        found: list[str] = sorted([d["_id"] async for d in coll.find(q)])
        assert found == sorted(d["_id"] for d in everything if _applies(q, d))
        assert found


# The matcher of the ledger's single-document filters (hub/mongo_standin.py ``_matcher``) decides every filter and
# document as mongomock's own evaluation does: the same answer, or the same error. Its fields and values are those
# of the ledger's steps (markers on an account, balances, flags, states) plus the types next to them that it must leave
# to mongomock (bools against ints, floats, None, embedded documents, arrays of other things, datetimes).
_M_VALUES = st.one_of(
    st.sampled_from(["t1", "t2", "pending", ""]),
    st.integers(-3, 3),
    st.sampled_from([10**12, -(10**12)]),
    st.booleans(),
    st.none(),
    st.sampled_from([1.0, 0.0, -2.5]),
    st.sampled_from([_T0, _T0.replace(tzinfo=UTC), _T0 + timedelta(seconds=1), _T0 - timedelta(milliseconds=1)]),
)
_M_LEAF = st.one_of(
    _M_VALUES,
    st.lists(st.sampled_from(["t1", "t2", "t3", "pending"]), max_size=4),
    st.lists(_M_VALUES, max_size=3),
    st.lists(st.lists(st.sampled_from(["t1", 1]), max_size=2), max_size=2),
)
_M_DOC_VALUE = st.one_of(_M_LEAF, st.dictionaries(st.sampled_from(["t1", "n"]), _M_VALUES, max_size=2))
_M_FIELDS = st.sampled_from(["_id", "pending", "balance", "frozen", "state"])
_M_DOCS = st.dictionaries(_M_FIELDS, _M_DOC_VALUE, max_size=5)
_M_CONDITION = st.one_of(
    _M_VALUES,
    st.lists(st.sampled_from(["t1", "t2"]), max_size=2),
    st.builds(lambda v: {"$ne": v}, _M_VALUES),
    st.builds(lambda v: {"$eq": v}, _M_VALUES),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$in", "$nin"]), st.lists(st.sampled_from(["t1", "t2", "x"]))),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$in", "$nin"]), st.lists(_M_VALUES, max_size=3)),
    st.builds(lambda op, v: {op: v}, st.sampled_from(["$lt", "$lte", "$gt", "$gte"]), _M_VALUES),
    st.builds(lambda a, b: {"$gte": a, "$ne": b}, _M_VALUES, _M_VALUES),
    st.builds(lambda v: {"$exists": v}, st.booleans()),
)
_M_FILTERS = st.one_of(
    st.dictionaries(_M_FIELDS, _M_CONDITION, min_size=1, max_size=4),
    st.builds(lambda f, v: {f"{f}.n": v}, _M_FIELDS, _M_VALUES),
    st.builds(lambda branches: {"$or": branches}, st.lists(st.dictionaries(_M_FIELDS, _M_CONDITION), min_size=1)),
)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_M_FILTERS, _M_DOCS)
@example({"balance": {"$gte": 1}}, {"balance": True})  # BSON brackets bools apart from numbers in a range
@example({"balance": 1}, {"balance": True})  # ... but mongomock's equality does not (Python's True == 1)
@example({"balance": {"$lte": 1}}, {"balance": 1.0})
@example({"pending": {"$ne": "t1"}, "frozen": {"$ne": True}}, {"pending": ["t2", "t1"], "frozen": False})
@example({"pending": {"$nin": ["t1", "t3"]}}, {"pending": [["t1"], "t2"]})
@example({"pending": {"$in": ["t1"]}}, {"pending": [{"t1": 1}]})  # unhashable: left to mongomock
@example({"state": {"$in": []}}, {})
@example({"state": {"$nin": []}}, {})
def test_the_matcher_of_simple_filters_decides_as_mongomock_does(filter: Any, doc: Any) -> None:
    from hub.mongo_standin import _matcher

    try:
        expected = _applies(filter, doc)
    except Exception as exc:  # whatever mongomock raises, the matcher raises too
        with pytest.raises(type(exc)):
            _matcher(filter)(doc)
        return
    assert _matcher(filter)(doc) is expected


async def test_find_one_answers_as_mongomocks_own_find_one(mongo_client: Any, db_name: str) -> None:
    """The stand-in's ``find_one`` (the first match alone copied) returns what mongomock's cursor-based one returns:
    point lookups, scans with several matches, datetimes, embedded documents, projections and sorts (passed on)."""
    from hub import mongo_standin

    _find_one: Any = mongo_standin._find_one  # mongomock's own
    coll = mongo_client[db_name]["things"]
    at = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)
    await coll.insert_many(
        [
            {"_id": f"d{i}", "n": i % 3, "pending": [f"t{i}"], "at": at, "hold": {"at": at, "state": "held"}}
            for i in range(6)
        ]
    )
    raw = getattr(coll, "_c", None)
    if raw is None:  # a real server: nothing to compare with
        return
    filters: list[Any] = [
        {"_id": "d1"},
        {"_id": "d1", "n": 2},
        {"_id": {"$in": ["d4", "d2", "nope"]}},
        {"n": 1},
        {"pending": "t3"},
        {"at": {"$lte": at}},
        {"hold.state": "held"},
        {"_id": "nope"},
        {},
        None,
        "d5",
    ]
    for f in filters:
        assert raw.find_one(f) == _find_one(raw, f)
        assert raw.find_one(f, projection=None, sort=None) == _find_one(raw, f)
    assert raw.find_one({"n": 1}, {"n": 1}) == _find_one(raw, {"n": 1}, {"n": 1})
    assert raw.find_one({}, sort=[("n", -1)]) == _find_one(raw, {}, sort=[("n", -1)])
    assert (await coll.find_one({"_id": "d0"}))["at"] == at.replace(microsecond=123000)
    await mongo_client.drop_database(db_name)


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (a datetime's time zone included)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, datetime):
        return a == b and a.tzinfo is b.tzinfo
    return bool(a == b)


_TIMES = st.builds(
    lambda us, tz: datetime(2026, 11, 30, 12, 0, 0, us, tzinfo=tz),
    st.integers(0, 999_999),
    st.sampled_from([None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]),
)
_NESTED = st.recursive(
    st.one_of(_TIMES, st.integers(-2, 2), st.text(max_size=2), st.none(), st.booleans(), st.floats(allow_nan=False)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.text(max_size=2), inner, max_size=3),
        st.dictionaries(st.text(max_size=2), inner, max_size=3).map(OrderedDict),
    ),
    max_leaves=8,
)


@settings(max_examples=800, deadline=None)
@given(_NESTED)
def test_the_stand_ins_document_walks_give_what_mongomocks_give(value: Any) -> None:
    """Datetimes to naive UTC milliseconds on the way in, UTC-aware on the way out, copies of what is read: the
    stand-in's walks (hub/mongo_standin.py) against mongomock's own functions."""
    import mongomock.helpers

    from hub import mongo_standin

    m: Any = mongo_standin
    assert _same(m._patch_awareness_fast(value), m._patch_awareness(value))
    stored = m._patch_awareness(value)
    assert _same(m._make_aware_fast(stored), m._make_aware(stored))
    assert _same(m._copy_field_fast(stored, dict), m._copy_field(stored, dict))
    assert _same(m._copy_document(stored), copy.deepcopy(stored))
    assert mongomock.helpers.patch_datetime_awareness_in_document is m._patch_awareness_fast


_KEYS = st.sampled_from(["a", "b\0", "c", "$d"])
_WITH_KEYS = st.recursive(
    st.one_of(st.integers(0, 2), st.text(max_size=2), st.none(), _TIMES),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(_KEYS, inner, max_size=3),
        st.dictionaries(_KEYS, inner, max_size=3).map(OrderedDict),
        st.dictionaries(st.integers(0, 1), inner, min_size=1, max_size=1),
    ),
    max_leaves=8,
)


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_KEYS, _WITH_KEYS, max_size=3))
def test_an_inserted_documents_field_names_are_checked_as_mongomock_checks_them(doc: Any) -> None:
    from hub import mongo_standin

    m: Any = mongo_standin
    outcomes: list[Any] = []
    for check in (m._key_check_fast, m._key_check):
        try:
            check(doc)
            outcomes.append(None)
        except Exception as exc:  # the same error, with the same message
            outcomes.append((type(exc), str(exc)))
    assert outcomes[0] == outcomes[1]


async def test_an_expired_document_goes_within_a_second_and_reads_between_sweeps_do_not_scan(db_name: str) -> None:
    """TTL: MongoDB's monitor removes expired documents once a minute (until then readers see them); the stand-in
    sweeps a TTL collection at most once per ``TTL_SWEEP_S`` instead of before every access."""
    from hub.mongo_standin import TTL_SWEEP_S, StandInClient
    from tests.support.waiting import until

    client = StandInClient()
    coll = client[db_name]["spend"]
    await coll.create_index([("expires_at", 1)], expireAfterSeconds=0)
    now = datetime.now(UTC)
    await coll.insert_many(
        [{"_id": "old", "expires_at": now - timedelta(seconds=1)}, {"_id": "later", "expires_at": now}]
    )
    await coll.update_one({"_id": "later"}, {"$set": {"expires_at": now + timedelta(days=1)}})
    assert await until(lambda: _gone(coll, "old"), 2 * TTL_SWEEP_S + 1)
    assert await coll.find_one({"_id": "later"}) is not None
    store = coll._c._store
    sweeps: list[Any] = []
    sweep = store._expire_documents

    def counted(index: Any) -> None:
        sweeps.append(index)
        sweep(index)

    store._expire_documents = counted
    for _ in range(50):
        assert await coll.find_one({"_id": "later"}) is not None
    assert len(sweeps) <= 1  # not once per access
    await client.close()


async def _gone(coll: Any, key: str) -> bool:
    return await coll.find_one({"_id": key}) is None


# An update of top-level fields snapshots only those fields (hub/mongo_standin.py ``_update_fast``): the same counts,
# errors and stored documents (values and field order) as mongomock's own update, including a unique index refusing
# the change (the document put back as it was) and operators it leaves to mongomock.
_U_VALUES = st.one_of(st.integers(-2, 2), st.sampled_from(["t1", "t2", "x"]), st.none(), st.booleans())
_U_FIELD_VALUE = st.one_of(
    _U_VALUES,
    st.lists(st.sampled_from(["t1", "t2", "t3", 1]), max_size=4),
    st.dictionaries(st.sampled_from(["k", "j"]), _U_VALUES, max_size=2),
)
_U_NAMES = st.sampled_from(["n", "pending", "u", "s", "new"])
_U_DOCS = st.lists(st.dictionaries(_U_NAMES, _U_FIELD_VALUE, max_size=4), min_size=1, max_size=4)
_U_OPS = st.one_of(
    st.builds(lambda d: {"$set": d}, st.dictionaries(_U_NAMES, _U_FIELD_VALUE, min_size=1, max_size=2)),
    st.builds(lambda d: {"$inc": d}, st.dictionaries(_U_NAMES, st.integers(-2, 2), min_size=1, max_size=2)),
    st.builds(lambda d: {"$unset": d}, st.dictionaries(_U_NAMES, st.just(""), min_size=1, max_size=2)),
    st.builds(lambda d: {"$push": d}, st.dictionaries(_U_NAMES, st.sampled_from(["t1", "t4"]), min_size=1, max_size=1)),
    st.builds(lambda d: {"$pull": d}, st.dictionaries(_U_NAMES, st.sampled_from(["t1", "t2"]), min_size=1, max_size=1)),
    st.builds(lambda d: {"$pullAll": d}, st.dictionaries(_U_NAMES, st.just(["t1", "t3"]), min_size=1, max_size=1)),
    st.builds(lambda v: {"$set": {"n": v}, "$push": {"pending": "t9"}}, _U_VALUES),
    st.builds(lambda v: {"$set": {"hold.state": v}}, _U_VALUES),  # a dotted path: mongomock's own update
)
_U_SPECS = st.one_of(
    st.builds(lambda i: {"_id": f"d{i}"}, st.integers(0, 4)),
    st.builds(lambda i, v: {"_id": f"d{i}", "n": v}, st.integers(0, 4), _U_VALUES),
    st.builds(lambda v: {"pending": {"$ne": v}}, st.sampled_from(["t1", "t2"])),
    st.just({}),
)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_U_DOCS, _U_SPECS, _U_OPS, st.booleans(), st.booleans())
@example([{"u": "t1"}, {"u": "t2", "n": 1}], {"_id": "d1"}, {"$set": {"u": "t1", "n": 2}}, False, True)  # put back
@example([{"u": "t1"}, {"n": 1, "u": "t2", "s": 3}], {}, {"$unset": {"n": ""}, "$set": {"u": "t1"}}, True, True)
@example([{"n": 1, "pending": ["t1"]}], {"_id": "d0"}, {"$set": {"n": 1}, "$pull": {"pending": "t3"}}, False, False)
def test_an_update_of_top_level_fields_does_what_mongomocks_own_update_does(
    docs: list[dict[str, Any]], spec: Any, update: Any, multi: bool, unique: bool
) -> None:
    import mongomock

    from hub import mongo_standin

    m: Any = mongo_standin
    outcomes: list[Any] = []
    runs: list[Any] = [m._update, m._update_fast]
    for run in runs:
        coll: Any = mongomock.MongoClient(tz_aware=True)["db"]["c"]
        if unique:
            coll.create_index("u", unique=True, sparse=True)
        for i, doc in enumerate(docs):
            with contextlib.suppress(Exception):  # a duplicate, or a value mongomock's sparse index cannot take
                coll.insert_one({"_id": f"d{i}", **copy.deepcopy(doc)})
        try:
            result: Any = run(coll, copy.deepcopy(spec), copy.deepcopy(update), multi=multi)
            result.pop("connectionId")
        except Exception as exc:  # the same error
            result = type(exc)
        stored = [list(d.items()) for d in coll._store.documents]
        outcomes.append((result, stored))
    assert outcomes[0] == outcomes[1]
