"""Wiring for the cluster plane: the placement registry (Redis when ``HUB_REDIS_URL`` is set, else in-process), the
request signer, the origin client, and :class:`cluster.media.ClusterMedia` around this node's SFU.

``SfuWiring`` hands its SFU to :meth:`ClusterWiring.wrap`; what it gets back is the SFU the rest of the hub uses.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit

from starlette.routing import Route

from app.nodes import PublicNode
from cluster.internal_http import internal_routes
from cluster.media import ClusterMedia
from cluster.models import NodeLoad, preference
from cluster.origin_client import OriginClient
from cluster.placement import LocalPlacement, Placement
from cluster.settings import ClusterSettings
from cluster.signing import RequestSigner
from cluster.store_redis import RedisPlacement
from core.tasks import cancel_and_wait
from sfu import Sfu

log = logging.getLogger(__name__)
#: How long the node list waits on the registry before answering with this node alone.
REGISTRY_WAIT_S = 1.0
#: The most node origins remembered (nodes come and go; one that ever was a node stays trusted for this process).
MAX_NODE_ORIGINS = 1024


def origin_of(url: str) -> str:
    """The browser origin (scheme://host:port) of a node's public URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class ClusterWiring:
    def __init__(
        self,
        settings: ClusterSettings,
        *,
        node_id: str,
        public_url: str,
        max_viewers_per_stream: int,
        redis: Any,
        cors_origins: tuple[str, ...] = (),
    ) -> None:
        self.node_id = node_id
        self._public_url = public_url
        self._node_capacity = settings.node_capacity
        self._max_viewers_per_stream = max_viewers_per_stream
        # Without a configured secret (settings built in code) relays and internal calls work within this process.
        secret = settings.secret or secrets.token_urlsafe(32)
        self.signer = RequestSigner(secret, node_id)
        self.origins = OriginClient(self.signer)
        self.placement: Placement
        if redis is not None:
            self.placement = RedisPlacement(
                redis,
                node_id,
                self._load,
                heartbeat_s=settings.heartbeat_s,
                lease_s=settings.lease_s,
            )
        else:
            self.placement = LocalPlacement(node_id, self._load)
        self.media: ClusterMedia | None = None
        self._cors = frozenset(o.rstrip("/").lower() for o in cors_origins)
        self._heartbeat_s = settings.heartbeat_s
        #: Origins of every node seen in the registry: a viewer page loaded from one may move its socket here.
        self.node_origins: set[str] = {origin_of(public_url)}
        self._learning: asyncio.Task[None] | None = None

    def _load(self) -> NodeLoad:
        if self.media is None:
            return NodeLoad(self.node_id, self._public_url, capacity=self._node_capacity)
        return self.media.load()

    async def live_nodes(self) -> list[PublicNode]:
        """``app.nodes.NodeDirectory``: every live node's public address, best first. With the registry
        unreachable, this node alone (a page then retries the node it knows)."""
        try:
            nodes = await asyncio.wait_for(self.placement.nodes(), REGISTRY_WAIT_S)
        except Exception as exc:
            log.warning("node list unavailable (%s); answering with this node only", type(exc).__name__)
            nodes = [self._load()]
        self._learn(nodes)
        return [PublicNode(n.node_id, n.url, n.has_room) for n in sorted(nodes, key=preference)]

    def allows_origin(self, origin: str) -> bool:
        """Socket.IO's origin check when ``HUB_CORS_ORIGINS`` is set: the configured origins and every node's."""
        origin = (origin or "").rstrip("/").lower()
        return origin in self._cors or origin in self.node_origins

    def _learn(self, nodes: list[NodeLoad]) -> None:
        for node in nodes:
            if len(self.node_origins) >= MAX_NODE_ORIGINS:
                return
            self.node_origins.add(origin_of(node.url))

    async def _learn_origins(self) -> None:
        """Keep ``node_origins`` current (only needed while origins are checked, i.e. ``HUB_CORS_ORIGINS`` set)."""
        while True:
            try:
                self._learn(await self.placement.nodes())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("could not read the node list: %s", type(exc).__name__)
            await asyncio.sleep(max(self._heartbeat_s, 0.2))

    def wrap(self, sfu: Sfu) -> ClusterMedia:
        self.media = ClusterMedia(
            sfu,
            self.placement,
            self.origins,
            node_id=self.node_id,
            url=self._public_url,
            node_capacity=self._node_capacity,
            max_viewers_per_stream=self._max_viewers_per_stream,
        )
        return self.media

    def routes(self) -> list[Route]:
        assert self.media is not None
        return internal_routes(self.media.local, self.signer)

    async def start(self) -> None:
        await self.placement.start()
        if self._cors:
            self._learning = asyncio.create_task(self._learn_origins(), name="cluster-node-origins")

    async def close(self) -> None:
        learning, self._learning = self._learning, None
        await cancel_and_wait(learning)
        if self.media is not None:
            await self.media.drain()
        await self.placement.close()
        await self.origins.close()
