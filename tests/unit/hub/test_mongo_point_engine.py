"""The stand-in's point engine (hub/mongo_standin.py ``_point_*``: single-document reads and writes by ``_id``, done on
the stored documents directly) answers as mongomock's own operations answer, or leaves the operation to mongomock
before changing anything. Where mongomock and MongoDB differ it answers as MongoDB: a ``$set`` that changes only a
value's type or an embedded document's field order is a modification, and the fields an update adds come in the order
of their names (MongoDB 5.0+). Every test builds two mongomock collections with the same documents, runs the engine
on one and mongomock on the other, and compares results, errors and stored documents."""

from __future__ import annotations

import contextlib
import copy
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import mongomock
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from hub import mongo_standin

M: Any = mongo_standin
_T0 = datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)

# Values of the money path's fields and the types next to them the engine must leave alone or tell apart: ints (bools
# and floats equal to them, int64's ends), strings (one BSON cannot encode), lists, embedded documents (in two field
# orders, with a ``$`` field name), datetimes (aware in two zones, naive), types BSON does not take (a set, a tuple).
_TIMES = [
    _T0,
    _T0 + timedelta(seconds=1),
    _T0 - timedelta(microseconds=500),
    _T0.replace(tzinfo=timezone(timedelta(hours=2))),
    _T0.replace(tzinfo=None),
]
_SCALARS = st.one_of(
    st.integers(-2, 2),
    st.sampled_from([2**63 - 1, -(2**63), 2**63]),
    st.booleans(),
    st.none(),
    st.sampled_from([1.0, 0.0, -2.5]),
    st.sampled_from(["t1", "t2", "x", "", "é", "\ud800"]),
    st.sampled_from([_T0, _T0.replace(tzinfo=timezone(timedelta(hours=2))), _T0.replace(tzinfo=None)]),
)
_VALUES = st.one_of(
    _SCALARS,
    st.lists(st.sampled_from(["t1", "t2", "t3", 1, True]), max_size=4),
    st.sampled_from([{"k": 1, "j": 2}, {"j": 2, "k": 1}, {"$k": 1}, {"a.b": 1}, {"k": [1, {"j": _T0}]}]),
    st.sampled_from([{1, 2}, ("t1",)]),
)
_PLAIN_VALUES = st.one_of(
    st.integers(-2, 2),
    st.booleans(),
    st.none(),
    st.sampled_from([1.0, -2.5, "t1", "é", _T0, _T0.replace(tzinfo=None), b"\x00"]),
    st.lists(st.sampled_from(["t1", "t2", 1]), max_size=3),
    st.sampled_from([{"k": 1, "j": [_T0]}, {"j": {"k": None}}]),
)
_NAMES = st.sampled_from(["n", "pending", "u", "s", "new", "zz", "a"])
_ODD_NAMES = st.sampled_from(["_id", "h.k", "$x", "1", "b\0"])
_DOCS = st.lists(st.dictionaries(_NAMES, _VALUES, max_size=4), min_size=1, max_size=4)


def _op(name: Any, value: Any) -> Any:
    return st.dictionaries(name, value, min_size=1, max_size=2)


_OPERATOR = st.one_of(
    st.tuples(st.just("$set"), _op(_NAMES, _VALUES)),
    st.tuples(st.just("$set"), _op(_NAMES, _PLAIN_VALUES)),
    st.tuples(st.just("$setOnInsert"), _op(_NAMES, _VALUES)),
    st.tuples(st.just("$inc"), _op(_NAMES, st.one_of(st.integers(-2, 2), st.sampled_from([2**62, 1.5, True])))),
    st.tuples(
        st.just("$push"),
        _op(
            _NAMES,
            st.one_of(
                _SCALARS,
                st.sampled_from(
                    [{"$each": ["t1", "t4"]}, {"$each": [1, {"k": _T0}]}, {"$each": []}, {"$each": ["t1"], "$slice": 1}]
                ),
            ),
        ),
    ),
    st.tuples(st.just("$unset"), _op(_NAMES, st.just(""))),
    st.tuples(st.just("$pull"), _op(_NAMES, st.sampled_from(["t1", "t2", 1]))),
    st.tuples(st.just("$pullAll"), _op(_NAMES, st.sampled_from([["t1", "t3"], ["t2"], [1]]))),
    st.tuples(st.just("$set"), _op(_ODD_NAMES, st.just(1))),
    st.tuples(st.just("$rename"), st.just({"n": "m"})),
)
_UPDATES = st.lists(_OPERATOR, min_size=1, max_size=3).map(dict)
_CONDITIONS = st.dictionaries(
    st.sampled_from(["pending", "n", "u", "a"]),
    st.one_of(
        _SCALARS.filter(lambda v: not isinstance(v, datetime)),
        st.builds(lambda v: {"$ne": v}, st.sampled_from(["t1", "t2", 1, True])),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$gte", "$lt"]), st.integers(-2, 2)),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$gt", "$lte"]), st.sampled_from(_TIMES)),
        st.builds(lambda op, v: {op: v}, st.sampled_from(["$in", "$nin"]), st.lists(st.sampled_from(["t1", "t3"]))),
    ),
    max_size=2,
)
_IDS = st.one_of(
    st.builds(lambda i: f"d{i}", st.integers(0, 4)),
    st.builds(lambda i: f"d{i}", st.integers(0, 2)),
    st.builds(lambda ids: {"$in": [f"d{i}" for i in ids]}, st.lists(st.integers(0, 4), max_size=4)),
    st.just(7),
)
_FILTERS = st.builds(lambda key, cond: {"_id": key, **cond}, _IDS, _CONDITIONS)


