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
from sfu.downlink import now_us
from sfu.egress import ProfileTable
from sfu.producer import Producer
from sfu.selector import KEEP, LayerInfo, order_layers, select_layer

if TYPE_CHECKING:
    from sfu.ladder import Ladder
    from sfu.pipe import PipeOut, Relay
    from sfu.recorder import StreamRecorder

log = logging.getLogger(__name__)

#: A viewer's video pauses only when its estimate is under this share of the lowest layer's bitrate.
PAUSE_BELOW = 0.5


class Router:
    def __init__(self, stream_id: str, on_close: Callable[[Router, str], None]) -> None:
        self.stream_id = stream_id
        self.closed = False
        #: The current producer of each kind (simulcast video: the first layer offered; all of them are in ``layers``).
        self.producers: dict[str, Producer] = {}
        #: Simulcast: the video producers, one per layer, lowest first (one entry for a single-stream publisher).
        self.layers: list[Producer] = []
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
        #: The stream's recording on this node, if one runs (it taps the current producers).
        self.recorder: StreamRecorder | None = None
        #: A transcoded ladder (``sfu/ladder.py``): lower layers made from a single-layer publisher's video.
        self.ladder: Ladder | None = None
        self._on_close = on_close

    @property
    def has_publisher(self) -> bool:
        return self.publisher_session_id is not None

    def set_publisher(self, session_id: str, app_data: Any, producers: list[Producer]) -> list[Consumer]:
        """Install a publisher's producers; existing consumers follow them. Returns consumers that cannot
        (the codec changed: the viewer would have to renegotiate), for the caller to close."""
        self.stop_ladder(refeed=False)  # a new publisher: the ladder of the old one's video goes with it
        self.publisher_session_id = session_id
        self.last_publisher_session_id = session_id
        self.publisher_app_data = app_data
        self.grace_until = None
        self.publishes += 1
        stranded: list[Consumer] = []
        self.layers = [p for p in producers if p.kind == "video"]
        for producer in producers:
            if self.producers.get(producer.kind) in producers:
                continue  # another layer of this kind was installed already
            previous = self.codecs.get(producer.kind)
            self.producers[producer.kind] = producer
            self.codecs[producer.kind] = producer.codec
            for consumer in self.consumers.values():
                if consumer.kind != producer.kind:
                    continue
                if previous is not None and not _same_codec(previous, producer.codec):
                    stranded.append(consumer)
                elif consumer.connected:
                    self._feed(consumer)
        if self.recorder is not None:
            self.recorder.follow(self)
        return stranded

    def _feed(self, consumer: Consumer) -> None:
        if consumer.kind == "video" and consumer.pinned is not None:
            if consumer.parked:
                return  # the far side does not need this layer now
            layer = next((p for p in self.layers if p.rid == consumer.pinned), None)
            if layer is not None:  # a publisher that came back without this rid leaves that pipe track silent
                layer.add_consumer(consumer)
            return
        if consumer.kind == "video" and len(self.layers) > 1:
            self.place(consumer)
            return
        producer = self.producers.get(consumer.kind)
        if producer is not None:
            producer.add_consumer(consumer)

    # -- simulcast -------------------------------------------------------------------------------------------

    def layer_infos(self, now: float | None = None) -> tuple[LayerInfo, ...]:
        """The layers as the selector sees them, lowest first; also re-orders ``layers`` the same way."""
        now = time.monotonic() if now is None else now
        infos = {id(p): p.layer_info(now) for p in self.layers}
        ordered = order_layers(list(infos.values()))
        rank = {info.rid: index for index, info in enumerate(ordered)}
        self.layers.sort(key=lambda p: rank[p.rid or ""])
        return tuple(ordered)

    def place(self, consumer: Consumer, infos: tuple[LayerInfo, ...] | None = None) -> None:
        """Put a video consumer on the layer ``select_layer`` picks for it: join it there (cache replay or next
        keyframe) if it is not fed yet, else switch at that layer's next keyframe; no layer fits: pause its video."""
        if consumer.closed or not consumer.connected or not self.layers or consumer.pinned is not None:
            return
        infos = self.layer_infos() if infos is None else infos
        current = consumer.producer
        on = current.rid if current is not None and consumer.started and not consumer.paused else None
        rid = select_layer(consumer.preference, consumer.screen, consumer.estimate_bps, infos, on)
        target = next((p for p in self.layers if p.rid == rid), None) if rid is not None else None
        if target is None:
            if rid is None and any(info.available for info in infos):  # nothing fits: audio only
                self._pause(consumer)
            return
        if target is current:
            if consumer.pending is not None:
                consumer.pending.remove_consumer(consumer)
                consumer.pending = None
            return
        if current is None and consumer.pending is target:
            # it waits for that layer's keyframe (its old layer was cut short, or its video paused) and sees nothing
            # meanwhile: ask again (throttled), since the one request it made may have been suppressed or lost
            target.request_keyframe("layer_switch")
            return
        if current is None and (consumer.paused or consumer.pending is not None):
            # resuming paused video, or a move down that stopped the old layer: at the layer's next keyframe (asked
            # for), not by replaying its cached group of pictures, which would arrive at once on a narrow link
            if consumer.pending is not None:
                consumer.pending.remove_consumer(consumer)
                consumer.pending = None
            target.switch_in(consumer)
            return
        if current is None or not consumer.started:
            if current is not None:
                current.remove_consumer(consumer)
            if consumer.pending is not None and consumer.pending is not target:
                consumer.pending.remove_consumer(consumer)
                consumer.pending = None
            consumer.paused = False
            target.add_consumer(consumer)
            return
        if consumer.pending is not None and consumer.pending is not target:
            consumer.pending.remove_consumer(consumer)
            if current is not None:
                current.remove_handoff(consumer)
        downlink = consumer.downlink
        if (
            downlink is not None
            and downlink.congested(now_us())
            and current in self.layers
            and self.layers.index(target) < self.layers.index(current)
        ):
            # leaving a layer the link cannot carry: stop sending it now, so that the bottleneck's queue drains
            # before the lower layer's keyframe arrives (sent behind a full queue it would come late or be lost)
            current.remove_consumer(consumer)
            consumer.detach()
            downlink.cut_short += 1
        target.switch_in(consumer)

    def park(self, consumer: Consumer, parked: bool, fresh_s: float) -> None:
        """A relay pipe's layer consumer: stop feeding it (the far side's viewers left that layer), or feed it again
        from that layer's next keyframe (asked for now; a cached one only if at most ``fresh_s`` old)."""
        if consumer.pinned is None or consumer.parked == parked:
            return
        consumer.parked = parked
        layer = next((p for p in self.layers if p.rid == consumer.pinned), None)
        if parked:
            producer = consumer.producer
            if producer is not None:
                producer.remove_consumer(consumer)
            consumer.detach()  # the next epoch continues its numbering: the far side sees no sequence gap
        elif layer is not None and consumer.connected and not consumer.closed and consumer.producer is None:
            layer.add_consumer_fresh(consumer, fresh_s)

    def _pause(self, consumer: Consumer) -> None:
        if consumer.pending is not None:
            consumer.pending.remove_consumer(consumer)
            consumer.pending = None
        producer = consumer.producer
        if producer is not None:
            producer.remove_consumer(consumer)
            consumer.detach()
        consumer.paused = True

    def replace_layers(self) -> None:
        """Re-decide every video consumer's layer (layers came or went, sizes became known): called periodically."""
        if len(self.layers) < 2:
            return
        infos = self.layer_infos()
        now = now_us()
        for consumer in list(self.consumers.values()):
            if consumer.kind == "video":
                if consumer.downlink is not None:
                    self._estimate(consumer, infos, now)
                elif consumer.report_bwe is not None:
                    self._estimate_from_reports(consumer, infos)
                self.place(consumer, infos)

    def _estimate(self, consumer: Consumer, infos: tuple[LayerInfo, ...], now: int, *, probe: bool = True) -> None:
        """Feed the consumer's estimate to the selector, and probe when its preference allows a bigger layer than
        the one it is on (or none, paused) and the estimate does not."""
        downlink = consumer.downlink
        assert downlink is not None
        usable = downlink.usable_bps(now)
        if usable is not None:
            feeding = consumer.producer if consumer.started and not consumer.paused else None
            info = next((i for i in infos if feeding is not None and i.rid == feeding.rid and i.available), None)
            # what keeps the current layer (``select_layer``'s KEEP): held a while unless the link shows congestion
            keep = None if info is None else int(info.bitrate_bps / KEEP) + 1
            usable = downlink.hold(now, usable, keep)
        lowest = _lowest_need(infos)
        # pausing goes by the lowest layer's least recent bitrate: the keyframe asked for a move down to it lifts its
        # one-second bitrate just when a narrowed link's estimate is at its lowest
        floor = min((info.floor_bps or info.bitrate_bps for info in infos if info.available), default=0)
        if usable is not None and PAUSE_BELOW * floor <= usable < lowest:
            usable = lowest  # keep the lowest layer until the estimate is clearly below it: a pause costs a keyframe
        consumer.estimate_bps = usable
        if not probe:
            return
        wanted: int | None = None
        step: int | None = None
        best = select_layer(consumer.preference, consumer.screen, None, infos)
        if best is not None:
            ranks = {info.rid: index for index, info in enumerate(infos)}
            target = consumer.pending or consumer.producer
            on = ranks.get(target.rid or "", -1) if target is not None and not consumer.paused else -1
            if ranks[best] > on:
                needs = [max(info.bitrate_bps, info.peak_bps) for info in infos[on + 1 : ranks[best] + 1]]
                wanted, step = max(needs), needs[0]
        cluster = downlink.tick(now, wanted, step)
        if cluster is not None and not consumer.send_probe(*cluster):
            downlink.probe_not_sent()

    def _estimate_from_reports(self, consumer: Consumer, infos: tuple[LayerInfo, ...]) -> None:
        """A viewer without transport-cc: its receiver reports' loss (and REMB) estimate caps its layer
        (``sfu/report_bwe.py``); the lowest layer is kept until the estimate is clearly below it, as above."""
        assert consumer.report_bwe is not None
        estimate = consumer.report_bwe.estimate_bps
        if estimate is None:
            return  # no loss seen yet: nothing to cap by
        lowest = min((info.bitrate_bps for info in infos if info.available), default=0)
        if estimate is not None and PAUSE_BELOW * lowest <= estimate < _lowest_need(infos):
            estimate = _lowest_need(infos)
        consumer.estimate_bps = estimate

    # -- transcoded ladder ---------------------------------------------------------------------------------------

    def start_ladder(self, ladder: Ladder) -> None:
        """The publisher's one video layer becomes the top layer; the ladder's producers join it as lower layers.
        Viewers are re-placed by the selector at the next ``replace_layers``."""
        from sfu.ladder import TOP_RID

        self.ladder = ladder
        ladder.source.rid = TOP_RID
        self.layers = [ladder.source, *ladder.producers]
        ladder.start()

    def stop_ladder(self, *, refeed: bool = True) -> None:
        """Stop the transcoder and close its layers; their viewers go back to the publisher's layer (continuous, at
        its cached keyframe) unless ``refeed`` is False (the publisher is going too)."""
        ladder = self.ladder
        if ladder is None:
            return
        self.ladder = None
        ladder.stop()
        gone = set(map(id, ladder.producers))
        for consumer in self.consumers.values():
            if consumer.pending is not None and id(consumer.pending) in gone:
                consumer.pending = None
            ladder.source.remove_handoff(consumer)
        for rung in ladder.producers:
            rung.close("ladder_off")
        self.layers = [p for p in self.layers if id(p) not in gone]
        if ladder.source.rid is not None and not ladder.source.closed:
            ladder.source.rid = None
        if not refeed:
            return
        for consumer in list(self.consumers.values()):
            if consumer.kind == "video" and consumer.connected and not consumer.closed:
                feeding = consumer.producer
                if feeding is None or feeding.closed:
                    consumer.paused = False
                    self._feed(consumer)

    def all_producers(self) -> list[Producer]:
        """Every producer: each kind's, and every simulcast layer."""
        return list(dict.fromkeys([*self.producers.values(), *self.layers]))

    def publisher_left(self, grace_s: float) -> None:
        """The publisher's session ended: detach viewers and wait ``grace_s`` for it to come back."""
        self.stop_ladder(refeed=False)
        if self.recorder is not None:
            self.recorder.unfollow()
        for producer in self.all_producers():
            producer.close("publisher_left")
        self.producers.clear()
        self.layers = []
        self.publisher_session_id = None
        self.grace_until = time.monotonic() + grace_s

    def add_consumer(self, consumer: Consumer) -> None:
        self.consumers[consumer.id] = consumer
        if consumer.downlink is not None:
            consumer.downlink.on_congestion = lambda: self.react(consumer)

    def react(self, consumer: Consumer) -> None:
        """The viewer's feedback shows congestion: re-decide its layer now (not at the next tick), without probing."""
        if self.closed or consumer.closed or consumer.kind != "video" or len(self.layers) < 2:
            return
        if consumer.downlink is None or self.consumers.get(consumer.id) is not consumer:
            return
        infos = self.layer_infos()
        self._estimate(consumer, infos, now_us(), probe=False)
        self.place(consumer, infos)

    def consumer_ready(self, consumer: Consumer) -> None:
        """The viewer's transport is up: feed it from the current producer, if any (else on the next publish)."""
        if consumer.kind in self.producers and not consumer.closed:
            self._feed(consumer)

    def remove_consumer(self, consumer: Consumer) -> None:
        self.consumers.pop(consumer.id, None)

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.stop_ladder(refeed=False)
        for producer in self.all_producers():
            producer.close(reason)
        self.producers.clear()
        self.layers = []
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
            "producers": [p.stats() for p in self.all_producers()],
            "consumers": len(self.consumers),
            "relay": self.relay.stats() if self.relay is not None else None,
            "pipes": [pipe.stats() for pipe in self.pipes.values()],
            "ladder": self.ladder.stats() if self.ladder is not None else None,
        }


def _lowest_need(infos: tuple[LayerInfo, ...]) -> int:
    """What keeps a viewer on the lowest available layer whatever it is on now: ``select_layer`` takes a layer the
    viewer is not on (one waiting for that layer's keyframe after a move down that stopped its old layer, or paused)
    only when its *peak* fits, so its bitrate alone would leave such a viewer paused."""
    lowest = next((info for info in infos if info.available), None)
    return 0 if lowest is None else max(lowest.bitrate_bps, lowest.peak_bps)


def _same_codec(a: RTCRtpCodecParameters, b: RTCRtpCodecParameters) -> bool:
    return a.mimeType.lower() == b.mimeType.lower() and a.clockRate == b.clockRate and a.parameters == b.parameters
