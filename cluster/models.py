"""Values of the cluster plane: a node's advertised load, and a live stream's origin."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class NodeLoad:
    """What a node advertises in its heartbeat: where to reach it and how busy it is.

    ``viewers`` counts every viewer session (WebRTC and WHEP) on the node; ``capacity`` is how many it takes before
    new viewers are sent elsewhere; ``cpu`` is the node process's CPU use over the last heartbeat, in cores.
    """

    node_id: str
    url: str
    viewers: int = 0
    capacity: int = 1
    cpu: float = 0.0
    streams: int = 0
    workers: int = 0
    stream_viewers: tuple[tuple[str, int], ...] = field(default=())

    def __post_init__(self) -> None:
        if not self.node_id or not self.url:
            raise ValueError("a node needs an id and a URL")
        if self.viewers < 0 or self.capacity < 0 or self.cpu < 0:
            raise ValueError("load figures cannot be negative")

    @property
    def has_room(self) -> bool:
        return self.viewers < self.capacity

    @property
    def fill(self) -> float:
        return self.viewers / self.capacity if self.capacity else float("inf")

    def to_json(self) -> str:
        data = asdict(self)
        data["stream_viewers"] = dict(self.stream_viewers)
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> NodeLoad:
        data: dict[str, Any] = json.loads(raw)
        data["stream_viewers"] = tuple(sorted((str(k), int(v)) for k, v in data.get("stream_viewers", {}).items()))
        return cls(**data)


@dataclass(frozen=True, slots=True)
class Origin:
    """The node (and SFU worker, when known) holding a live stream's publisher. ``epoch`` grows with every claim,
    so a node that took the stream over is told apart from the one it took it from."""

    stream_id: str
    node_id: str
    url: str
    epoch: int
    worker: int | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Origin:
        return cls(**json.loads(raw))


def preference(node: NodeLoad) -> tuple[bool, float, float, str]:
    """Sort key: nodes with room first, then the least filled, the least busy CPU, and by id (every node orders
    the same registry alike)."""
    return (not node.has_room, node.fill, node.cpu, node.node_id)


def least_loaded(nodes: list[NodeLoad], *, exclude: frozenset[str] = frozenset()) -> NodeLoad | None:
    """The node with room whose viewers fill the least of its capacity (then the least CPU, then by id, so every
    node makes the same choice from the same registry); None when every node is full."""
    candidates = [n for n in nodes if n.has_room and n.node_id not in exclude]
    if not candidates:
        return None
    return min(candidates, key=preference)
