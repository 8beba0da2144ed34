"""Socket.IO metrics, registered on the registry the hub exposes at ``/metrics``."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class SignalingMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = registry or CollectorRegistry()
        self.events = Counter("hub_socket_events", "Socket.IO client events handled", ["event", "outcome"], registry=r)
        self.unknown_events = Counter(
            "hub_socket_unknown_events", "Socket.IO client events with no handler (ignored)", registry=r
        )
        self.latency = Histogram(
            "hub_socket_event_seconds",
            "Socket.IO event handling time",
            ["event"],
            registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
        )
        self.connections = Gauge("hub_socket_connections", "Open Socket.IO connections on this node", registry=r)
        self.refused = Counter("hub_socket_refused", "Socket.IO connections refused", ["code"], registry=r)
