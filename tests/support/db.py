"""The one place tests get a database from.

By default every test runs on the in-process MongoDB stand-in (``hub.mongo_standin``). With ``HUB_TEST_MONGO_URL`` set
(e.g. ``mongodb://127.0.0.1:27017``) the same tests run on a real MongoDB through ``pymongo.AsyncMongoClient``, each
on a fresh, uniquely named database that is dropped afterwards. No test names the client it runs on.

``yielding`` wraps either client so that each database call first yields to the event loop a few times, as a
network round trip does: concurrent money operations then interleave step by step even on the stand-in (which never
suspends by itself). On a real server the wrapper only adds more interleavings.
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from hub.mongo_standin import StandInClient

MONGO_URL_VARIABLE = "HUB_TEST_MONGO_URL"
SERVER_SELECTION_TIMEOUT_MS = 5000


def configured_mongo_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The real MongoDB the tests should use, or None for the stand-in."""
    url = (os.environ if environ is None else environ).get(MONGO_URL_VARIABLE, "").strip()
    return url or None


def open_client(url: str | None, *, server_selection_timeout_ms: int = SERVER_SELECTION_TIMEOUT_MS) -> Any:
    """A client as the hub's wiring makes one: ``AsyncMongoClient`` for a URL, the stand-in without. Does not
    connect (PyMongo connects on first use)."""
    if url:
        from pymongo import AsyncMongoClient

        return AsyncMongoClient(url, tz_aware=True, serverSelectionTimeoutMS=server_selection_timeout_ms)
    return StandInClient()


def fresh_db_name(prefix: str = "hubtest") -> str:
    """Unique per call, so tests sharing one real server never see each other's data."""
    return f"{prefix}_{secrets.token_hex(6)}"


@dataclass(frozen=True)
class FreshDatabase:
    client: Any
    name: str

    @property
    def db(self) -> Any:
        return self.client[self.name]


@asynccontextmanager
async def fresh_database(prefix: str = "hubtest", *, url: str | None = None) -> AsyncIterator[FreshDatabase]:
    """A client on the configured database server and a fresh database name; the database is dropped and the
    client closed afterwards (``close`` is a coroutine for both clients)."""
    client = open_client(url if url is not None else configured_mongo_url())
    name = fresh_db_name(prefix)
    try:
        yield FreshDatabase(client, name)
    finally:
        try:
            await client.drop_database(name)
        finally:
            await client.close()


YIELDING_OPS = frozenset(
    {
        "find_one",
        "insert_one",
        "update_one",
        "update_many",
        "find_one_and_update",
        "find_one_and_delete",
        "replace_one",
        "delete_one",
        "delete_many",
        "count_documents",
        "bulk_write",
    }
)


class _YieldingCollection:
    def __init__(self, collection: Any, rnd: random.Random) -> None:
        self._collection = collection
        self._rnd = rnd

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._collection, name)
        if name not in YIELDING_OPS:
            return target

        async def op(*args: Any, **kwargs: Any) -> Any:
            for _ in range(self._rnd.randint(0, 2)):
                await asyncio.sleep(0)
            return await target(*args, **kwargs)

        return op


class _YieldingDatabase:
    def __init__(self, database: Any, rnd: random.Random) -> None:
        self._database = database
        self._rnd = rnd

    def __getitem__(self, name: str) -> _YieldingCollection:
        return _YieldingCollection(self._database[name], self._rnd)

    def get_collection(self, name: str) -> _YieldingCollection:
        return self[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


class YieldingClient:
    """Wraps a client (stand-in or real); databases taken from it yield to the event loop before each call."""

    def __init__(self, client: Any, rnd: random.Random) -> None:
        self._client = client
        self._rnd = rnd

    def __getitem__(self, name: str) -> _YieldingDatabase:
        return _YieldingDatabase(self._client[name], self._rnd)

    def get_database(self, name: str) -> _YieldingDatabase:
        return self[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def yielding(database: Any, rnd: random.Random) -> Any:
    """``database`` (from either client) with every call yielding to the event loop 0–2 times first."""
    return _YieldingDatabase(database, rnd)


COUNTED_OPS = YIELDING_OPS | {"find", "aggregate", "insert_many", "distinct", "estimated_document_count"}


class _CountingCollection:
    def __init__(self, collection: Any, name: str, log: list[tuple[str, str]]) -> None:
        self._collection = collection
        self._name = name
        self._log = log

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._collection, name)
        if name not in COUNTED_OPS:
            return target

        def op(*args: Any, **kwargs: Any) -> Any:
            self._log.append((self._name, name))
            return target(*args, **kwargs)  # a coroutine, or find()'s cursor

        return op


class _CountingDatabase:
    def __init__(self, database: Any, log: list[tuple[str, str]]) -> None:
        self._database = database
        self._log = log

    def __getitem__(self, name: str) -> _CountingCollection:
        return _CountingCollection(self._database[name], name, self._log)

    def get_collection(self, name: str) -> _CountingCollection:
        return self[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._database, name)


class CountingClient:
    """Wraps a client (stand-in or real); every collection operation (one round trip on a real server) taken from
    its databases is appended to ``ops`` as ``(collection, operation)``."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.ops: list[tuple[str, str]] = []

    def __getitem__(self, name: str) -> _CountingDatabase:
        return _CountingDatabase(self._client[name], self.ops)

    def get_database(self, name: str) -> _CountingDatabase:
        return self[name]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
