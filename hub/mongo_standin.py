"""An in-process stand-in for PyMongo's async API, on top of mongomock.

It presents the subset of ``AsyncMongoClient`` / ``AsyncDatabase`` / ``AsyncCollection`` that the stores use, with
the same call shapes: collection operations are coroutines, ``find()`` returns a cursor synchronously that is
iterated with ``async for`` or ``await cursor.to_list()``, ``aggregate()`` is a coroutine returning a cursor,
``close()`` is a coroutine. mongomock has no sessions, transactions or change streams; the stores use none of
those. TTL indexes are enforced by a sweep of the collection at most once a second (``TTL_SWEEP_S``; MongoDB's
monitor runs once a minute).

Every mongomock call runs synchronously on the event loop: it is in-memory and short, and it keeps each
single-document operation atomic with respect to other coroutines, as it is on a real server.
"""

from __future__ import annotations

import copy
import functools
import operator
import struct
import threading
import time
import types
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import mongomock
import mongomock.collection
import mongomock.helpers
import mongomock.mongo_client
import mongomock.store
from bson import ObjectId
from bson.errors import InvalidDocument
from mongomock.filtering import filter_applies
from packaging import version as _version
from pymongo import ReturnDocument, UpdateMany, UpdateOne
from pymongo.errors import DuplicateKeyError
from pymongo.results import InsertManyResult, InsertOneResult, UpdateResult

_scan_documents = mongomock.collection.Collection._iter_documents


def _iter_documents(self: Any, filter: Any) -> Any:
    """mongomock scans every document for every query. A filter naming one ``_id`` (the ledger's and most stores'
    single-document steps) or a list of them (``{"_id": {"$in": [...]}}``) can only match those documents: look
    them up, then apply the whole filter to them alone. Same results (in insertion order only for the scan; callers
    that need an order sort), O(matches) instead of O(collection)."""
    if isinstance(filter, dict):
        key = filter.get("_id")
        keys: list[Any] | None = None
        if isinstance(key, str | int) and not isinstance(key, bool):
            keys = [key]
        elif (
            isinstance(key, dict)
            and list(key) == ["$in"]
            and isinstance(key["$in"], list)
            and all(isinstance(k, str) for k in key["$in"])
        ):
            keys = list(dict.fromkeys(key["$in"]))
        if keys is not None:
            store = self._store
            if store._ttl_indexes:  # what ``store[k]`` does first (expired documents go)
                store._remove_expired_documents()
            # Point lookups in the dict itself: mongomock's reader lock guards iterating while another thread
            # writes; a single ``dict`` lookup is atomic under the GIL and costs a fraction of the lock.
            docs = store._documents
            found = [docs[k] for k in keys if k in docs]
            match = _matcher(filter)
            return iter([d for d in found if match(d)])
    excluded = _precheck(filter)
    if excluded is None:
        return _scan_documents(self, filter)  # type: ignore[no-untyped-call]
    # A scan (no ``_id`` named): what a real server answers from an index (the reconciler's three queries every two
    # seconds) mongomock answers by evaluating the whole filter on every document (~10-20 µs each here: 127 ms for the
    # reconciler's pass at 3,000 transfers, the event loop held all along). A pre-check on plain fields skips the
    # documents it proves cannot match; whatever it cannot decide (arrays, embedded documents, other types) the full
    # filter decides.
    store = self._store
    if store.is_empty:
        filter_applies(filter, {})  # type: ignore[no-untyped-call]
    docs = list(store.documents)  # what mongomock's scan iterates (expired documents removed first), as lazily
    match = _matcher(filter)
    return (d for d in docs if not excluded(d) and match(d))


# The matcher of a filter: mongomock's ``filter_applies`` interprets the whole filter for every document (a generator
# and an operator lookup per condition, one per array element for ``$ne`` on an array: ~9 µs per marker on an account
# with a few dozen transfers in flight). The filters of the ledger's single-document steps are a handful of top-level
# fields, each with a plain value or one operator; for those the matcher decides with a type check and one comparison,
# where the result is certain to be mongomock's: equality on a value of exactly the operand's type or on an array
# (``v in array``, which is what mongomock evaluates), ``$ne`` likewise, ``$gt``/``$gte``/``$lt``/``$lte`` of ints on
# an int (``bool`` is not an int here: BSON brackets them apart) or of a naive datetime (a filter's, once mongomock's
# walk made it naive UTC) on a naive datetime (a stored one), ``$in``/``$nin`` of strings on a string or an array
# of hashable values, and a missing field. Anything else (other types, embedded documents, dotted paths, several
# operators on one field, ``$or``...) is decided by ``filter_applies`` itself, per document or for the whole filter.
def _matcher(filter: Any, tests: list[tuple[str, Any, Any, type]] | None = None) -> Callable[[Any], bool]:
    if tests is None:
        tests = _compile_tests(filter)
    if tests is None:
        return functools.partial(filter_applies, filter)

    def match(doc: Any) -> bool:
        get = doc.get
        for key, code, operand, kind in tests:
            value: Any = get(key, _MISSING)
            if code is _EQ:
                if type(value) is kind:
                    if value != operand:
                        return False
                    continue
                if value is _MISSING:
                    return False
                if type(value) is list:
                    if operand not in value:
                        return False
                    continue
            elif code is _NE:
                if type(value) is kind:
                    if value == operand:
                        return False
                    continue
                if value is _MISSING:
                    continue
                if type(value) is list:
                    if operand in value:
                        return False
                    continue
            elif code is _IN or code is _NIN:
                if type(value) is str:
                    if (value in operand) is not (code is _IN):
                        return False
                    continue
                if value is _MISSING:
                    if code is _IN:
                        return False
                    continue
                if type(value) is list:
                    try:
                        disjoint = operand.isdisjoint(value)
                    except TypeError:  # an unhashable element
                        return bool(filter_applies(filter, doc))  # type: ignore[no-untyped-call]
                    if disjoint is (code is _IN):
                        return False
                    continue
            else:  # a range of ints, or of naive datetimes (how every datetime is stored)
                if type(value) is kind and (kind is int or _naive(value)):
                    if not code(value, operand):
                        return False
                    continue
                if value is _MISSING:
                    return False
            return bool(filter_applies(filter, doc))  # type: ignore[no-untyped-call]
        return True

    return match


