"""Redis keys owned by ``cluster`` (the placement registry).

| key | type | what |
|---|---|---|
| ``cluster:nodes`` | sorted set | node id scored by its lease's expiry (unix ms); members past it are dead and pruned |
| ``cluster:node:<node_id>`` | string | the node's ``NodeLoad`` (JSON), expiring with its lease |
| ``cluster:origin:{<stream_id>}`` | string | the stream's ``Origin`` (JSON), expiring with the origin node's lease |
| ``cluster:epoch:{<stream_id>}`` | string | the last origin epoch handed out for the stream (INCR), kept a day |
| ``cluster:viewers:{<stream_id>}`` | hash | node id -> that node's viewers of the stream (summed over live nodes) |
| ``cluster:ended`` | channel | stream ids ended anywhere: every node drops its copy at once |
| ``cluster:origins`` | channel | origin claims (stream id, node, epoch): relaying nodes re-pipe from the new origin |

A node renews its lease, its load and the origins it holds every ``HUB_CLUSTER_HEARTBEAT_S``; a lease lasts
``HUB_CLUSTER_LEASE_S``. A node that stops heartbeating disappears from the registry when its lease runs out.

The stream id in braces is the Redis Cluster hash tag shared with the room's other keys (``rooms/keys.py``): a
claim writes the epoch and the origin in one transaction, which a cluster allows only within one slot. The two
channels are classic pub/sub: low volume, and a cluster's bus forwards a ``PUBLISH`` to every master.
"""

from __future__ import annotations

NODES = "cluster:nodes"
NODE = "cluster:node:"
ORIGIN = "cluster:origin:"
EPOCH = "cluster:epoch:"
VIEWERS = "cluster:viewers:"
ENDED_CHANNEL = "cluster:ended"
ORIGINS_CHANNEL = "cluster:origins"

EPOCH_TTL_S = 24 * 3600


def node(node_id: str) -> str:
    return NODE + node_id


def _tag(stream_id: str) -> str:
    return "{" + stream_id + "}"


def origin(stream_id: str) -> str:
    return ORIGIN + _tag(stream_id)


def epoch(stream_id: str) -> str:
    return EPOCH + _tag(stream_id)


def viewers(stream_id: str) -> str:
    return VIEWERS + _tag(stream_id)
