"""Wiring for the SFU: the in-process service or the worker pool, and its Prometheus metrics.

Kept apart from ``hub/wiring.py`` (like ``rooms_wiring``); ``Hub`` builds ``SfuWiring`` once. The stream lifecycle
the SFU's events drive is the application layer's (``app/lifecycle.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry

from cluster.media import ClusterMedia
from hub.cluster_wiring import ClusterWiring
from sfu import Sfu, SfuService, SfuSettings, SfuWorkerPool, residence

log = logging.getLogger(__name__)


class SfuWiring:
    def __init__(
        self, settings: SfuSettings, registry: CollectorRegistry, cluster: ClusterWiring | None = None
    ) -> None:
        # In-process by default; HUB_SFU_WORKERS > 0 forwards in that many worker processes (one per core).
        local: SfuService | SfuWorkerPool = (
            SfuWorkerPool(settings, settings.workers) if settings.workers else SfuService(settings)
        )
        self.local_sfu = local  # this node's own SFU (``sfu`` below is what the rest of the hub calls)
        # Any node serves any stream: the cluster plane wraps the node's own SFU (placement, relays from origins).
        self.cluster_media: ClusterMedia | None = cluster.wrap(local) if cluster is not None else None
        self.sfu: Sfu = self.cluster_media if self.cluster_media is not None else local
        registry.register(SfuCollector(self.sfu))

    async def close(self) -> None:
        await self.sfu.close()


class SfuCollector(Collector):
    """Reads ``SfuService.stats()`` at scrape time. Labels: stream and kind (bounded by live streams, not viewers)."""

    def __init__(self, sfu: Sfu) -> None:
        self._sfu = sfu

    def collect(self) -> Iterator[Any]:
        stats = self._sfu.stats()
        for name, help_text, value in (
            ("hub_sfu_streams", "Streams with a router on this node", stats["streams"]),
            ("hub_sfu_publishers", "Publisher sessions", stats["publishers"]),
            ("hub_sfu_viewers", "Viewer sessions", stats["viewers"]),
            ("hub_recordings_running", "Recordings writing on this node", len(stats.get("recordings", ()))),
        ):
            yield GaugeMetricFamily(name, help_text, value=value)
        yield CounterMetricFamily(
            "hub_recording_dropped_packets",
            "Packets a recording's full queue refused (forwarding never waits for a recording)",
            value=stats.get("recording_dropped_packets", 0),
        )
        labels = ["stream", "kind"]
        # A simulcast publisher has one video producer per layer: ``layer`` is its rid ("" for a single stream).
        layer_labels = ["stream", "kind", "layer"]
        producer_counters = {
            key: CounterMetricFamily(f"hub_sfu_producer_{key}", f"Publisher track: {key}", labels=layer_labels)
            for key in ("packets", "bytes", "packets_lost", "nacks_sent", "plis_sent", "keyframes", "cache_hits")
        }
        producer_gauges = {
            key: GaugeMetricFamily(f"hub_sfu_producer_{key}", f"Publisher track: {key}", labels=layer_labels)
            for key in ("bitrate_bps", "consumers", "cache_packets", "width", "height")
        }
        switches = CounterMetricFamily(
            "hub_sfu_layer_switches", "Viewers moved onto this simulcast layer", labels=["stream", "layer"]
        )
        layers = GaugeMetricFamily(
            "hub_sfu_layers", "Simulcast layers the publisher sends (1: no simulcast)", labels=["stream"]
        )
        ladders = GaugeMetricFamily(
            "hub_sfu_transcoded_ladders", "Streams whose lower layers this node transcodes (sfu/ladder.py)"
        )
        ladder_cpu = CounterMetricFamily(
            "hub_sfu_ladder_cpu_seconds", "CPU time of a stream's transcoded ladder (its thread)", labels=["stream"]
        )
        ladder_dropped = CounterMetricFamily(
            "hub_sfu_ladder_dropped_packets",
            "Packets a transcoded ladder's full queue refused (forwarding never waits for it)",
            labels=["stream"],
        )
        running_ladders = 0
        for router in stats["routers"]:
            ladder = router.get("ladder")
            if ladder is not None:
                running_ladders += 1
                ladder_cpu.add_metric([router["stream_id"]], ladder["cpu_s"])
                ladder_dropped.add_metric([router["stream_id"]], ladder["dropped_packets"])
        ladders.add_metric([], running_ladders)
        for router in stats["routers"]:
            video = 0
            for producer in router["producers"]:
                rid = producer.get("rid") or ""
                values = [router["stream_id"], producer["kind"], rid]
                for key, counter in producer_counters.items():
                    counter.add_metric(values, producer[key])
                for key, gauge in producer_gauges.items():
                    gauge.add_metric(values, producer[key])
                if producer["kind"] == "video":
                    video += 1
                    switches.add_metric([router["stream_id"], rid], producer["switches_in"])
            layers.add_metric([router["stream_id"]], video)
        consumer_counters = {
            key: CounterMetricFamily(f"hub_sfu_consumer_{key}", f"Viewer tracks' {key}, summed", labels=labels)
            for key in ("packets", "bytes", "nacks", "retransmits", "plis", "packets_lost")
        }
        rtt = GaugeMetricFamily("hub_sfu_consumer_rtt_seconds_max", "Largest viewer RTT", labels=labels)
        loss = GaugeMetricFamily("hub_sfu_consumer_fraction_lost_max", "Largest viewer loss fraction", labels=labels)
        sums: dict[tuple[str, str], dict[str, float]] = {}
        for consumer in stats["consumers"]:
            acc = sums.setdefault((consumer["stream_id"], consumer["kind"]), {"rtt": 0.0, "loss": 0.0})
            for name in consumer_counters:
                acc[name] = acc.get(name, 0) + consumer[name]
            acc["rtt"] = max(acc["rtt"], consumer["rtt_s"] or 0.0)
            acc["loss"] = max(acc["loss"], consumer["fraction_lost"])
        for (stream, kind), acc in sums.items():
            for name, counter in consumer_counters.items():
                counter.add_metric([stream, kind], acc[name])
            rtt.add_metric([stream, kind], acc["rtt"])
            loss.add_metric([stream, kind], acc["loss"])
        on_layer = GaugeMetricFamily(
            "hub_sfu_viewers_on_layer",
            "Video viewers per layer they receive (audio_only: no layer fits their estimate; waiting: for a keyframe)",
            labels=["stream", "layer"],
        )
        estimates = GaugeMetricFamily(
            "hub_sfu_bwe_estimate_bps",
            "Viewers' downlink estimates (transport-cc, sfu/bwe.py): smallest, median, largest",
            labels=["stream", "stat"],
        )
        bwe_counters = {
            key: CounterMetricFamily(f"hub_sfu_bwe_{key}", f"Viewers' estimators: {key}, summed", labels=["stream"])
            for key in ("probes", "probe_successes", "decreases")
        }
        by_layer: dict[tuple[str, str], int] = {}
        per_stream: dict[str, list[dict[str, Any]]] = {}
        for consumer in stats["consumers"]:
            if consumer["kind"] != "video":
                continue
            if consumer["flowing"]:
                state = consumer["layer"] or "single"  # rid None: a publisher without simulcast
            else:
                state = "audio_only" if consumer["paused"] else "waiting"
            layer_key = (consumer["stream_id"], state)
            by_layer[layer_key] = by_layer.get(layer_key, 0) + 1
            if consumer.get("bwe") and consumer["bwe"]["estimate_bps"] is not None:
                per_stream.setdefault(consumer["stream_id"], []).append(consumer["bwe"])
        for (stream, layer), count in by_layer.items():
            on_layer.add_metric([stream, layer], count)
        # Viewers without transport-cc: their receiver reports' estimate (sfu/report_bwe.py), and which estimator
        # each video viewer has.
        estimators = GaugeMetricFamily(
            "hub_sfu_viewer_estimators",
            "Video viewers per bandwidth estimator (transport_cc, receiver_reports) and whether it has an estimate",
            labels=["stream", "estimator", "state"],
        )
        report_estimates = GaugeMetricFamily(
            "hub_sfu_report_bwe_estimate_bps",
            "Estimates of viewers without transport-cc (loss/REMB, sfu/report_bwe.py): smallest, median, largest",
            labels=["stream", "stat"],
        )
        report_decreases = CounterMetricFamily(
            "hub_sfu_report_bwe_decreases",
            "Decreases of the loss/REMB estimates of this stream's current viewers, summed",
            labels=["stream"],
        )
        by_estimator: dict[tuple[str, str, str], int] = {}
        reported: dict[str, list[dict[str, Any]]] = {}
        for consumer in stats["consumers"]:
            if consumer["kind"] != "video" or (consumer.get("bwe") is None and consumer.get("report_bwe") is None):
                continue
            state = consumer.get("bwe") or consumer.get("report_bwe") or {}
            name = "transport_cc" if consumer.get("bwe") else "receiver_reports"
            counted = (consumer["stream_id"], name, "estimate" if state.get("estimate_bps") is not None else "none")
            by_estimator[counted] = by_estimator.get(counted, 0) + 1
            if name == "receiver_reports":
                reported.setdefault(consumer["stream_id"], []).append(state)
        for counted, count in by_estimator.items():
            estimators.add_metric(list(counted), count)
        for stream, states in reported.items():
            report_decreases.add_metric([stream], sum(int(st.get("decreases", 0)) for st in states))
            known = sorted(st["estimate_bps"] for st in states if st.get("estimate_bps") is not None)
            if known:
                for stat, value in (("min", known[0]), ("median", known[len(known) // 2]), ("max", known[-1])):
                    report_estimates.add_metric([stream, stat], value)
        # Relay pipes: what each layer's pipe track carried to other nodes/workers, and the layers not carried now
        pipe_packets = CounterMetricFamily(
            "hub_sfu_pipe_layer_packets", "Packets relay pipes carried per layer", labels=["stream", "layer"]
        )
        pipe_bytes = CounterMetricFamily(
            "hub_sfu_pipe_layer_bytes", "Payload bytes relay pipes carried per layer", labels=["stream", "layer"]
        )
        parked = GaugeMetricFamily(
            "hub_sfu_pipe_layers_parked",
            "Layer tracks of relay pipes not carried now (nobody on the far side watches that layer)",
            labels=["stream"],
        )
        for router in stats["routers"]:
            carried: dict[str, list[int]] = {}
            idle = 0
            for pipe in router.get("pipes") or []:
                for track in pipe.get("tracks", []):
                    if track["kind"] != "video":
                        continue
                    tally = carried.setdefault(track["rid"] or "", [0, 0])
                    tally[0] += track["packets"]
                    tally[1] += track["bytes"]
                    idle += 1 if track["parked"] else 0
            for rid, (packets, octets) in carried.items():
                pipe_packets.add_metric([router["stream_id"], rid], packets)
                pipe_bytes.add_metric([router["stream_id"], rid], octets)
            if carried:
                parked.add_metric([router["stream_id"]], idle)
        for stream, bwes in per_stream.items():
            values = sorted(b["estimate_bps"] for b in bwes)
            for stat, value in (("min", values[0]), ("median", values[len(values) // 2]), ("max", values[-1])):
                estimates.add_metric([stream, stat], value)
            for key, counter in bwe_counters.items():
                counter.add_metric([stream], sum(b[key] for b in bwes))
        yield from producer_counters.values()
        yield from producer_gauges.values()
        yield switches
        yield layers
        yield ladders
        yield ladder_cpu
        yield ladder_dropped
        yield from consumer_counters.values()
        yield rtt
        yield loss
        yield on_layer
        yield estimates
        yield from bwe_counters.values()
        yield estimators
        yield report_estimates
        yield report_decreases
        yield pipe_packets
        yield pipe_bytes
        yield parked
        histogram = stats.get("residence_histogram") or residence.merge([])
        yield HistogramMetricFamily(
            "hub_sfu_residence_seconds",
            "Sampled time from a packet's arrival to a viewer's send (one packet in 16, per viewer)",
            buckets=residence.cumulative_buckets(histogram),
            sum_value=histogram["sum_s"],
        )