def _naive(value: Any) -> bool:
    return value.tzinfo is None


_EQ: Any = object()
_NE: Any = object()
_IN: Any = object()
_NIN: Any = object()
_EXACT = (str, int, bool)
_STR = {str}


def _compile_tests(filter: Any) -> list[tuple[str, Any, Any, type]] | None:
    """The filter's conditions as ``(field, test, operand, operand's type)``, or None when a part of it is not one of
    the matcher's."""
    if type(filter) is not dict or not filter:
        return None
    tests: list[tuple[str, Any, Any, type]] = []
    for key, cond in filter.items():
        if type(key) is not str or not key or key[0] == "$" or "." in key:
            return None
        kind = type(cond)
        if kind is str or kind is int or kind is bool:
            tests.append((key, _EQ, cond, kind))
            continue
        if kind is not dict or len(cond) != 1:
            return None
        ((op, operand),) = cond.items()
        kind = type(operand)
        if op == "$ne" and kind in _EXACT:
            tests.append((key, _NE, operand, kind))
        elif (kind is int or (kind is datetime and operand.tzinfo is None)) and op in _RANGES:
            tests.append((key, _RANGES[op], operand, kind))
        elif (op == "$in" or op == "$nin") and kind is list and set(map(type, operand)) <= _STR:
            tests.append((key, _IN if op == "$in" else _NIN, frozenset(operand), kind))
        else:
            return None
    return tests


# The pre-check of a scan. A filter gets one only when it is made of parts whose meaning on a plain value is the same in
# mongomock and MongoDB, and that mongomock cannot reject as invalid: field paths (no ``$``, no numeric part) with a
# plain value (str, int, bool, datetime: equality) or with operators among ``$eq``/``$in`` (a list of str)/``$lt``/
# ``$lte``/``$gt``/``$gte`` and the ones the pre-check leaves to the full filter (``$ne``, ``$nin``, ``$exists``), and
# ``$and``/``$or`` of such. A condition proves "no match" only where the document's value is missing or is a plain
# value of exactly the operand's type; an array or an embedded document (array and object semantics), any other type,
# or a comparison Python refuses leaves the document to the full filter. The pre-check is compiled once per scan into
# closures (a condition costs a dict lookup and a type check per document).
_MISSING = object()
_PLAIN = (str, int, bool, datetime)
_SIMPLE = (str, int, bool, datetime, type(None))
_RANGES: dict[str, Callable[[Any, Any], bool]] = {
    "$lt": operator.lt,
    "$lte": operator.le,
    "$gt": operator.gt,
    "$gte": operator.ge,
}
_Check = Callable[[Any], bool]  # True: the document cannot match


def _precheck(filter: Any) -> _Check | None:
    """The filter's pre-check, or None when it has a part the pre-check does not know (the plain scan then, exactly as
    before)."""
    if type(filter) is not dict or not filter:
        return None
    checks: list[_Check] = []
    for key, value in filter.items():
        if key in ("$or", "$and"):
            if type(value) is not list or not value:
                return None
            branches = [_precheck(branch) for branch in value]
            if any(b is None for b in branches):
                return None
            checks.append(_either(branches) if key == "$or" else _any_of(branches))  # type: ignore[arg-type]
            continue
        if type(key) is not str or not key or key.startswith("$"):
            return None
        path = tuple(key.split("."))
        if any(not part or part.isdigit() or part.startswith("$") for part in path):
            return None
        if type(value) in _PLAIN:
            checks.append(_condition(path, "$eq", value))
            continue
        if type(value) is not dict or not value:
            return None
        for op, operand in value.items():
            if (op == "$exists" and type(operand) is bool) or (op == "$ne" and type(operand) in _SIMPLE):
                continue  # left to the full filter (valid for mongomock whatever the document)
            if op == "$nin" and type(operand) is list and all(type(x) in _SIMPLE for x in operand):
                continue
            if op == "$eq" and type(operand) in _PLAIN:
                checks.append(_condition(path, "$eq", operand))
            elif op == "$in" and type(operand) is list and all(type(x) is str for x in operand):
                checks.append(_condition(path, "$in", frozenset(operand)))
            elif op in _RANGES and type(operand) in _PLAIN:
                checks.append(_condition(path, op, operand))
            else:
                return None
    return checks[0] if len(checks) == 1 else _any_of(checks)


def _any_of(checks: list[_Check]) -> _Check:
    """All conditions must hold: the document is out when any proves it out."""

    def check(doc: Any) -> bool:
        for c in checks:  # noqa: SIM110 - a loop, not any() and a generator: this runs per document of a scan
            if c(doc):
                return True
        return False

    return check


def _either(branches: list[_Check]) -> _Check:
    """``$or``: the document is out when every branch proves it out."""

    def check(doc: Any) -> bool:
        for b in branches:  # noqa: SIM110 - a loop, not all() and a generator: per document of a scan
            if not b(doc):
                return False
        return True

    return check


def _condition(path: tuple[str, ...], op: str, operand: Any) -> _Check:
    """One field's condition: True when the document's value there is missing (a missing field equals no plain value,
    is in no list of strings and compares with nothing), or is a plain value of the operand's type that fails it."""
    head, rest = path[0], path[1:]

    def value_of(doc: Any) -> Any:
        value = doc.get(head, _MISSING) if type(doc) is dict or type(doc) is OrderedDict else None
        for part in rest:
            if value is _MISSING:
                return _MISSING
            if type(value) is not dict and type(value) is not OrderedDict:
                return None  # an array or another non-document on the way: not for the pre-check
            value = value.get(part, _MISSING)
        return value

    kind = type(operand)
    compare = _RANGES.get(op)
    if not rest:  # a top-level field (a stored document is a dict): the lookup inline, the common case

        def check_in_top(doc: Any) -> bool:
            value = doc.get(head, _MISSING)
            return value is _MISSING or (type(value) is str and value not in operand)

        def check_eq_top(doc: Any) -> bool:
            value = doc.get(head, _MISSING)
            return value is _MISSING or (type(value) is kind and value != operand)

        def check_range_top(doc: Any) -> bool:
            value = doc.get(head, _MISSING)
            return value is _MISSING or (type(value) is kind and _fails(compare, value, operand))

        return check_in_top if op == "$in" else check_eq_top if op == "$eq" else check_range_top

    def check_in(doc: Any) -> bool:
        value = value_of(doc)
        return value is _MISSING or (type(value) is str and value not in operand)

    def check_eq(doc: Any) -> bool:
        value = value_of(doc)
        return value is _MISSING or (type(value) is kind and value != operand)

    def check_range(doc: Any) -> bool:
        value = value_of(doc)
        return value is _MISSING or (type(value) is kind and _fails(compare, value, operand))

    return check_in if op == "$in" else check_eq if op == "$eq" else check_range


