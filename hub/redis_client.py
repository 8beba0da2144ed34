"""The one place that turns ``HUB_REDIS_URL`` (+ ``HUB_REDIS_CLUSTER``) into a redis-py asyncio client.

Single Redis: ``redis.asyncio.Redis`` (the rooms' client on a connection pool that waits for a free connection).
Redis Cluster: ``redis.asyncio.cluster.RedisCluster`` seeded with every URL listed (comma-separated); it learns the
slot map from them, follows ``MOVED``/``ASK`` and reconnects to a master that comes back. Both speak the same
commands; what differs for callers is only what the cluster forbids (keys of several slots in one script,
transaction or ``MGET``; ``PUBLISH`` inside a pipeline), and every store is written within those rules.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis.asyncio as aioredis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from hub.settings import SettingsError

# A cluster client opens a connection per concurrent command on each master and refuses past this (it cannot wait
# for a free one like the single-Redis BlockingConnectionPool): sized for a thousand viewers leaving at once.
CLUSTER_MAX_CONNECTIONS_PER_NODE = 1024


def urls(redis_url: str) -> list[str]:
    return [u.strip() for u in redis_url.split(",") if u.strip()]


def cluster_nodes(redis_url: str) -> list[ClusterNode]:
    nodes = []
    for url in urls(redis_url):
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise SettingsError(f"HUB_REDIS_URL: {url!r} is not a redis://host:port URL")
        nodes.append(ClusterNode(parts.hostname, parts.port or 6379))
    return nodes


def connect(redis_url: str, *, cluster: bool, pooled_wait: bool = False) -> Any:
    """A client for ``HUB_REDIS_URL`` (``cluster``: ``HUB_REDIS_CLUSTER``). ``pooled_wait``: on a single Redis,
    wait for a free connection (at most 64) instead of opening more; a cluster client allows
    ``CLUSTER_MAX_CONNECTIONS_PER_NODE`` per master."""
    if cluster:
        return RedisCluster(
            startup_nodes=cluster_nodes(redis_url),
            require_full_coverage=False,  # a master that is down costs its own slots, not the whole cluster
            max_connections=CLUSTER_MAX_CONNECTIONS_PER_NODE if pooled_wait else 256,
            socket_timeout=5,
            socket_connect_timeout=2,
            health_check_interval=10,
        )
    url = urls(redis_url)[0]
    if pooled_wait:
        return aioredis.Redis(
            connection_pool=aioredis.BlockingConnectionPool.from_url(
                url,
                max_connections=64,
                timeout=5,
                socket_timeout=5,
                socket_connect_timeout=2,
                health_check_interval=10,
            )
        )
    return aioredis.Redis.from_url(url, socket_timeout=5, health_check_interval=10)


def _no_retries() -> Retry:
    """For the fan-out's own connections: redis-py tries nothing again by itself there. The fan-out's loops do it
    (a new subscriber connection that resubscribes everything; one more try of a failed publish, whose repeats the
    receiving nodes drop by sequence number), so there is one retry policy, not redis-py's ten tries per command
    under it, which kept a publish waiting for seconds and sent it again after a reply that was only late."""
    return Retry(NoBackoff(), 0)


def link_client(redis_url: str) -> Any:
    """The fan-out's own client on a single Redis (its subscriber connection and its publisher), apart from the
    rooms' pool."""
    return aioredis.Redis.from_url(
        urls(redis_url)[0], socket_timeout=5, socket_connect_timeout=2, health_check_interval=10, retry=_no_retries()
    )


def node_client(node: Any) -> Any:
    """A plain client for one master of a cluster (``ClusterNode``), with the cluster client's credentials: the
    fan-out's subscriber and publisher connections to that master."""
    kwargs = node.connection_kwargs
    return aioredis.Redis(
        host=node.host,
        port=node.port,
        username=kwargs.get("username"),
        password=kwargs.get("password"),
        socket_timeout=5,
        socket_connect_timeout=2,
        health_check_interval=10,
        retry=_no_retries(),
    )
