"""The nodes a viewer may watch on: every live node's public address, best first.

Pages and apps read the list when they join a room and keep it: when their node goes away (its socket and peer
connection drop) they connect to the next one on it and subscribe again, without asking the node that is gone.
The list comes from the placement registry through the :class:`NodeDirectory` seam (``hub`` fills it), so ``app``
knows nothing of Redis or the cluster plane.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from app.policy import Action, require
from app.principal import Principal


@dataclass(frozen=True, slots=True)
class PublicNode:
    node_id: str
    url: str  # the node's public base URL (``HUB_PUBLIC_URL``): pages connect their socket there
    has_room: bool  # below its viewer capacity as of its last heartbeat

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "url": self.url, "has_room": self.has_room}


@dataclass(frozen=True, slots=True)
class NodeList:
    node_id: str  # the node that answered
    nodes: tuple[PublicNode, ...]  # best first: nodes with room, the least filled first

    def to_dict(self) -> dict[str, Any]:
        return {"node_id": self.node_id, "nodes": [n.to_dict() for n in self.nodes]}


class NodeDirectory(Protocol):
    node_id: str

    async def live_nodes(self) -> list[PublicNode]:
        """Every node with a live lease, this one included, best first (where a new viewer should go)."""
        ...


class Nodes:
    def __init__(self, directory: NodeDirectory) -> None:
        self._directory = directory

    async def live(self, who: Principal | None) -> NodeList:
        require(Action.BROWSE_NODES, who)
        return NodeList(self._directory.node_id, tuple(await self._directory.live_nodes()))