def _fails(compare: Any, value: Any, operand: Any) -> bool:
    """A range condition proves the value out (a comparison Python refuses, naive against aware datetimes, does not)."""
    try:
        return not compare(value, operand)
    except TypeError:
        return False


mongomock.collection.Collection._iter_documents = _iter_documents  # type: ignore[method-assign]

_IMMUTABLE = frozenset({str, int, float, bool, type(None), bytes, datetime, ObjectId})


def _copy_document(value: Any, memo: Any = None) -> Any:
    """A deep copy of a stored document. mongomock snapshots the whole document before every update (to detect a
    change and roll back) with ``copy.deepcopy``, whose memo and dispatch cost several times the copy itself; stored
    documents are plain dicts, lists and immutable scalars without shared parts, so those are copied directly and
    anything else still goes through ``copy.deepcopy``. Same result, a fraction of the CPU."""
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _IMMUTABLE else _copy_document(v) for k, v in value.items()}
    if kind is OrderedDict:  # how mongomock stores documents
        return OrderedDict((k, v if type(v) in _IMMUTABLE else _copy_document(v)) for k, v in value.items())
    if kind is list:
        return [v if type(v) in _IMMUTABLE else _copy_document(v) for v in value]
    if kind in _IMMUTABLE:
        return value
    return copy.deepcopy(value, memo)


# mongomock.collection reaches ``copy.deepcopy``/``copy.copy`` through its module global ``copy``.
mongomock.collection.copy = types.SimpleNamespace(  # type: ignore[assignment,attr-defined]
    deepcopy=_copy_document, copy=copy.copy
)

# mongomock walks every document it writes, every filter and update (``patch_datetime_awareness_in_document``:
# datetimes to naive UTC milliseconds) and every document it returns (``_copy_field``, then
# ``make_datetime_timezone_aware_in_document``) with ``isinstance`` chains and generators. The same walks with exact
# type checks for plain dicts, lists and immutable scalars; anything else (an OrderedDict, a datetime, a Timestamp,
# subclasses) still goes to mongomock's own function, so every result is what mongomock returns.
_patch_awareness = mongomock.helpers.patch_datetime_awareness_in_document
_make_aware = mongomock.helpers.make_datetime_timezone_aware_in_document
_copy_field = mongomock.collection._copy_field
_SCALARS = frozenset({str, int, float, bool, type(None), bytes, ObjectId})
_UTC = mongomock.helpers.utc  # type: ignore[attr-defined]
_TZ_UTC = UTC


