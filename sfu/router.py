"""A router per live stream: the current producer of each kind and every consumer, across publisher reconnects.

Like mediasoup's ``Router``: ``close()`` is idempotent and cascades to producers and consumers. Unlike it, the
router outlives its publisher by a grace period: viewers stay connected and resume at the next keyframe of the
publisher's next session.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiortc import RTCRtpCodecParameters

from sfu.consumer import Consumer
from sfu.egress import ProfileTable
from sfu.producer import Producer

if TYPE_CHECKING:
    from sfu.pipe import PipeOut, Relay

log = logging.getLogger(__name__)


class Router:
    def __init__(self, stream_id: str, on_close: Callable[[Router, str], None]) -> None:
        self.stream_id = stream_id
        self.closed = False
        self.producers: dict[str, Producer] = {}
        self.consumers: dict[str, Consumer] = {}
        #: The codec of each kind the stream carries; viewers negotiate exactly these.
        self.codecs: dict[str, RTCRtpCodecParameters] = {}
        self.profiles = {"audio": ProfileTable(), "video": ProfileTable()}
        self.publisher_session_id: str | None = None
        self.last_publisher_session_id = ""
        self.publisher_app_data: Any = None
        #: Monotonic deadline while the publisher is away; None while it is present.
        self.grace_until: float | None = None
        self.publishes = 0
        #: A publisher connected at least once: only then does the stream's end count as "publisher stopped".
        self.started = False
        #: On an edge: the relay pipe that feeds this router's producers instead of a local publisher.
        self.relay: Relay | None = None
        #: A relay fed this router at some point (its viewers watched before a local publisher arrived).
        self.relayed = False
        #: On the origin (or a relaying edge): pipes carrying a copy to other workers or nodes.
        self.pipes: dict[str, PipeOut] = {}
        self._on_close = on_close

    @property
    def has_publisher(self) -> bool:
        return self.publisher_session_id is not None

    def set_publisher(self, session_id: str, app_data: Any, producers: list[Producer]) -> list[Consumer]:
        """Install a publisher's producers; existing consumers follow them. Returns consumers that cannot
        (the codec changed: the viewer would have to renegotiate), for the caller to close."""
        self.publisher_session_id = session_id
        self.last_publisher_session_id = session_id
        self.publisher_app_data = app_data
        self.grace_until = None
        self.publishes += 1
        stranded: list[Consumer] = []
        for producer in producers:
            previous = self.codecs.get(producer.kind)
            self.producers[producer.kind] = producer
            self.codecs[producer.kind] = producer.codec
            for consumer in self.consumers.values():
                if consumer.kind != producer.kind:
                    continue
                if previous is not None and not _same_codec(previous, producer.codec):
                    stranded.append(consumer)
                elif consumer.connected:
                    producer.add_consumer(consumer)
        return stranded

    def publisher_left(self, grace_s: float) -> None:
        """The publisher's session ended: detach viewers and wait ``grace_s`` for it to come back."""
        for producer in list(self.producers.values()):
            producer.close("publisher_left")
        self.producers.clear()
        self.publisher_session_id = None
        self.grace_until = time.monotonic() + grace_s

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers[consumer.id] = consumer

    def consumer_ready(self, consumer: Consumer) -> None:
        """The viewer's transport is up: feed it from the current producer, if any (else on the next publish)."""
        producer = self.producers.get(consumer.kind)
        if producer is not None and not consumer.closed:
            producer.add_consumer(consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        self.consumers.pop(consumer.id, None)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        for producer in list(self.producers.values()):
            producer.close(reason)
        self.producers.clear()
        for consumer in list(self.consumers.values()):
            consumer.close(reason)
        self.consumers.clear()
        self._on_close(self, reason)

    def stats(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "publishing": self.has_publisher,
            "in_grace": self.grace_until is not None,
            "publishes": self.publishes,
            "producers": [p.stats() for p in self.producers.values()],
            "consumers": len(self.consumers),
            "relay": self.relay.stats() if self.relay is not None else None,
            "pipes": [pipe.stats() for pipe in self.pipes.values()],
        }


def _same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    return a.mimeType.lower() == b.mimeType.lower() and a.clockRate == b.clockRate and a.parameters == b.parameters
