"""The cluster plane's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ClusterSettings:
    #: Shared by every node: signs node-to-node requests and derives relay keys. Empty: a random secret of this
    #: process (relays and internal calls within it only).
    secret: str = ""
    #: How often a node renews its entry in the placement registry, and how long an entry outlives a silent node.
    heartbeat_s: float = 1.0
    lease_s: float = 4.0
    #: Connected viewer sessions on this node before new viewers are sent to the least-loaded node.
    node_capacity: int = 5000


DEFAULTS = ClusterSettings()