def _patch_awareness_fast(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _patch_awareness_fast(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _patch_awareness_fast(v) for v in value]
    if kind in _SCALARS:
        return value
    if kind is datetime:  # mongomock's own steps for a datetime: naive UTC, to the millisecond
        mongo_us = (value.microsecond // 1000) * 1000
        if value.tzinfo is _TZ_UTC:  # no offset to take away
            return value.replace(tzinfo=None, microsecond=mongo_us)
        if value.tzinfo:
            return (value - value.utcoffset()).replace(tzinfo=None, microsecond=mongo_us)
        return value.replace(microsecond=mongo_us)
    return _patch_awareness(value)  # type: ignore[no-untyped-call]


def _make_aware_fast(value: Any) -> Any:
    kind = type(value)
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _make_aware_fast(v) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _make_aware_fast(v) for v in value]
    if kind in _SCALARS:
        return value
    if kind is datetime:  # mongomock's own step: the stored naive UTC time, in UTC
        return value.replace(tzinfo=_UTC)
    return _make_aware(value)  # type: ignore[no-untyped-call]


def _copy_field_fast(value: Any, container: Any) -> Any:
    kind = type(value)
    if kind is dict or kind is OrderedDict:
        new = container()
        for k, v in value.items():
            new[k] = v if type(v) in _IMMUTABLE else _copy_field_fast(v, container)
        return new
    if kind is list:
        return [v if type(v) in _IMMUTABLE else _copy_field_fast(v, container) for v in value]
    if kind in _IMMUTABLE:
        return value
    return _copy_field(value, container)  # type: ignore[no-untyped-call]


mongomock.helpers.patch_datetime_awareness_in_document = _patch_awareness_fast
mongomock.helpers.make_datetime_timezone_aware_in_document = _make_aware_fast
mongomock.collection._copy_field = _copy_field_fast


class _StoreLock:
    """mongomock guards each collection's documents with a readers-writer lock made of five locks and two
    generator-based context managers (~2 µs per document access, several accesses per operation). Nothing reaches
    the stand-in from another thread, but one re-entrant lock for readers and writers alike keeps every access
    exclusive all the same (a reader never overlaps a writer; readers no longer overlap each other). The point
    engine's steps take it too (``_exclusive``)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = threading.RLock()

    def reader(self) -> Any:
        return self._lock

    def writer(self) -> Any:
        return self._lock


mongomock.store.RWLock = _StoreLock  # type: ignore[attr-defined,assignment]

# mongomock compares the installed PyMongo's version with ``version.parse('3.6')`` on every insert (and more):
# the same parse, done once per literal.
mongomock.collection.version = types.SimpleNamespace(  # type: ignore[attr-defined,assignment]
    parse=functools.lru_cache(maxsize=64)(_version.parse)
)

# ... and asks the client for its server version, as a freshly split list, on every update.
_original_convert: Callable[[str], list[int]] = mongomock.mongo_client._convert_version_to_list


@functools.lru_cache(maxsize=8)
def _version_list_of(text: str) -> tuple[int, ...]:
    return tuple(_original_convert(text))


def _convert_version_to_list(text: str) -> list[int]:
    return list(_version_list_of(text))


mongomock.mongo_client._convert_version_to_list = _convert_version_to_list


def _expire_documents(self: Any, index: Any) -> None:
    """mongomock's TTL sweep (run before every access to a collection with a TTL index, over all of its documents)
    with the common case inline: a stored date (naive UTC, as every stored datetime is) against ``utcnow``; any other
    value goes through mongomock's own test. Same documents removed."""
    try:
        expiry = int(index["expireAfterSeconds"])
    except ValueError:
        return
    if len(index["key"]) > 1:
        return
    field = next(iter(index["key"]))[0]
    now = mongomock.utcnow()  # type: ignore[attr-defined]
    meets = self._value_meets_expiry
    expired = []
    with self._rwlock.reader():
        for doc in self._documents.values():
            value = doc.get(field)
            if type(value) is datetime and value.tzinfo is None:
                if (now - value).total_seconds() >= expiry:
                    expired.append(doc["_id"])
            elif meets(value, expiry, now):
                expired.append(doc["_id"])
    for key in expired:
        del self[key]


mongomock.store.CollectionStore._expire_documents = _expire_documents  # type: ignore[method-assign]

#: How often the stand-in sweeps a TTL collection for expired documents at most. mongomock sweeps before every
#: access (every document, every time: ~2.5 % of a gift's CPU for the daily spend counters); MongoDB's TTL monitor
#: runs once a minute, so documents outlive their expiry there by up to ~60 s and every reader checks expiry itself.
TTL_SWEEP_S = 1.0


def _remove_expired_documents(self: Any) -> None:
    if not self._ttl_indexes:
        return
    now = time.monotonic()
    if now - self.__dict__.get("_ttl_swept_at", -TTL_SWEEP_S) < TTL_SWEEP_S:
        return
    self._ttl_swept_at = now
    for index in self._ttl_indexes.values():
        self._expire_documents(index)


mongomock.store.CollectionStore._remove_expired_documents = _remove_expired_documents  # type: ignore[method-assign]

_find_one = mongomock.collection.Collection.find_one


def _tz_aware(c: Any) -> bool:
    """The collection's ``codec_options.tz_aware``, asked once per collection object (mongomock builds a fresh
    ``CodecOptions`` on every access: ~12 µs, a third of a point update; another option makes another collection)."""
    aware = c.__dict__.get("_standin_tz_aware")
    if aware is None:
        aware = c.__dict__["_standin_tz_aware"] = bool(c.codec_options.tz_aware)
    return bool(aware)


def _find_one_fast(self: Any, filter: Any = None, *args: Any, **kwargs: Any) -> Any:
    """mongomock's ``find_one`` without a projection or a sort (how the stores and mongomock's own find-and-modify
    call it) builds a cursor, copies every matching document and hands out the first. The same steps for the first
    match alone: the filter patched as mongomock patches it, every document it matches found as mongomock finds
    them (a scan still evaluates the filter on all of them), the first one copied and given its time zones back."""
    if args or any(v is not None for v in kwargs.values()) or not kwargs.keys() <= {"projection", "sort"}:
        return _find_one(self, filter, *args, **kwargs)  # type: ignore[no-untyped-call]
    if filter is None:
        filter = {}
    if not isinstance(filter, Mapping):
        filter = {"_id": filter}
    found = list(self._iter_documents(_patch_awareness_fast(filter)))
    if not found:
        return None
    doc = _copy_field_fast(found[0], dict)
    if _tz_aware(self):
        doc = _make_aware_fast(doc)
    return doc


mongomock.collection.Collection.find_one = _find_one_fast  # type: ignore[method-assign]

_key_check = mongomock.collection._recursive_key_check_null_character
_NOT_MAPPINGS = frozenset({str, int, float, bool, type(None), bytes, datetime, ObjectId, list, tuple})


def _key_check_fast(data: Any) -> None:
    """mongomock's check of an inserted document's field names (no NUL character; in embedded documents too, not in
    documents inside arrays), with ``isinstance(value, Mapping)`` (an ABC check, the bulk of an insert's CPU) asked
    only of values whose type is neither a plain dict nor one known not to be a mapping."""
    for key, value in data.items():
        if "\0" in key:
            raise InvalidDocument(f"Field names cannot contain the null character (found: {key})")
        kind = type(value)
        if kind is dict or kind is OrderedDict or (kind not in _NOT_MAPPINGS and isinstance(value, Mapping)):
            _key_check_fast(value)


mongomock.collection._recursive_key_check_null_character = _key_check_fast

_update = mongomock.collection.Collection._update
#: Update operators that change only the top-level fields they name (a plain name: no dot, no ``$``, not ``_id``).
_FIELD_OPERATORS = frozenset({"$set", "$unset", "$inc", "$push", "$pull", "$pullAll"})


def _fields_changed_by(update: Any) -> tuple[str, ...] | None:
    """The top-level fields ``update`` can change, or None when it is not of that simple kind."""
    if type(update) is not dict or not update:
        return None
    fields: list[str] = []
    for op, changes in update.items():
        if op not in _FIELD_OPERATORS or type(changes) is not dict or not changes:
            return None
        for name in changes:
            if type(name) is not str or not name or "." in name or name[0] == "$" or name == "_id":
                return None
            fields.append(name)
    return tuple(dict.fromkeys(fields))


def _update_fast(
    self: Any,
    spec: Any,
    document: Any,
    upsert: bool = False,
    manipulate: bool = False,
    multi: bool = False,
    check_keys: bool = False,
    hint: Any = None,
    session: Any = None,
    collation: Any = None,
    let: Any = None,
    array_filters: Any = None,
    **kwargs: Any,
) -> Any:
    """mongomock's update with its snapshot (taken before each document is changed, to tell whether it changed and
    to put it back when a unique index refuses the change) limited to the fields the update can change, when it is
    made of operators that change only the top-level fields they name; without an upsert and with a plain filter.
    mongomock copied the whole document (a transfer's legs, refs and hold, an account's markers) for every update.
    Anything else is mongomock's own update."""
    fields = _fields_changed_by(document)
    if (
        fields is None
        or upsert
        or type(spec) is not dict
        or hint
        or session
        or collation
        or let
        or array_filters
        or kwargs
        or self.database.client.server_info()["versionArray"] < [5]
    ):
        return _update(  # type: ignore[no-untyped-call]
            self,
            spec,
            document,
            upsert,
            manipulate,
            multi,
            check_keys,
            hint=hint,
            session=session,
            collation=collation,
            let=let,
            array_filters=array_filters,
            **kwargs,
        )
    spec = _patch_awareness_fast(spec)
    document = _patch_awareness_fast(document)
    updated_existing = False
    num_updated = num_matched = 0
    for existing in self._iter_documents(spec):
        order = list(existing)
        before = {name: _copy_document(existing[name]) for name in fields if name in existing}
        updated_existing = True
        num_matched += 1
        self._apply_update_document(existing, spec, document, False)
        if {name: existing[name] for name in fields if name in existing} != before:
            try:
                self._ensure_uniques(existing)
            except DuplicateKeyError:
                # The document as it was, in its place (mongomock stores its snapshot there).
                restored = type(existing)()
                for name in order:
                    restored[name] = before[name] if name in before else existing[name]
                self._store[existing["_id"]] = restored
                raise
            num_updated += 1
        if not multi:
            break
    return {
        "connectionId": self.database.client._id,
        "err": None,
        "n": num_matched,
        "nModified": num_updated if updated_existing else 0,
        "ok": 1,
        "upserted": None,
        "updatedExisting": updated_existing,
    }


mongomock.collection.Collection._update = _update_fast  # type: ignore[method-assign]


# The point engine: the single-document steps of the money path (a balance's debit or credit with its marker, a daily
# spend counter, a transfer's applied/settled marks, idempotency markers, point reads by ``_id``) done directly on the
# stored documents, in one lookup and one pass, where mongomock validates, patches, looks up, copies and compares the
# document several times over (~60 µs for a guarded ``find_one_and_update`` on an account). It takes only what it
# answers exactly as MongoDB does (and as mongomock does, where the two agree):
# - filters naming one ``_id`` (a string; several with ``$in`` for ``update_many``) whose other conditions the matcher
#   of simple filters decides (``_compile_tests``: equality, ``$ne``, ``$in``/``$nin`` of strings, int ranges);
# - updates of top-level fields with ``$set``/``$setOnInsert`` (values of BSON's plain types), ``$inc`` (an int on an
#   int or a missing field, within int64), ``$push`` of one plain value or ``$each`` of a non-empty list of them,
#   ``$unset``, ``$pull`` of a string, ``$pullAll``
#   of strings; each field named once, none touching a unique index;
# - inserts of documents with a string ``_id`` that is not taken (nor twice in one call) into a collection without
#   unique indexes.
# Everything else, and every step that would end in an error, is left to mongomock before anything changes. Where
# mongomock and MongoDB differ, the engine answers as MongoDB: a ``$set`` of a value that differs only in type (``1``
# over ``True``, ``1.0`` over ``1``) or in its embedded field order is a modification; fields an update adds come after
# the existing ones in the order of their names (MongoDB 5.0+), not in the update's order.
_FALLBACK: Any = object()
_UNSET: Any = object()
_INT64 = 2**63
_POINT_OPERATORS = frozenset({"$set", "$setOnInsert", "$inc", "$push", "$unset", "$pull", "$pullAll"})


class _NotPlain(Exception):
    """A value the point engine leaves to mongomock."""


def _plain(value: Any) -> Any:
    """``value`` as the stand-in stores it (datetimes in naive UTC to the millisecond, documents and arrays copied),
    when it is made of types BSON encodes as they are (strings it can encode as UTF-8, ints within int64, floats,
    bools, None, datetimes, ObjectIds, bytes, documents with plain field names, arrays); ``_NotPlain`` otherwise.
    Scalars are taken inline (a call per value was most of an insert's CPU)."""
    kind = type(value)
    if kind is dict:
        out = {}
        names = _PLAIN_NAMES
        for k, v in value.items():
            if type(k) is not str or (k not in names and not _plain_name(k)):
                raise _NotPlain
            kind = type(v)
            if kind is str:
                if v.isascii():
                    out[k] = v
                    continue
            elif kind is int:
                if -_INT64 <= v < _INT64:
                    out[k] = v
                    continue
                raise _NotPlain
            elif kind in _PLAIN_SCALARS:
                out[k] = v
                continue
            elif kind is datetime and v.tzinfo is _TZ_UTC:  # mongomock's walk, inline: naive UTC, to the millisecond
                out[k] = v.replace(tzinfo=None, microsecond=v.microsecond // 1000 * 1000)
                continue
            out[k] = _plain(v)
        return out
    if kind is list:
        return [v if type(v) is str and v.isascii() else _plain(v) for v in value]
    if kind is str:
        if not value.isascii():
            try:
                value.encode()
            except UnicodeEncodeError:
                raise _NotPlain from None
        return value
    if kind is int:
        if -_INT64 <= value < _INT64:
            return value
        raise _NotPlain
    if kind in _PLAIN_SCALARS:
        return value
    if kind is datetime:
        return _patch_awareness_fast(value)
    raise _NotPlain


_PLAIN_SCALARS = frozenset({bool, float, type(None), ObjectId, bytes})
#: Field names found plain (a bounded memo: the stores use a few dozen).
_PLAIN_NAMES: set[str] = set()


def _plain_name(name: str) -> bool:
    """A field name every part of MongoDB and mongomock takes as it is: ASCII, not empty, no ``$`` in front, no dot,
    no NUL, not all digits."""
    if not name or not name.isascii() or name[0] == "$" or name.isdigit() or "." in name or "\0" in name:
        return False
    if len(_PLAIN_NAMES) < 4096:
        _PLAIN_NAMES.add(name)
    return True


def _binary_equal(a: Any, b: Any) -> bool:
    """The same BSON value (how MongoDB tells a no-op ``$set``): the same type (``1``, ``1.0`` and ``True`` differ),
    documents with the same fields in the same order, floats bit for bit."""
    kind = type(a)
    if kind is dict or kind is OrderedDict:
        if type(b) is not dict and type(b) is not OrderedDict:
            return False
        return list(a) == list(b) and all(_binary_equal(a[k], b[k]) for k in a)
    if kind is not type(b):
        return False
    if kind is list:
        return len(a) == len(b) and all(_binary_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind is float:
        return struct.pack("<d", a) == struct.pack("<d", b)
    return bool(a == b)


def _point_docs(c: Any, filter: Any, *, many: bool) -> list[Any] | None:
    """The stored documents (not copies) ``filter`` matches, when it names one ``_id`` (or, with ``many``, a list of
    them with ``$in``) and the matcher of simple filters decides the rest; None to leave it to mongomock."""
    if type(filter) is not dict:
        return None
    key = filter.get("_id")
    keys: Any
    if type(key) is str:
        keys = (key,)
    elif many and type(key) is dict and len(key) == 1 and type(key.get("$in")) is list:
        keys = dict.fromkeys(key["$in"])
        if not all(type(k) is str for k in keys):
            return None
    else:
        return None
    if len(filter) == 1 and type(key) is str:  # the stored document under that key is the match (``_id`` equality)
        store = c._store
        if store._ttl_indexes:
            store._remove_expired_documents()
        doc = store._documents.get(key)
        return [] if doc is None else [doc]
    tests = _compile_tests(filter)
    if tests is None:  # a datetime in it? (mongomock's walk makes it naive UTC first)
        filter = _patch_awareness_fast(filter)
        tests = _compile_tests(filter)
        if tests is None:
            return None
    store = c._store
    if store._ttl_indexes:
        store._remove_expired_documents()
    docs = store._documents
    match = _matcher(filter, tests)
    found = []
    for k in keys:
        doc = docs.get(k)
        if doc is not None and match(doc):
            found.append(doc)
    return found


def _point_out(value: Any, aware: bool) -> Any:
    """What mongomock hands out for a stored document: a copy (documents as dicts), datetimes in UTC when the client
    is time-zone aware (``_copy_field_fast`` then ``_make_aware_fast`` in one walk)."""
    kind = type(value)
    if kind is dict or kind is OrderedDict:
        return {k: v if type(v) in _SCALARS else _point_out(v, aware) for k, v in value.items()}
    if kind is list:
        return [v if type(v) in _SCALARS else _point_out(v, aware) for v in value]
    if kind in _SCALARS:
        return value
    if kind is datetime:
        return value.replace(tzinfo=_UTC) if aware else value
    copied = _copy_field_fast(value, dict)
    return _make_aware_fast(copied) if aware else copied


def _exclusive(step: Callable[..., Any]) -> Callable[..., Any]:
    """Run an engine step (first argument: the mongomock collection) under its store's lock, as mongomock's own
    operations run, so that it never overlaps one of them."""

    @functools.wraps(step)
    def run(c: Any, *args: Any, **kwargs: Any) -> Any:
        with c._store._rwlock.writer():
            return step(c, *args, **kwargs)

    return run


@_exclusive
def _point_find_one(c: Any, filter: Any) -> Any:
    """``find_one(filter)`` (no projection, no sort), or ``_FALLBACK``."""
    found = _point_docs(c, filter, many=False)
    if found is None:
        return _FALLBACK
    return _point_out(found[0], _tz_aware(c)) if found else None


def _point_plan(c: Any, update: Any) -> list[tuple[str, str, Any]] | None:
    """The update as ``(operator, field, operand)`` steps (operands as they will be stored), or None to leave it to
    mongomock."""
    if type(update) is not dict or not update:
        return None
    plan: list[tuple[str, str, Any]] = []
    names: set[str] = set()
    for op, changes in update.items():
        if op not in _POINT_OPERATORS or type(changes) is not dict or not changes:
            return None
        for name, operand in changes.items():
            step = op  # ``$push`` of ``$each`` becomes a step of its own; the next field is the operator's again
            if type(name) is not str or name in names or name == "_id":
                return None
            if name not in _PLAIN_NAMES and not _plain_name(name):
                return None
            names.add(name)
            if op == "$set" or op == "$setOnInsert":
                try:
                    operand = _plain(operand)
                except _NotPlain:
                    return None
            elif op == "$inc":
                if type(operand) is not int or not -_INT64 <= operand < _INT64:
                    return None
            elif op == "$push":
                each = False
                if type(operand) is dict:  # ``$each`` alone; other modifiers or an embedded document: mongomock's
                    if list(operand) != ["$each"] or type(operand["$each"]) is not list or not operand["$each"]:
                        return None
                    operand = operand["$each"]
                    each = True
                try:
                    operand = _plain(operand)
                except _NotPlain:
                    return None
                if each:
                    step = "$each"
            elif (op == "$pull" and type(operand) is not str) or (op == "$pullAll" and not _strings(operand)):
                return None
            plan.append((step, name, operand))
    for index in c._store.indexes.values():
        if index.get("unique") and not names.isdisjoint(_index_fields(index)):
            return None
    return plan


def _strings(value: Any) -> bool:
    return type(value) is list and all(type(x) is str for x in value)


def _index_fields(index: Any) -> set[str]:
    """The top-level fields a unique index depends on (its keys and its partial filter's fields)."""
    fields = {str(key).split(".")[0] for key, _ in index.get("key", ())}
    pending = [index.get("partialFilterExpression")]
    while pending:
        part = pending.pop()
        if isinstance(part, Mapping):
            for key, value in part.items():
                fields.add(str(key).split(".")[0])
                pending.append(value)
        elif isinstance(part, list | tuple):
            pending.extend(part)
    return fields


def _point_changes(doc: Any, plan: list[tuple[str, str, Any]], fresh: bool) -> tuple[list[Any], bool] | None:
    """What the plan changes in ``doc``: ``(field, new value or _UNSET)`` and whether that is a modification; None when
    MongoDB would refuse it (an ``$inc`` on something else than an int, a ``$push`` or ``$pull`` on a non-array...).
    ``fresh``: the plan's operands may go into the document as they are (else they are copied)."""
    changes: list[Any] = []
    modified = False
    get = doc.get
    for op, name, operand in plan:
        old = get(name, _MISSING)
        if op == "$set":
            if not fresh and (type(operand) is dict or type(operand) is list):
                operand = _copy_document(operand)
            if old is _MISSING or not _binary_equal(old, operand):
                changes.append((name, operand))
                modified = True
        elif op == "$inc":
            if old is _MISSING:
                new = operand
            elif type(old) is int:
                new = old + operand
                if not -_INT64 <= new < _INT64:
                    return None
            else:
                return None
            if new != old:  # (missing is never equal)
                changes.append((name, new))
                modified = True
        elif op == "$push" or op == "$each":
            if not fresh:
                operand = _copy_document(operand)
            pushed = operand if op == "$each" else [operand]
            if old is _MISSING:
                changes.append((name, pushed))
            elif type(old) is list:
                changes.append((name, [*old, *pushed]))
            else:
                return None
            modified = True
        elif op == "$unset":
            if old is not _MISSING:
                changes.append((name, _UNSET))
                modified = True
        elif op == "$pull" or op == "$pullAll":
            if old is _MISSING:
                continue
            if type(old) is not list:
                return None
            if op == "$pull":
                kept = [x for x in old if x != operand]
            else:  # strings only: a set (an account's markers x a batch's ids was quadratic as a list)
                drop = frozenset(operand)
                kept = [x for x in old if type(x) is not str or x not in drop]
            if len(kept) != len(old):
                changes.append((name, kept))
                modified = True
        # $setOnInsert: the document exists, nothing to do
    return changes, modified


def _point_commit(doc: Any, changes: list[Any]) -> None:
    added = []
    for name, new in changes:
        if new is _UNSET:
            del doc[name]
        elif name in doc:
            doc[name] = new
        else:
            added.append((name, new))
    for name, new in sorted(added, key=operator.itemgetter(0)):
        doc[name] = new


def _point_target(c: Any, filter: Any, update: Any, *, many: bool) -> tuple[list[Any], list[Any]] | None:
    """The stored documents an update applies to and its plan, or None to leave the update to mongomock (an upsert
    that matched nothing inserts: mongomock's)."""
    found = _point_docs(c, filter, many=many)
    if found is None:
        return None
    plan = _point_plan(c, update)
    return None if plan is None else (found, plan)


@_exclusive
def _point_find(c: Any, filter: Any) -> Any:
    """``find(filter)`` (no projection, sort, skip or limit) by ``_id`` or ``$in`` of them: the documents, or
    ``_FALLBACK``."""
    found = _point_docs(c, filter, many=True)
    if found is None:
        return _FALLBACK
    aware = _tz_aware(c)
    return [_point_out(doc, aware) for doc in found]


@_exclusive
def _point_update(c: Any, filter: Any, update: Any, *, multi: bool, upsert: bool) -> Any:
    """``update_one``/``update_many``'s raw result (as mongomock words it), or ``_FALLBACK``."""
    target = _point_target(c, filter, update, many=multi)
    if target is None or (upsert and not target[0]):
        return _FALLBACK
    found, plan = target
    if not multi:
        del found[1:]
    planned = []
    for i, doc in enumerate(found):
        step = _point_changes(doc, plan, fresh=i == 0)
        if step is None:
            return _FALLBACK
        planned.append((doc, *step))
    modified = 0
    for doc, changes, changed in planned:
        _point_commit(doc, changes)
        modified += changed
    return {
        "connectionId": c.database.client._id,
        "err": None,
        "n": len(found),
        "nModified": modified,
        "ok": 1,
        "upserted": None,
        "updatedExisting": bool(found),
    }


@_exclusive
def _point_find_one_and_update(c: Any, filter: Any, update: Any, *, upsert: bool, after: bool) -> Any:
    """``find_one_and_update`` (no projection, no sort): the document before or after, None, or ``_FALLBACK``."""
    target = _point_target(c, filter, update, many=False)
    if target is None or (upsert and not target[0]):
        return _FALLBACK
    found, plan = target
    if not found:
        return None
    doc = found[0]
    step = _point_changes(doc, plan, fresh=True)
    if step is None:
        return _FALLBACK
    aware = _tz_aware(c)
    before = None if after else _point_out(doc, aware)
    _point_commit(doc, step[0])
    return _point_out(doc, aware) if after else before


@_exclusive
def _point_insert(c: Any, documents: Any) -> Any:
    """The ``_id``s of ``documents`` once inserted, or ``_FALLBACK`` (nothing inserted) unless each has a string
    ``_id`` not taken, plain values and field names, and the collection has no unique index."""
    if type(documents) is not list or not documents:
        return _FALLBACK
    store = c._store
    if any(index.get("unique") for index in store.indexes.values()):
        return _FALLBACK
    if store._ttl_indexes:
        store._remove_expired_documents()
    stored = store._documents
    prepared: dict[str, Any] = {}
    for doc in documents:
        if type(doc) is not dict:
            return _FALLBACK
        key = doc.get("_id")
        if type(key) is not str or key in stored or key in prepared:
            return _FALLBACK
        try:
            prepared[key] = _plain(doc)
        except _NotPlain:
            return _FALLBACK
    stored.update(prepared)
    return list(prepared)


class StandInCursor:
    """A cursor over mongomock's, or over the point engine's answer for a plain ``find(filter)`` by ``_id`` (made
    into mongomock's cursor as soon as it is sorted, skipped or limited, or when the engine leaves the filter)."""

    def __init__(self, cursor: Any, point: tuple[Any, Any] | None = None) -> None:
        self._cursor = cursor
        self._point = point  # (mongomock collection, filter) while no cursor is made

    def _made(self) -> Any:
        if self._point is not None:
            collection, filter = self._point
            self._cursor = collection.find(filter)
            self._point = None
        return self._cursor

    def sort(self, *args: Any, **kwargs: Any) -> StandInCursor:
        self._cursor = self._made().sort(*args, **kwargs)
        return self

    def skip(self, n: int) -> StandInCursor:
        self._cursor = self._made().skip(n)
        return self

    def limit(self, n: int) -> StandInCursor:
        self._cursor = self._made().limit(n)
        return self

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[dict[str, Any]]:
        for doc in self._sync_iter():
            yield doc

    def _sync_iter(self) -> Iterator[dict[str, Any]]:
        if self._point is not None:
            collection, filter = self._point
            found = _point_find(collection, filter)
            if found is not _FALLBACK:
                return iter(found)
            self._made()
        # mongomock's ``Cursor.__next__`` slices its whole result list again for every document it hands out
        # (quadratic: 100,000 follows took minutes to walk); take the computed list once instead.
        if isinstance(self._cursor, mongomock.collection.Cursor):  # find(); aggregate()'s is a plain iterator
            return iter(self._cursor._compute_results(with_limit_and_skip=True))  # type: ignore[no-untyped-call]
        return iter(self._cursor)

    async def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for doc in self._sync_iter():
            out.append(doc)
            if length is not None and len(out) >= length:
                break
        return out

    async def close(self) -> None:
        return None


@dataclass(frozen=True, slots=True)
class StandInBulkResult:
    """The fields of PyMongo's ``BulkWriteResult`` the stores read."""

    matched_count: int
    modified_count: int
    upserted_ids: dict[int, Any]

    @property
    def upserted_count(self) -> int:
        return len(self.upserted_ids)


class StandInCollection:
    def __init__(self, collection: Any) -> None:
        self._c = collection
        self.name: str = collection.name

    # Reads
    async def find_one(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        if len(args) == 1 and not kwargs:
            found = _point_find_one(self._c, args[0])
            if found is not _FALLBACK:
                return found  # type: ignore[no-any-return]
        result: dict[str, Any] | None = self._c.find_one(*args, **kwargs)
        return result

    def find(self, *args: Any, **kwargs: Any) -> StandInCursor:
        if len(args) == 1 and not kwargs and type(args[0]) is dict and type(args[0].get("_id")) in (str, dict):
            return StandInCursor(None, (self._c, args[0]))
        return StandInCursor(self._c.find(*args, **kwargs))

    async def aggregate(self, pipeline: list[Mapping[str, Any]], **kwargs: Any) -> StandInCursor:
        return StandInCursor(self._c.aggregate(pipeline, **kwargs))

    async def count_documents(self, filter: Mapping[str, Any], **kwargs: Any) -> int:
        return int(self._c.count_documents(filter, **kwargs))

    async def estimated_document_count(self) -> int:
        return int(self._c.estimated_document_count())

    async def distinct(self, key: str, filter: Mapping[str, Any] | None = None) -> list[Any]:
        return list(self._c.distinct(key, filter))

    # Writes
    async def insert_one(self, document: dict[str, Any], **kwargs: Any) -> Any:
        if not kwargs:
            ids = _point_insert(self._c, [document])
            if ids is not _FALLBACK:
                return InsertOneResult(ids[0], acknowledged=True)
        return self._c.insert_one(document, **kwargs)

    async def insert_many(self, documents: list[dict[str, Any]], **kwargs: Any) -> Any:
        if kwargs.keys() <= {"ordered"}:
            ids = _point_insert(self._c, documents)
            if ids is not _FALLBACK:
                return InsertManyResult(ids, acknowledged=True)
        return self._c.insert_many(documents, **kwargs)

    async def update_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._update(False, *args, **kwargs)

    async def update_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._update(True, *args, **kwargs)

    def _update(self, multi: bool, filter: Any, update: Any, upsert: bool = False, **kwargs: Any) -> Any:
        if not kwargs:
            raw = _point_update(self._c, filter, update, multi=multi, upsert=upsert)
            if raw is not _FALLBACK:
                return UpdateResult(raw, acknowledged=True)
        run = self._c.update_many if multi else self._c.update_one
        return run(filter, update, upsert, **kwargs)

    async def replace_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._c.replace_one(*args, **kwargs)

    async def find_one_and_update(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        if len(args) == 2 and kwargs.keys() <= {"return_document", "upsert"}:
            after = kwargs.get("return_document", ReturnDocument.BEFORE)
            upsert = kwargs.get("upsert", False)
            if type(after) is bool and type(upsert) is bool:
                found = _point_find_one_and_update(self._c, args[0], args[1], upsert=upsert, after=after)
                if found is not _FALLBACK:
                    return found  # type: ignore[no-any-return]
        result: dict[str, Any] | None = self._c.find_one_and_update(*args, **kwargs)
        return result

    async def find_one_and_delete(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        result: dict[str, Any] | None = self._c.find_one_and_delete(*args, **kwargs)
        return result

    async def delete_one(self, *args: Any, **kwargs: Any) -> Any:
        return self._c.delete_one(*args, **kwargs)

    async def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._c.delete_many(*args, **kwargs)

    async def bulk_write(self, requests: list[Any], **kwargs: Any) -> Any:
        """mongomock's own bulk_write does not take current PyMongo's operations; ``UpdateOne``/``UpdateMany``
        (what the stores use) are run one after the other here, as one call (nothing else runs in between)."""
        if not all(isinstance(r, UpdateOne | UpdateMany) for r in requests):
            return self._c.bulk_write(requests, **kwargs)
        matched = modified = 0
        upserted: dict[int, Any] = {}
        for i, r in enumerate(requests):
            result = self._update(isinstance(r, UpdateMany), r._filter, r._doc, bool(r._upsert))
            matched += result.matched_count
            modified += result.modified_count
            if result.upserted_id is not None:
                upserted[i] = result.upserted_id
        return StandInBulkResult(matched, modified, upserted)

    # Indexes
    async def create_index(self, keys: Any, **kwargs: Any) -> str:
        return str(self._c.create_index(keys, **kwargs))

    async def create_indexes(self, indexes: list[Any]) -> list[str]:
        return [str(name) for name in self._c.create_indexes(indexes)]

    async def index_information(self) -> dict[str, Any]:
        return dict(self._c.index_information())

    async def drop(self) -> None:
        self._c.drop()


class StandInDatabase:
    def __init__(self, database: Any) -> None:
        self._db = database
        self.name: str = database.name

    def __getitem__(self, name: str) -> StandInCollection:
        return StandInCollection(self._db[name])

    def __getattr__(self, name: str) -> StandInCollection:
        if name.startswith("_"):
            raise AttributeError(name)
        return self[name]

    def get_collection(self, name: str) -> StandInCollection:
        return self[name]

    async def command(self, command: str | Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        name = command if isinstance(command, str) else next(iter(command))
        if name == "ping":
            return {"ok": 1.0}
        raise NotImplementedError(f"the MongoDB stand-in does not run the {name!r} command")

    async def list_collection_names(self) -> list[str]:
        return list(self._db.list_collection_names())

    async def drop_collection(self, name: str) -> None:
        self._db.drop_collection(name)


class StandInClient:
    """Mimics ``pymongo.AsyncMongoClient`` for one process. Data lives as long as the object."""

    def __init__(self) -> None:
        self._client: Any = mongomock.MongoClient(tz_aware=True)

    def __getitem__(self, name: str) -> StandInDatabase:
        return StandInDatabase(self._client[name])

    def get_database(self, name: str) -> StandInDatabase:
        return self[name]

    @property
    def admin(self) -> StandInDatabase:
        return self["admin"]

    async def drop_database(self, name: str) -> None:
        self._client.drop_database(name)

    async def close(self) -> None:
        self._client.close()
