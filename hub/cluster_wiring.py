"""Wiring for the cluster plane: the placement registry (Redis when ``HUB_REDIS_URL`` is set, else in-process), the
request signer, the origin client, and :class:`cluster.media.ClusterMedia` around this node's SFU.

``SfuWiring`` hands its SFU to :meth:`ClusterWiring.wrap`; what it gets back is the SFU the rest of the hub uses.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from starlette.routing import Route

from app.nodes import PublicNode
from cluster.internal_http import internal_routes
from cluster.media import ClusterMedia
from cluster.models import NodeLoad, preference
from cluster.origin_client import OriginClient
from cluster.placement import LocalPlacement, Placement
from cluster.signing import RequestSigner
from cluster.store_redis import RedisPlacement
from hub.settings import Settings
from sfu import Sfu

log = logging.getLogger(__name__)
#: How long the node list waits on the registry before answering with this node alone.
REGISTRY_WAIT_S = 1.0


class ClusterWiring:
    def __init__(self, settings: Settings, redis: Any) -> None:
        self.settings = settings
        self.node_id = settings.node_id
        # Without a configured secret (settings built in code) relays and internal calls work within this process.
        secret = settings.cluster_secret or secrets.token_urlsafe(32)
        self.signer = RequestSigner(secret, settings.node_id)
        self.origins = OriginClient(self.signer)
        self.placement: Placement
        if redis is not None:
            self.placement = RedisPlacement(
                redis,
                settings.node_id,
                self._load,
                heartbeat_s=settings.cluster_heartbeat_s,
                lease_s=settings.cluster_lease_s,
            )
        else:
            self.placement = LocalPlacement(settings.node_id, self._load)
        self.media: ClusterMedia | None = None

    def _load(self) -> NodeLoad:
        if self.media is None:
            capacity = self.settings.cluster_node_capacity
            return NodeLoad(self.settings.node_id, self.settings.public_url, capacity=capacity)
        return self.media.load()

    async def live_nodes(self) -> list[PublicNode]:
        """``app.nodes.NodeDirectory``: every live node's public address, best first. With the registry
        unreachable, this node alone (a page then retries the node it knows)."""
        try:
            nodes = await asyncio.wait_for(self.placement.nodes(), REGISTRY_WAIT_S)
        except Exception as exc:
            log.warning("node list unavailable (%s); answering with this node only", type(exc).__name__)
            nodes = [self._load()]
        return [PublicNode(n.node_id, n.url, n.has_room) for n in sorted(nodes, key=preference)]

    def wrap(self, sfu: Sfu) -> ClusterMedia:
        self.media = ClusterMedia(
            sfu,
            self.placement,
            self.origins,
            node_id=self.settings.node_id,
            url=self.settings.public_url,
            node_capacity=self.settings.cluster_node_capacity,
            max_viewers_per_stream=self.settings.sfu_max_viewers_per_stream,
        )
        return self.media

    def routes(self) -> list[Route]:
        assert self.media is not None
        return internal_routes(self.media.local, self.signer)

    async def start(self) -> None:
        await self.placement.start()

    async def close(self) -> None:
        if self.media is not None:
            await self.media.drain()
        await self.placement.close()
        await self.origins.close()
