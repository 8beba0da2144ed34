"""Placement: which node holds each live stream's origin, and every node's load and address.

One protocol, two implementations chosen by ``hub`` wiring (after LiveKit's local/Redis router pair):
:class:`LocalPlacement` for a single node (in-process, no Redis), ``cluster.store_redis.RedisPlacement`` when nodes
share a Redis. Edges and ``app`` see only this protocol. Nodes find each other here; each is configured with
nothing but its own id and public URL.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable
from typing import Protocol

from cluster.models import NodeLoad, Origin

#: Builds this node's current load (the hub reads it from the SFU's stats).
LoadSource = Callable[[], NodeLoad]
#: Called with a stream id: the stream ended on another node, or another node took its origin over.
StreamListener = Callable[[str], Awaitable[None]]


class Placement(Protocol):
    node_id: str

    async def start(self) -> None:
        """Register this node and start heartbeating."""

    async def close(self) -> None:
        """Stop heartbeating and leave the registry (origins held here are released)."""

    async def claim_origin(self, stream_id: str, worker: int | None = None) -> Origin:
        """This node now holds the stream's publisher. Takes the origin over from any other node (the publisher
        is the authority: it reconnected here), with a new epoch."""

    async def release_origin(self, stream_id: str) -> None:
        """This node no longer holds the publisher (only if it still is the registered origin)."""

    async def origin(self, stream_id: str) -> Origin | None:
        """The live origin of a stream, or None (not live anywhere, or its node's lease ran out)."""

    async def nodes(self) -> list[NodeLoad]:
        """Every live node's last advertised load, this one included."""

    async def stream_viewers(self, stream_id: str) -> int:
        """The stream's viewers on every live node (this node's counted now, the others' as of their last
        heartbeat)."""

    async def announce_ended(self, stream_id: str) -> None:
        """The stream ended here: tell every other node (their ``on_ended`` listeners run) and forget its origin."""

    def on_ended(self, listener: StreamListener) -> None: ...

    def on_origin_moved(self, listener: StreamListener) -> None:
        """``listener(stream_id)`` when another node claimed a stream's origin (this node may have held it, or be
        relaying from the node that did)."""


class LocalPlacement:
    """One node, no Redis: this node is the only one and holds every origin it claims."""

    def __init__(self, node_id: str, load: LoadSource) -> None:
        self.node_id = node_id
        self._load = load
        self._origins: dict[str, Origin] = {}
        self._epochs = itertools.count(1)

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        self._origins.clear()

    async def claim_origin(self, stream_id: str, worker: int | None = None) -> Origin:
        origin = Origin(stream_id, self.node_id, self._load().url, next(self._epochs), worker)
        self._origins[stream_id] = origin
        return origin

    async def release_origin(self, stream_id: str) -> None:
        self._origins.pop(stream_id, None)

    async def origin(self, stream_id: str) -> Origin | None:
        return self._origins.get(stream_id)

    async def nodes(self) -> list[NodeLoad]:
        return [self._load()]

    async def stream_viewers(self, stream_id: str) -> int:
        return dict(self._load().stream_viewers).get(stream_id, 0)

    async def announce_ended(self, stream_id: str) -> None:
        self._origins.pop(stream_id, None)

    def on_ended(self, listener: StreamListener) -> None:
        return None  # no other node can end a stream

    def on_origin_moved(self, listener: StreamListener) -> None:
        return None  # no other node can take an origin over
