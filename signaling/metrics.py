"""Socket.IO metrics, registered on the registry the hub exposes at ``/metrics``."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

if TYPE_CHECKING:
    from signaling.fanout import RoomFanout


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
        self.malformed_frames = Counter(
            "hub_socket_malformed_frames", "Socket.IO/Engine.IO frames that did not decode (dropped)", registry=r
        )


class FanoutCollector:
    """Exposes the fan-out's own counters (read at scrape time, nothing on the hot path)."""

    def __init__(self, fanout: RoomFanout) -> None:
        self._fanout = fanout

    def collect(self) -> Iterator[Metric]:
        f = self._fanout
        yield GaugeMetricFamily(
            "hub_fanout_local_rooms", "Shared rooms with members on this node", value=len(f.local_rooms)
        )
        yield CounterMetricFamily(
            "hub_fanout_chat_batches", "Room ticks written on this node (one packet per viewer each)", value=f.batches
        )
        packets = CounterMetricFamily(
            "hub_fanout_packets",
            "Room packets to sockets: written straight to an idle socket's wire, or queued behind what it still sends",
            labels=["path"],
        )
        packets.add_metric(["direct"], f.written_direct)
        packets.add_metric(["queued"], f.queued)
        yield packets
        yield CounterMetricFamily(
            "hub_fanout_room_overflow",
            "Chat messages and small gifts' effects dropped because a room's queue was full (never money)",
            value=f.dropped,
        )
        yield CounterMetricFamily(
            "hub_fanout_remote_received", "Room events received from other nodes", value=f.remote_received
        )
        link = f.link
        if link is not None:
            yield GaugeMetricFamily(
                "hub_fanout_redis_connected", "1 while subscribed to Redis", value=int(link.connected)
            )
            yield CounterMetricFamily("hub_fanout_redis_reconnects", "Redis subscriber losses", value=link.reconnects)
            yield CounterMetricFamily(
                "hub_fanout_dropped", "Room events not published (Redis away)", value=link.dropped
            )
            yield CounterMetricFamily(
                "hub_fanout_repeats",
                "Room events received again from another node (a publish repeated after a failure) and not delivered",
                value=link.repeats,
            )
