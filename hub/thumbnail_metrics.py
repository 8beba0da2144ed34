"""``/metrics`` for directory thumbnails: pictures this node made, failed, and the CPU their rendering took."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

from app.thumbnails import ThumbnailMaker


class ThumbnailCollector(Collector):
    def __init__(self, maker: ThumbnailMaker) -> None:
        self._maker = maker

    def collect(self) -> Iterator[Any]:
        maker = self._maker
        yield CounterMetricFamily("hub_thumbnails_made", "Directory pictures made on this node", value=maker.made)
        yield CounterMetricFamily(
            "hub_thumbnails_failed", "Cached keyframes that did not make a picture", value=maker.failed
        )
        yield CounterMetricFamily(
            "hub_thumbnail_render_cpu_seconds",
            "CPU time of rendering pictures (depayload, decode, scale, encode; the thumbnail thread)",
            value=maker.render_cpu_s,
        )