_GUARDED = {"_id": "d0", "pending": {"$ne": "t2"}, "n": {"$gte": 1}}
_DEBIT = {"$inc": {"n": -1}, "$push": {"pending": "t2"}}
_BOTH = {"_id": {"$in": ["d1", "d0"]}}


def _collections(docs: list[dict[str, Any]], unique: bool) -> tuple[Any, Any]:
    """Two collections holding the same documents (``d0``, ``d1``...), stored by mongomock."""
    out = []
    for _ in range(2):
        coll: Any = mongomock.MongoClient(tz_aware=True)["db"]["c"]
        if unique:
            coll.create_index("u", unique=True, sparse=True)
        for i, doc in enumerate(docs):
            with contextlib.suppress(Exception):  # a duplicate, or a value mongomock cannot take
                coll.insert_one({"_id": f"d{i}", **copy.deepcopy(doc)})
        out.append(coll)
    return out[0], out[1]


def _stored(coll: Any) -> list[Any]:
    return [list(d.items()) for d in coll._store.documents]


def _typed(a: Any, b: Any) -> bool:
    """The same BSON value: equal, of the same types all the way down, embedded fields in the same order."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_typed(a[k], b[k]) for k in a)
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_typed(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float):
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return bool(a == b)


def _as_mongodb(before: list[Any], mongomocks: Any, engines: Any) -> None:
    """The engine's stored documents are mongomock's, except that the fields an update added follow the existing ones
    in the order of their names (MongoDB 5.0+)."""
    old = {key: dict(fields) for key, fields in ((dict(d)["_id"], d) for d in before)}
    assert [dict(d) for d in engines] == [dict(d) for d in mongomocks]
    for doc in engines:
        names = [name for name, _ in doc]
        was = old.get(dict(doc)["_id"], {})
        assert names == [n for n in was if n in names] + sorted(n for n in names if n not in was)


def _modified(before: list[Any], after: list[Any]) -> int:
    """How many documents MongoDB counts as modified: those not binary-equal to what they were."""
    was = {dict(d)["_id"]: dict(d) for d in before}
    return sum(1 for d in after if not _typed(dict(d), was.get(dict(d)["_id"])))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS, _FILTERS, _UPDATES, st.booleans(), st.booleans(), st.booleans())
@example([{"n": 1, "pending": ["t1"]}], _GUARDED, _DEBIT, False, False, False)
@example([{"n": True}], {"_id": "d0"}, {"$set": {"n": 1}}, False, False, False)  # a type change: modified on MongoDB
@example([{"n": {"k": 1, "j": 2}}], {"_id": "d0"}, {"$set": {"n": {"j": 2, "k": 1}}}, False, False, False)
@example([{"u": "t1"}, {"u": "t2"}], {"_id": "d1"}, {"$set": {"u": "t1"}}, False, False, True)  # unique: mongomock's
@example([{}], {"_id": "d0"}, {"$set": {"zz": 1, "a": 2}, "$inc": {"n": 1}}, False, False, False)  # added: by name
@example([{"n": 2**63 - 1}], {"_id": "d0"}, {"$inc": {"n": 1}}, False, False, False)  # past int64: mongomock's
@example([{"pending": ["t1", "t2", "t1"]}, {"pending": "t1"}], _BOTH, {"$pull": {"pending": "t1"}}, True, False, False)
# a field after an ``$each`` in one ``$push``: a push of its own (it was taken for another ``$each``)
@example([{"n": ["t1"]}], {"_id": "d0"}, {"$push": {"n": {"$each": ["t4"]}, "pending": None}}, False, False, False)
def test_an_update_by_id_does_what_mongomocks_update_does(
    docs: list[dict[str, Any]], filter: Any, update: Any, multi: bool, upsert: bool, unique: bool
) -> None:
    engine, reference = _collections(docs, unique)
    before = _stored(engine)
    raw = M._point_update(engine, copy.deepcopy(filter), copy.deepcopy(update), multi=multi, upsert=upsert)
    if raw is M._FALLBACK:
        assert _stored(engine) == before  # left to mongomock untouched
        return
    if unique:  # it took the update only as one that cannot break the index (mongomock's check trips on arrays)
        assert all("u" not in changes for changes in update.values())
        reference.drop_index("u_1")
    expected = M._update(reference, copy.deepcopy(filter), copy.deepcopy(update), upsert=upsert, multi=multi)
    raw.pop("connectionId")
    expected.pop("connectionId")
    mongomocks = _stored(reference)
    expected["nModified"] = _modified(before, mongomocks)
    assert raw == expected
    _as_mongodb(before, mongomocks, _stored(engine))


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS, _FILTERS, _UPDATES, st.booleans(), st.booleans())
@example([{"n": 5, "pending": []}], _GUARDED, _DEBIT, True, False)
@example([{"at": _T0, "n": 1}], {"_id": "d0"}, {"$set": {"later": _T0}}, False, False)
@example([{"a": _T0}], {"_id": "d0", "a": {"$gt": _T0 - timedelta(microseconds=500)}}, {"$inc": {"n": 1}}, True, False)
def test_find_one_and_update_by_id_returns_what_mongomocks_returns(
    docs: list[dict[str, Any]], filter: Any, update: Any, after: bool, upsert: bool
) -> None:
    engine, reference = _collections(docs, unique=False)
    before = _stored(engine)
    found = M._point_find_one_and_update(
        engine, copy.deepcopy(filter), copy.deepcopy(update), upsert=upsert, after=after
    )
    if found is M._FALLBACK:
        assert _stored(engine) == before
        return
    expected = reference.find_one_and_update(
        copy.deepcopy(filter), copy.deepcopy(update), upsert=upsert, return_document=after
    )
    assert found == expected
    if found is not None:
        assert all(_typed(found[k], expected[k]) for k in found)  # datetimes in UTC, the same types
        if not after:
            assert list(found) == list(expected)
    _as_mongodb(before, _stored(reference), _stored(engine))


@settings(max_examples=600, deadline=None)
@given(_DOCS, _FILTERS)
def test_a_read_by_id_returns_what_mongomocks_find_returns(docs: list[dict[str, Any]], filter: Any) -> None:
    engine, reference = _collections(docs, unique=False)
    found = M._point_find_one(engine, copy.deepcopy(filter))
    if found is not M._FALLBACK:
        expected = reference.find_one(copy.deepcopy(filter))
        assert found == expected
        if found is not None:
            assert list(found) == list(expected) and all(_typed(found[k], expected[k]) for k in found)
            found["n"] = "changed"  # a copy: the stored document stays as it was
            assert reference.find_one({"_id": found["_id"]}) == engine.find_one({"_id": found["_id"]})
    many = M._point_docs(engine, copy.deepcopy(filter), many=True)
    if many is not None:
        read = [M._point_out(d, True) for d in many]
        expected_many = list(reference.find(copy.deepcopy(filter)))
        assert read == expected_many
        assert all(_typed(a[k], b[k]) for a, b in zip(read, expected_many, strict=True) for k in a)


_NEW_DOCS = st.lists(
    st.one_of(
        st.builds(
            lambda i, d: {"_id": f"n{i}", **d}, st.integers(0, 9), st.dictionaries(_NAMES, _PLAIN_VALUES, max_size=4)
        ),
        st.builds(lambda i, d: {"_id": f"d{i}", **d}, st.integers(0, 6), st.dictionaries(_NAMES, _VALUES, max_size=3)),
        st.builds(lambda d: {"_id": 5, **d}, st.dictionaries(_NAMES, _SCALARS, max_size=2)),
        st.builds(lambda n, d: {"_id": "d5", n: 1, **d}, _ODD_NAMES.filter(lambda n: n != "_id"), st.just({})),
        st.just({"n": 1}),  # no _id: mongomock's (it makes an ObjectId)
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCS, _NEW_DOCS, st.booleans())
@example([{}], [{"_id": "d3", "at": _T0, "legs": [{"a": 1}], "refs": {"k": "é"}}], False)
def test_an_insert_stores_what_mongomocks_insert_stores(
    docs: list[dict[str, Any]], new: list[dict[str, Any]], unique: bool
) -> None:
    engine, reference = _collections(docs, unique)
    before = _stored(engine)
    given_docs = copy.deepcopy(new)
    ids = M._point_insert(engine, given_docs)
    if ids is M._FALLBACK:
        assert _stored(engine) == before
        return
    assert given_docs == new  # the caller's documents are neither changed nor kept
    expected = reference.insert_many(copy.deepcopy(new), ordered=False).inserted_ids
    assert ids == expected
    assert all(_typed(dict(a), dict(b)) for a, b in zip(_stored(engine), _stored(reference), strict=True))
    assert _stored(engine) == _stored(reference)
    for doc in given_docs:  # what is stored is a copy
        doc["n"] = "changed"
    assert _stored(engine) == _stored(reference)


async def test_the_stand_in_takes_the_gift_paths_steps_without_mongomock(mongo_client: Any, db_name: str) -> None:
    """The ledger's and the gift path's single-document steps go through the point engine (none reaches mongomock's
    collection methods); on a real MongoDB the same calls give the same answers."""
    coll = mongo_client[db_name]["accounts"]
    raw = getattr(coll, "_c", None)
    calls: list[str] = []
    if raw is not None:
        for name in (
            "find_one",
            "find_one_and_update",
            "update_one",
            "update_many",
            "insert_one",
            "insert_many",
            "find",
        ):
            original = getattr(raw, name)

            def spy(*args: Any, _name: str = name, _original: Any = original, **kwargs: Any) -> Any:
                calls.append(_name)
                return _original(*args, **kwargs)

            setattr(raw, name, spy)
    await coll.insert_many([{"_id": "a", "balance": 5, "pending": []}, {"_id": "b", "balance": 0, "pending": []}])
    debit = await coll.find_one_and_update(
        {"_id": "a", "pending": {"$ne": "t1"}, "balance": {"$gte": 2}},
        {"$inc": {"balance": -2}, "$push": {"pending": "t1"}},
        return_document=True,
    )
    assert debit == {"_id": "a", "balance": 3, "pending": ["t1"]}
    again = await coll.find_one_and_update(
        {"_id": "a", "pending": {"$ne": "t1"}}, {"$inc": {"balance": -2}, "$push": {"pending": "t1"}}
    )
    assert again is None  # the marker is there: at most once
    credit = await coll.update_one(
        {"_id": "b", "pending": {"$ne": "t1"}}, {"$inc": {"balance": 2}, "$push": {"pending": "t1"}}
    )
    assert (credit.matched_count, credit.modified_count) == (1, 1)
    same = await coll.update_one({"_id": "b"}, {"$set": {"balance": 2}})
    assert (same.matched_count, same.modified_count) == (1, 0)
    released = await coll.update_many(
        {"_id": {"$in": ["a", "b"]}, "pending": {"$in": ["t1"]}}, {"$pullAll": {"pending": ["t1"]}}
    )
    assert (released.matched_count, released.modified_count) == (2, 2)
    assert await coll.find({"_id": {"$in": ["b", "a"]}}).to_list(None) in (
        [{"_id": "b", "balance": 2, "pending": []}, {"_id": "a", "balance": 3, "pending": []}],
        [{"_id": "a", "balance": 3, "pending": []}, {"_id": "b", "balance": 2, "pending": []}],
    )
    stamped = await coll.find_one_and_update({"_id": "a"}, {"$set": {"zz": 1, "at": _T0}}, return_document=True)
    assert stamped is not None and stamped["at"] == _T0.replace(microsecond=123000)
    assert list(stamped) == ["_id", "balance", "pending", "at", "zz"]  # added fields by name, as MongoDB 5.0+ does
    missing = await coll.update_one({"_id": "nope"}, {"$inc": {"balance": 1}})
    assert (missing.matched_count, missing.modified_count, missing.upserted_id) == (0, 0, None)
    assert calls == []
    await mongo_client.drop_database(db_name)


def test_a_value_bson_cannot_encode_is_left_to_mongomock() -> None:
    """Strings with a lone surrogate, ints past int64, sets: the engine does not store them (mongomock's own checks
    answer, as PyMongo's encoder would refuse them before a real server saw them)."""
    for value in ("\ud800", 2**63, {1}, ("t",), {"a.b": 1}, {"$x": 1}):
        with pytest.raises(M._NotPlain):
            M._plain({"v": value})
    stored = _T0.replace(tzinfo=None, microsecond=123000)
    assert M._plain({"v": "é", "w": [_T0], "x": {"y": None}}) == {"v": "é", "w": [stored], "x": {"y": None}}
