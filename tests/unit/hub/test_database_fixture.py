"""The tests' database follows ``HUB_TEST_MONGO_URL``: the stand-in without it, PyMongo's async client with it."""

from __future__ import annotations

from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.errors import ServerSelectionTimeoutError

from tests.support.db import MONGO_URL_VARIABLE, configured_mongo_url, fresh_database, open_client
from tests.support.servers import free_port


def test_without_the_variable_the_tests_use_the_in_process_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(MONGO_URL_VARIABLE, raising=False)
    assert configured_mongo_url() is None
    assert not isinstance(open_client(configured_mongo_url()), AsyncMongoClient)
    assert configured_mongo_url({MONGO_URL_VARIABLE: "  "}) is None


async def test_with_the_variable_the_tests_get_a_real_async_client_on_that_server(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()  # nothing listens there: the client must try this address and fail as documented
    monkeypatch.setenv(MONGO_URL_VARIABLE, f"mongodb://127.0.0.1:{port}")
    client: Any = open_client(configured_mongo_url(), server_selection_timeout_ms=200)
    try:
        assert isinstance(client, AsyncMongoClient)
        assert client.codec_options.tz_aware  # the stores compare timezone-aware datetimes, as the hub's client does
        with pytest.raises(ServerSelectionTimeoutError, match=f"127.0.0.1:{port}"):
            await client["hubtest_probe"].command("ping")
    finally:
        await client.close()


async def test_each_fresh_database_has_its_own_name_and_data() -> None:
    async with fresh_database() as first, fresh_database() as second:
        assert first.name != second.name
        await first.db["things"].insert_one({"_id": "b"})
        assert await second.db["things"].find_one({"_id": "b"}) is None
        assert await first.db["things"].find_one({"_id": "b"}) == {"_id": "b"}
