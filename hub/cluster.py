"""``hub cluster``: N hub nodes on one machine, one Redis and one database, for trying the cluster and for tests.

Every node is a full node — its own ``Hub`` (services, in-process event bus, clock), node id, uvicorn server on its
own port, SFU and, with ``HUB_SFU_WORKERS``, its own worker processes — and the nodes talk to each other only
through Redis and HTTP, as separate machines would. They run in ONE Python process for one reason: with no
``HUB_MONGO_URL`` the database is the in-process MongoDB stand-in, and only one process can hold it, so the nodes
share one stand-in client (users, streams and the ledger are the same on every node). With ``HUB_MONGO_URL`` set
each node opens its own client to that server instead.

The trade-off: the nodes share one interpreter, so the HTTP/Socket.IO work of all of them runs on one core (media
forwarding does too unless ``HUB_SFU_WORKERS`` moves it into worker processes), a crash of the process takes every
node down, and the CPU figure a node reports is the process's. Node death is tested by stopping one node's server
and hub, which closes its sockets exactly as a dead machine's peers see it. Real deployments run one process per
node (``docker/compose.yaml``, ``deploy/k8s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import time
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn

from core.errors import HubError
from hub.app import create_app
from hub.mongo_standin import StandInClient
from hub.redis_process import RedisProcess
from hub.serve_options import WEBSOCKET_OPTIONS
from hub.settings import Settings
from hub.wiring import Hub

log = logging.getLogger(__name__)


class ClusterError(HubError):
    code = "cluster_failed"


class _NodeServer(uvicorn.Server):
    """A uvicorn server that leaves signals alone: the cluster owns SIGINT/SIGTERM and stops every node itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


@dataclass
class ClusterNode:
    index: int  # 1-based, as printed
    url: str
    hub: Hub
    server: uvicorn.Server
    task: asyncio.Task[None]


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


class LocalCluster:
    """Starts a private ``redis-server`` and ``count`` nodes on ``host``:``port``, ``port + 1``, …"""

    def __init__(self, base: Settings, count: int, port: int, host: str = "127.0.0.1") -> None:
        if count < 1:
            raise ClusterError("--nodes must be at least 1")
        if port < 1 or port + count - 1 > 65535:
            raise ClusterError(f"ports {port}..{port + count - 1} are not valid TCP ports")
        self.base = base
        self.count = count
        self.port = port
        self.host = host
        self.redis = RedisProcess()
        self.nodes: list[ClusterNode] = []
        self._mongo: Any = None

    async def start(self, ready_timeout_s: float = 60.0) -> list[str]:
        """Start everything; return the nodes' URLs once every node answers ``/readyz`` with 200."""
        busy = [p for p in range(self.port, self.port + self.count) if not _port_is_free(self.host, p)]
        if busy:
            raise ClusterError(f"port(s) already in use on {self.host}: {', '.join(map(str, busy))}")
        try:
            await self.redis.start()
            if self.base.mongo_url is None:
                self._mongo = StandInClient()
            for i in range(self.count):
                await self._start_node(i)
            await self._wait_ready(ready_timeout_s)
        except BaseException:
            await self.stop()
            raise
        return [n.url for n in self.nodes]

    def node_settings(self, i: int) -> Settings:
        port = self.port + i
        url = f"http://{self.host}:{port}"
        return dataclasses.replace(
            self.base, host=self.host, port=port, public_url=url, node_id=f"node-{i + 1}", redis_url=self.redis.url
        )

    async def _start_node(self, i: int) -> None:
        settings = self.node_settings(i)
        hub = Hub(settings, mongo_client=self._mongo)
        config = uvicorn.Config(
            create_app(hub),
            host=settings.host,
            port=settings.port,
            log_level=settings.log_level.lower(),
            lifespan="on",
            **WEBSOCKET_OPTIONS,
        )
        server = _NodeServer(config)
        task = asyncio.create_task(server.serve(), name=f"cluster-node-{i + 1}")
        self.nodes.append(ClusterNode(i + 1, settings.public_url, hub, server, task))
        while not server.started:
            if task.done():
                exc = task.exception() if not task.cancelled() else None
                raise ClusterError(f"node {i + 1} did not start on port {settings.port}: {exc!r}")
            await asyncio.sleep(0.02)

    async def _wait_ready(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            for node in self.nodes:
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        if (await http.get(f"{node.url}/readyz")).status_code == 200:
                            break
                    if time.monotonic() > deadline:
                        raise ClusterError(f"node {node.index} ({node.url}) is not ready after {timeout_s:.0f} s")
                    await asyncio.sleep(0.1)

    async def stop_node(self, node: ClusterNode, timeout_s: float = 15.0) -> None:
        """Stop one node: its server stops accepting, its connections close, its hub (and SFU workers) stop."""
        node.server.should_exit = True
        try:
            await asyncio.wait_for(asyncio.shield(node.task), timeout_s)
        except TimeoutError:
            node.server.force_exit = True
            with contextlib.suppress(BaseException):
                await asyncio.wait_for(node.task, 5)
        except BaseException:  # a node that failed is stopped all the same
            log.exception("node %s stopped with an error", node.index)

    async def stop(self) -> None:
        nodes, self.nodes = self.nodes, []
        for node in nodes:
            node.server.should_exit = True
        for node in nodes:
            await self.stop_node(node)
        if self._mongo is not None:
            await self._mongo.close()
            self._mongo = None
        self.redis.stop()
