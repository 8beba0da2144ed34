"""Shared fixtures: a real redis-server per session, a clean database per test, a hub and an HTTP client.

Set ``HUB_TEST_MONGO_URL`` to run every store test against a real MongoDB instead of the in-process stand-in
(``tests/support/db.py`` decides; no test names the client it gets).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import redis as sync_redis

from hub.app import create_app
from hub.settings import Settings
from hub.wiring import Hub
from tests.support.db import configured_mongo_url, fresh_db_name, open_client
from tests.support.redis_cluster import LocalRedisCluster, SharedRedis, redis_cluster
from tests.support.servers import redis_server

TEST_JWT_SECRET = "test-secret-" + "x" * 40
TEST_WEBHOOK_SECRET = "whsec_test_" + "y" * 24


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as (url, _proc):
        yield url


@pytest.fixture
def clean_redis(redis_url: str) -> str:
    """The session's Redis, emptied for this test."""
    client = sync_redis.Redis.from_url(redis_url)
    client.flushall()
    client.close()
    return redis_url


@pytest.fixture(scope="session")
def redis_cluster_server() -> Iterator[LocalRedisCluster]:
    """A real three-master Redis Cluster for the session (made with ``redis-cli --cluster create``)."""
    with redis_cluster(3) as cluster:
        yield cluster


@pytest.fixture
def clean_redis_cluster(redis_cluster_server: LocalRedisCluster) -> LocalRedisCluster:
    """The session's Redis Cluster, every master up and emptied for this test."""
    for i, master in enumerate(redis_cluster_server.masters):
        if master.proc is None:
            redis_cluster_server.start_master(i)
    redis_cluster_server.flushall()
    return redis_cluster_server


@pytest.fixture(params=["single", "cluster"])
def any_redis(request: pytest.FixtureRequest) -> SharedRedis:
    """Run the test on one Redis and again on a three-master Redis Cluster (each emptied for it)."""
    if request.param == "single":
        return SharedRedis(request.getfixturevalue("clean_redis"), cluster=False)
    cluster: LocalRedisCluster = request.getfixturevalue("clean_redis_cluster")
    return SharedRedis(cluster.url, cluster=True)


@pytest.fixture
def db_name() -> str:
    """A fresh database name for this test (unique, so tests sharing a real MongoDB never meet)."""
    return fresh_db_name()


@pytest.fixture
async def mongo_client(db_name: str) -> AsyncIterator[Any]:
    """The stand-in, or ``AsyncMongoClient`` when ``HUB_TEST_MONGO_URL`` is set; ``db_name`` is dropped afterwards."""
    client = open_client(configured_mongo_url())
    try:
        yield client
    finally:
        try:
            await client.drop_database(db_name)
        finally:
            await client.close()


@pytest.fixture
async def database(mongo_client: Any, db_name: str) -> Any:
    """This test's fresh database on ``mongo_client``."""
    return mongo_client[db_name]


def make_settings(db_name: str, **overrides: Any) -> Settings:
    env = {
        "HUB_JWT_SECRET": TEST_JWT_SECRET,
        "HUB_STRIPE_SECRET_KEY": "sk_test_" + "z" * 24,
        "HUB_STRIPE_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "HUB_BCRYPT_ROUNDS": "4",
        # Test suites sign up many accounts from 127.0.0.1; the per-address sign-up limit has its own tests.
        "HUB_REGISTER_BURST": "10000",
        "HUB_MONGO_DB": db_name,
        "HUB_SFU_ANNOUNCED_IPS": "127.0.0.1",
        "HUB_ICE_SERVERS": "[]",
    }
    return Settings.from_env(env | settings_env(**overrides))


def settings_env(**overrides: Any) -> dict[str, str]:
    """Overrides named like their variables (``chat_burst=3`` is ``HUB_CHAT_BURST=3``), as the environment would say
    them: settings are built the one way production builds them (``None`` leaves a variable unset)."""
    env: dict[str, str] = {}
    for name, value in overrides.items():
        if value is None:
            continue
        if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
            text = f"{value[0]}-{value[1]}"  # a port range
        elif isinstance(value, tuple | list) and all(isinstance(v, str) for v in value):
            text = ",".join(value)
        elif isinstance(value, tuple | list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env["HUB_" + name.upper()] = text
    return env


@pytest.fixture
def settings(db_name: str) -> Settings:
    return make_settings(db_name)


@pytest.fixture
async def hub(settings: Settings, mongo_client: Any) -> AsyncIterator[Hub]:
    instance = Hub(settings, mongo_client=mongo_client)
    await instance.start()
    yield instance
    await instance.close()
    await mongo_client.drop_database(settings.mongo_db)


@pytest.fixture
async def app(hub: Hub) -> Any:
    return create_app(hub, own_hub=False)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 50000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c
