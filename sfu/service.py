"""``SfuService``: the narrow async API the edges (WHIP/WHEP, Socket.IO) call. Plain values in and out.

It owns every router, session and background task. Events (``sfu.events``) are delivered to listeners from a
task of the service's own, in order, so that a slow listener never stalls media.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import Counter, OrderedDict
from dataclasses import replace
from typing import Any

from aiortc import RTCRtpTransceiver
from aiortc.codecs import get_capabilities
from aiortc.utils import random32

from core.ids import new_id
from core.tasks import cancel_and_wait
from sfu import aiortc_hooks
from sfu.consumer import Consumer, EgressCodec
from sfu.dispatch import EventDispatcher, Listener
from sfu.egress import ExtensionIds
from sfu.errors import (
    AlreadyPublishingError,
    InvalidLayerPreferenceError,
    InvalidRelayOfferError,
    InvalidSdpError,
    SessionNotFoundError,
    SfuUnavailableError,
    StreamNotLiveError,
    TooManyPendingSessionsError,
    TranscodingFullError,
)
from sfu.events import (
    ConsumerClosed,
    ProducerClosed,
    PublisherStarted,
    PublisherStopped,
    RecordingStopped,
    RelayStarted,
    RelayStopped,
    SessionClosed,
    SfuEvent,
    StreamStatsSampled,
    ViewerConnected,
)
from sfu.ladder import Ladder, RungUpstream
from sfu.layers import LayerDemux
from sfu.peer import add_remote_candidates, apply_offer, create_peer, make_answer, remote_ice_credentials
from sfu.pipe import (
    AUDIO_LEVEL_ID,
    FINAL_REASONS,
    OFFER_TTL_S,
    PIPE_SILENCE_S,
    PipeIn,
    PipeOffer,
    PipeOut,
    PipeTrack,
    Relay,
    RemoteLayer,
    decode_offer,
    encode_offer,
    new_nonce,
    pipe_keys,
)
from sfu.producer import Producer, percentile
from sfu.recorder import RecordingSpec, StreamRecorder
from sfu.residence import RESIDENCE
from sfu.router import Router
from sfu.sdp import codec_preferences, negotiated_media, parse_offer
from sfu.selector import HIGH, PREFERENCES, Screen
from sfu.session import PUBLISHER, VIEWER, EndedSession, Session
from sfu.settings import SfuSettings
from sfu.simulcast import URI_REPAIRED_RTP_STREAM_ID, URI_RTP_STREAM_ID, answer_simulcast, read_simulcast
from sfu.thumbnail import KeyframeSnapshot, snapshot
from sfu.tracks import ForwardedTrack
from sfu.trickle import parse_fragment
from sfu.uplink import UplinkFeedback

log = logging.getLogger(__name__)


#: How often the watchdog checks timeouts and grace periods.
WATCHDOG_INTERVAL_S = 0.25
#: Closed sessions remembered for a late DELETE: at most this many per role (publishers apart, so that a flood of
#: viewer sessions cannot push out the publisher whose stream waits out its grace), for at least this long.
ENDED_SESSIONS_KEPT = 4096
ENDED_SESSION_TTL_S = 600.0
#: A relay pipe adding a layer replays that layer's cached keyframe only if it is at most this old (else it asks for a
#: new one): the far side's viewers switching to it must not go back in time.
FRESH_KEYFRAME_S = 0.3
#: Candidates one session may trickle over its life (a browser gathers a few dozen at most).
MAX_TRICKLED_CANDIDATES = 128


def _discard(_packet: object) -> None:
    """Tap for receivers the SFU does not forward: the packet is dropped before any decoder sees it."""


class SfuService:
    def __init__(self, settings: SfuSettings | None = None) -> None:
        self.settings = settings or SfuSettings()
        self._routers: dict[str, Router] = {}
        self._sessions: dict[str, Session] = {}
        self._ended: dict[str, OrderedDict[str, EndedSession]] = {PUBLISHER: OrderedDict(), VIEWER: OrderedDict()}
        self._consumer_sessions: dict[str, Session] = {}
        self._reserved: set[str] = set()
        #: Viewer sessions still connecting (or still being answered) per client key.
        self._pending: Counter[str] = Counter()
        self._dispatcher = EventDispatcher()
        self._watchdog: asyncio.Task[None] | None = None
        self._closers: set[asyncio.Task[None]] = set()
        self._closed = False
        self._secret = self.settings.relay_secret or secrets.token_urlsafe(32)
        self._pipes: dict[str, PipeOut] = {}
        self.sessions_opened = {PUBLISHER: 0, VIEWER: 0}
        self.sessions_refused = 0
        self._recording_dropped_done = 0

    # -- API -------------------------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        """``listener(event)`` is awaited for every event, in order, from the service's own task."""
        self._dispatcher.add(listener)

    def is_live(self, stream_id: str) -> bool:
        """A publisher is connected, or left less than the grace period ago (viewers may still join)."""
        router = self._routers.get(stream_id)
        return router is not None and not router.closed and "video" in router.codecs

    def has_publisher(self, stream_id: str) -> bool:
        """A publisher is connected to this node (a relay from another worker or node does not count)."""
        router = self._routers.get(stream_id)
        return router is not None and router.has_publisher and router.relay is None

    def has_relay(self, stream_id: str) -> bool:
        router = self._routers.get(stream_id)
        return router is not None and not router.closed and router.relay is not None

    async def publish(self, stream_id: str, offer_sdp: str, app_data: Any = None) -> tuple[str, str]:
        """Accept a publisher's offer (video required; Opus audio optional). Returns (session id, answer SDP)."""
        self._check_open()
        summary = self._parse(offer_sdp, publishing=True)
        simulcast = read_simulcast(offer_sdp)
        router = self._routers.get(stream_id)
        if (router is not None and router.has_publisher and router.relay is None) or stream_id in self._reserved:
            self.sessions_refused += 1
            raise AlreadyPublishingError("this stream already has a publisher")
        self._reserved.add(stream_id)
        session = Session(new_id(), stream_id, PUBLISHER, app_data, create_peer(self.settings))
        try:
            pc = session.pc
            transceivers: dict[str, RTCRtpTransceiver] = {}
            for kind in dict.fromkeys(summary.kinds):
                transceivers[kind] = pc.addTransceiver(kind, direction="recvonly")
            if "audio" in transceivers:
                opus = [c for c in get_capabilities("audio").codecs if c.mimeType.lower() == "audio/opus"]
                transceivers["audio"].setCodecPreferences(opus)
            await apply_offer(pc, offer_sdp)
            session.remote_ice = remote_ice_credentials(pc)
            layered = simulcast.get(transceivers["video"].mid or "")
            if layered is not None:
                aiortc_hooks.negotiate_header_extension(
                    transceivers["video"], URI_RTP_STREAM_ID, layered.rid_extension_id
                )
                if layered.repaired_extension_id is not None:
                    aiortc_hooks.negotiate_header_extension(
                        transceivers["video"], URI_REPAIRED_RTP_STREAM_ID, layered.repaired_extension_id
                    )
            if summary.transport_cc is not None and self.settings.transport_cc:
                session.uplink = UplinkFeedback(transceivers["video"], summary.transport_cc)
            answer = await make_answer(pc, self.settings)
            if layered is not None:
                answer = answer_simulcast(answer, {layered.mid: layered})
            negotiated = negotiated_media(pc.localDescription.sdp)
            if "video" not in negotiated:
                raise InvalidSdpError("no video codec could be negotiated")
            self._check_open()
            router = self._routers.get(stream_id)
            if router is None or router.closed:
                router = Router(stream_id, self._router_closed)
            producers: list[Producer] = []
            for kind, transceiver in transceivers.items():
                media = negotiated.get(kind)
                if media is None:
                    continue
                if kind == "video" and layered is not None:
                    demux = LayerDemux(transceiver.receiver, layered.rids)
                    producers.extend(
                        Producer(
                            new_id(),
                            stream_id,
                            kind,
                            media.codec,
                            demux.upstream(rid),
                            self.settings,
                            router.profiles[kind],
                            self._producer_closed,
                            rid=rid,
                        )
                        for rid in layered.rids
                    )
                    continue
                producers.append(
                    Producer(
                        new_id(),
                        stream_id,
                        kind,
                        media.codec,
                        transceiver.receiver,
                        self.settings,
                        router.profiles[kind],
                        self._producer_closed,
                    )
                )
            self._mute_others(session, transceivers)
        except BaseException:
            self._reserved.discard(stream_id)
            await session.close_peer()
            raise
        self._reserved.discard(stream_id)
        self._routers[stream_id] = router
        if router.relay is not None:  # the publisher moved here from the node this one relayed: take over
            self._stop_relay(router, "publisher_here", grace=True)
        session.producers = producers
        self._register(session)
        if session.uplink is not None:
            session.uplink.start()
        stranded = router.set_publisher(session.id, app_data, producers)
        for consumer in stranded:
            consumer.close("codec_changed")
        self.sessions_opened[PUBLISHER] += 1
        log.info("publisher session opened", extra={"stream": stream_id, "session": session.id})
        return session.id, answer

    async def subscribe(
        self, stream_id: str, offer_sdp: str, app_data: Any = None, pending_keys: tuple[str, ...] = ()
    ) -> tuple[str, str]:
        """Accept a viewer's offer for a live stream. Returns (session id, answer SDP).

        A stream is full of *connected* viewers only: a viewer still connecting holds no slot, so sessions that never
        complete ICE cannot lock real viewers out. Those are bounded instead: each of ``pending_keys`` (opaque client
        keys: an address, a socket) may have ``max_pending_per_client`` of them, and they are closed after
        ``pending_timeout_s``. A viewer that connects once the stream filled up is closed (``stream_full``)."""
        self._check_open()
        summary = self._parse(offer_sdp, publishing=False)
        router = self._routers.get(stream_id)
        if router is None or router.closed or "video" not in router.codecs:
            raise StreamNotLiveError("this stream is not live")
        if self._connected_viewers(stream_id) >= self.settings.max_viewers_per_stream:
            raise SfuUnavailableError("this stream has as many viewers as this node can take", code="stream_full")
        keys = tuple(dict.fromkeys(pending_keys))
        if any(self._pending[k] >= self.settings.max_pending_per_client for k in keys):
            self.sessions_refused += 1
            raise TooManyPendingSessionsError(
                "you have other viewer sessions still connecting; finish or close them first",
                retry_after_s=self.settings.pending_timeout_s,
            )
        session = Session(new_id(), stream_id, VIEWER, app_data, create_peer(self.settings))
        session.pending_keys = keys
        self._pending.update(keys)
        consumers: list[Consumer] = []
        try:
            pc = session.pc
            transceivers: dict[str, RTCRtpTransceiver] = {}
            for kind in ("video", "audio"):
                if kind in summary.kinds and kind in router.codecs:
                    transceiver = pc.addTransceiver(kind, direction="sendonly")
                    transceiver.setCodecPreferences(codec_preferences(router.codecs[kind]))
                    track = ForwardedTrack(kind)
                    transceiver.sender.replaceTrack(track)
                    session.tracks.append(track)
                    transceivers[kind] = transceiver
            await apply_offer(pc, offer_sdp)
            session.remote_ice = remote_ice_credentials(pc)
            # an estimate only matters when there are layers to choose from (and costs feedback work per packet)
            layered = len(router.layers) > 1
            if summary.transport_cc is not None and self.settings.transport_cc and "video" in transceivers and layered:
                aiortc_hooks.negotiate_transport_cc(transceivers["video"], summary.transport_cc, remb=False)
            answer = await make_answer(pc, self.settings)
            negotiated = negotiated_media(pc.localDescription.sdp)
            for kind, transceiver in transceivers.items():
                media = negotiated.get(kind)
                if media is None or media.codec.mimeType.lower() != router.codecs[kind].mimeType.lower():
                    raise InvalidSdpError(f"the viewer cannot receive this stream's {kind} codec")
                payload_type = media.codec.payloadType
                assert payload_type is not None  # every codec in a parsed answer has one
                codec = EgressCodec(media.codec.mimeType, media.codec.clockRate, payload_type, media.rtx_payload_type)
                consumers.append(
                    Consumer(
                        new_id(),
                        stream_id,
                        kind,
                        transceiver.sender,
                        codec,
                        (media.extension_ids, media.mid),
                        app_data,
                        self._consumer_closed,
                    )
                )
            self._mute_others(session, transceivers, all_receivers=True)
            self._check_open()
            if router.closed:
                raise StreamNotLiveError("the stream ended")
        except BaseException:
            self._release_pending(session)
            await session.close_peer()
            raise
        session.consumers = consumers
        for consumer in consumers:
            if consumer.downlink is not None:  # the viewer's transport-cc feedback feeds its estimate
                aiortc_hooks.watch_transport_rtcp(
                    transceivers[consumer.kind].sender.transport, consumer.downlink.on_rtcp
                )
        for consumer in consumers:
            self._consumer_sessions[consumer.id] = session
            router.add_consumer(consumer)
        self._register(session)
        self.sessions_opened[VIEWER] += 1
        return session.id, answer

    async def set_layer(self, session_id: str, preference: str, screen: tuple[int, int] | None = None) -> str | None:
        """A viewer's simulcast choice: ``auto``, ``high``, ``medium`` or ``low`` (``sfu/selector.py``), and for
        ``auto`` optionally its video element's size in pixels. Applies at the chosen layer's next keyframe (asked
        for at once); returns the rid of that layer (None: the stream has one layer, or none is available now).
        Unknown session: ``SessionNotFoundError``; a bad preference or size: ``InvalidLayerPreferenceError``, and
        nothing changes."""
        if preference not in PREFERENCES:
            raise InvalidLayerPreferenceError(f"the layer preference must be one of {', '.join(PREFERENCES)}")
        try:
            size = Screen(*screen) if screen is not None else None
        except (TypeError, ValueError):
            raise InvalidLayerPreferenceError("the screen size must be two numbers of pixels, 1 to 16384") from None
        session = self._sessions.get(session_id)
        if session is None or session.role != VIEWER:
            raise SessionNotFoundError("no such viewer session")
        chosen: str | None = None
        for consumer in session.consumers:
            if consumer.kind != "video":
                continue
            consumer.preference = preference
            consumer.screen = size
            router = self._routers.get(session.stream_id)
            if router is not None and len(router.layers) > 1:
                router.place(consumer)
                target = consumer.pending or consumer.producer
                chosen = target.rid if target is not None else None
                self._ask_layers(router)
        return chosen

    async def close_session(self, session_id: str) -> None:
        """End a session on purpose (WHIP/WHEP DELETE), whatever its peer's state. A publisher's stream ends at once,
        without grace: also when the peer already closed its connection and the stream is waiting out the reconnect
        grace for it. A session deleted before (or never known) is :class:`SessionNotFoundError`."""
        session = self._sessions.get(session_id)
        if session is not None:
            closer = self._close_session(session, "deleted", grace=False)
            if closer is not None:
                await closer
            return
        ended = self._ended_session(session_id)
        if ended is None or ended.deleted:
            raise SessionNotFoundError("no such session")
        self._ended[ended.role][session_id] = replace(ended, deleted=True)
        router = self._routers.get(ended.stream_id)
        if (
            ended.role == PUBLISHER
            and router is not None
            and not router.closed
            and router.publisher_session_id is None  # nobody took over during the grace
            and router.last_publisher_session_id == session_id
        ):
            router.close("unpublished")
            if self._closers:
                await asyncio.wait(set(self._closers), timeout=5)

    async def trickle(self, session_id: str, fragment: str) -> int:
        """Add the ICE candidates a peer trickles (an RFC 8840 SDP fragment, WHIP/WHEP ``PATCH``) to its session.
        Returns how many were handed to ICE. New ICE credentials (an ICE restart) are refused with
        ``IceRestartUnsupportedError``; a fragment that is malformed, or names a media section the session does not
        have, is ``InvalidSdpError`` and changes nothing."""
        self._check_open()
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFoundError("no such session")
        parsed = parse_fragment(fragment)
        if session.trickled + parsed.candidate_count > MAX_TRICKLED_CANDIDATES:
            raise InvalidSdpError(
                f"a session takes at most {MAX_TRICKLED_CANDIDATES} trickled candidates", code="too_many_candidates"
            )
        added = await add_remote_candidates(session.pc, parsed, session.remote_ice)
        session.trickled += parsed.candidate_count
        return added

    async def keyframe(self, stream_id: str, min_width: int = 0) -> KeyframeSnapshot | None:
        """The latest complete keyframe picture of the stream's video, if its publisher is here (not a relay): of a
        simulcast stream, the smallest layer at least ``min_width`` wide (else the widest). References to the cached
        payloads only; nothing is decoded here (``sfu/thumbnail.py``)."""
        router = self._routers.get(stream_id)
        if router is None or router.closed or not router.has_publisher or router.relay is not None:
            return None
        layers = [p for p in router.layers if not p.closed]
        if not layers and "video" in router.producers:
            layers = [router.producers["video"]]
        taken = [(p, snap) for p in layers if (snap := snapshot(stream_id, p)) is not None]
        if not taken:
            return None
        wide_enough = [snap for p, snap in taken if p.width >= min_width]
        return wide_enough[0] if wide_enough else max(taken, key=lambda t: t[0].width)[1]

    async def set_ladder(self, stream_id: str, enabled: bool) -> bool:
        """Start or stop the stream's transcoded ladder (``sfu/ladder.py``) on the node holding its publisher.
        Returns whether a ladder runs now: False for a publisher sending simulcast itself (it has its layers).
        No publisher here: ``StreamNotLiveError``; ``max_transcoded_streams`` running already:
        ``TranscodingFullError``."""
        router = self._routers.get(stream_id)
        if router is None or router.closed or not router.has_publisher or router.relay is not None:
            raise StreamNotLiveError("this stream's publisher is not on this node")
        if not enabled:
            router.stop_ladder()
            return False
        if router.ladder is not None:
            if router.ladder.running:
                return True
            router.stop_ladder()  # its thread failed: start a new one
        source = router.producers.get("video")
        if source is None or len(router.layers) != 1 or source.rid is not None:
            return False
        if self.ladders_running() >= self.settings.max_transcoded_streams:
            raise TranscodingFullError(
                f"this node transcodes {self.settings.max_transcoded_streams} streams already (the most it may)"
            )

        def make(rid: str, upstream: RungUpstream) -> Producer:
            return Producer(
                new_id(),
                stream_id,
                "video",
                source.codec,
                upstream,
                self.settings,
                router.profiles["video"],
                self._producer_closed,
                rid=rid,
            )

        router.start_ladder(Ladder(source, make, asyncio.get_running_loop()))
        log.info("transcoded ladder started", extra={"stream": stream_id})
        return True

    def ladders_running(self) -> int:
        return sum(1 for r in self._routers.values() if r.ladder is not None and r.ladder.running)

    async def drop_publisher(self, session_id: str) -> None:
        """Close a publisher's session as if its peer had dropped: the stream waits out the reconnect grace with its
        viewers attached, so a new ``publish`` (the broadcaster back on a new connection) takes over. No-op if gone."""
        session = self._sessions.get(session_id)
        if session is None or session.role != PUBLISHER:
            return
        closer = self._close_session(session, "replaced", grace=True)
        if closer is not None:
            await closer

    async def end_stream(self, stream_id: str, reason: str = "ended") -> None:
        """End a stream on this node (e.g. its owner ended it): the publisher and every viewer are closed."""
        router = self._routers.get(stream_id)
        if router is None:
            return
        router.close(reason)
        if self._closers:
            await asyncio.wait(set(self._closers), timeout=5)

    # -- relay (see sfu/pipe.py) ----------------------------------------------------------------------------

    async def open_origin_pipe(self, stream_id: str) -> str:
        """On the worker/node holding the stream (a publisher, one in grace, or a relay: pipes chain into trees):
        open one pipe carrying one copy of each of the stream's tracks to one edge. Returns the signed offer the edge
        passes to :meth:`attach_relay` within ``OFFER_TTL_S``. Media starts when the edge's first packet arrives;
        the pipe closes when the edge leaves or is silent for ``PIPE_SILENCE_S``, or when the stream ends here."""
        self._check_open()
        router = self._routers.get(stream_id)
        if router is None or router.closed or "video" not in router.codecs:
            raise StreamNotLiveError("this stream is not live")
        pipe_id = new_id()
        nonce = new_nonce()
        consumers: list[Consumer] = []
        tracks: list[PipeTrack] = []
        for kind, codec in router.codecs.items():
            # A simulcast stream sends every layer across (one track each, named by its rid): the far side's viewers
            # pick their own layer there. One consumer per track, pinned to its layer.
            rids: list[str | None] = (
                [p.rid for p in router.layers] if kind == "video" and len(router.layers) > 1 else [None]
            )
            for rid in rids:
                ssrc = random32()
                assert codec.payloadType is not None  # negotiated with the publisher
                ids = ExtensionIds(audio_level=AUDIO_LEVEL_ID) if kind == "audio" else ExtensionIds()
                consumer = Consumer(
                    new_id(),
                    stream_id,
                    kind,
                    None,
                    EgressCodec(codec.mimeType, codec.clockRate, codec.payloadType, None),
                    (ids, None),
                    None,
                    self._pipe_consumer_closed,
                    ssrc=ssrc,
                )
                consumer.pinned = rid
                if kind == "video":
                    consumer.preference = HIGH
                consumers.append(consumer)
                tracks.append(PipeTrack.of(kind, ssrc, codec, rid))
        pipe = PipeOut(
            pipe_id,
            stream_id,
            consumers,
            pipe_keys(self._secret, pipe_id, nonce),
            self._pipe_connected,
            self._pipe_closed,
            self._pipe_demand,
        )
        port = await pipe.open(self.settings.relay_bind, self.settings.relay_ports)
        if router.closed or self._closed:
            pipe.close("stream_ended")
            raise StreamNotLiveError("the stream ended")
        router.pipes[pipe_id] = pipe
        self._pipes[pipe_id] = pipe
        for consumer in consumers:
            router.add_consumer(consumer)
        self._ensure_watchdog()
        offer = PipeOffer(
            stream_id, pipe_id, self.settings.relay_announced, port, nonce, time.time() + OFFER_TTL_S, tuple(tracks)
        )
        return encode_offer(offer, self._secret)

    async def attach_relay(self, stream_id: str, offer: str, app_data: Any = None) -> str:
        """On an edge: serve ``stream_id`` to local viewers from the origin's pipe described by ``offer``. Returns the
        relay id. A relay already feeding the stream is replaced (the origin moved): viewers continue at the next
        keyframe, sequence numbers and timestamps rebased, no renegotiation."""
        self._check_open()
        parsed = decode_offer(offer, self._secret)
        if parsed.stream_id != stream_id:
            raise InvalidRelayOfferError("the relay offer is for another stream")
        router = self._routers.get(stream_id)
        if (router is not None and router.has_publisher and router.relay is None) or stream_id in self._reserved:
            raise AlreadyPublishingError("this stream's publisher is on this node")
        relay_id = new_id()
        pipe = PipeIn(
            parsed,
            pipe_keys(self._secret, parsed.pipe_id, parsed.nonce),
            lambda p: self._relay_started(stream_id, relay_id),
            lambda p, reason: self._origin_closed(stream_id, relay_id, reason),
        )
        await pipe.open(self.settings.relay_bind)
        router = self._routers.get(stream_id)
        if self._closed or (router is not None and router.has_publisher and router.relay is None):
            pipe.close("refused")
            self._check_open()
            raise AlreadyPublishingError("this stream's publisher is on this node")
        if router is None or router.closed:
            router = Router(stream_id, self._router_closed)
            self._routers[stream_id] = router
        if router.relay is not None:
            self._stop_relay(router, "replaced", grace=True)
        producers = [
            Producer(
                new_id(),
                stream_id,
                track.kind,
                track.codec(),
                pipe.upstream(track.ssrc),
                self.settings,
                router.profiles[track.kind],
                self._producer_closed,
                rid=track.rid,
            )
            for track in parsed.tracks
        ]
        for track, producer in zip(parsed.tracks, producers, strict=True):
            if track.kind == "video" and track.rid is not None:
                producer.remote = pipe.upstream(track.ssrc).remote
        relay = Relay(relay_id, stream_id, app_data, pipe, producers)
        router.relay = relay
        router.relayed = True
        stranded = router.set_publisher(relay_id, app_data, producers)
        for consumer in stranded:
            consumer.close("codec_changed")
        self._ensure_watchdog()
        log.info("relay attached", extra={"stream": stream_id, "relay": relay_id})
        return relay_id

    async def detach_relay(self, stream_id: str, reason: str = "detached") -> None:
        """Stop pulling the stream; local viewers wait out the reconnect grace for a new relay or publisher."""
        router = self._routers.get(stream_id)
        if router is not None and router.relay is not None:
            self._stop_relay(router, reason, grace=True)

    def _relay_started(self, stream_id: str, relay_id: str) -> None:
        router = self._routers.get(stream_id)
        relay = router.relay if router is not None else None
        if relay is not None and relay.id == relay_id and not relay.started:
            relay.started = True
            self._emit(RelayStarted(stream_id, relay_id, relay.app_data))

    def _origin_closed(self, stream_id: str, relay_id: str, reason: str) -> None:
        router = self._routers.get(stream_id)
        if router is None or router.relay is None or router.relay.id != relay_id:
            return  # an older pipe's goodbye
        if reason in FINAL_REASONS:
            router.close(reason)
        else:
            self._stop_relay(router, f"origin_closed:{reason}", grace=True)

    def _stop_relay(self, router: Router, reason: str, *, grace: bool) -> None:
        relay = router.relay
        if relay is None:
            return
        router.relay = None
        relay.pipe.close(reason)
        self._emit(RelayStopped(router.stream_id, relay.id, relay.app_data, reason))
        if not grace or router.closed:
            return
        if self.settings.reconnect_grace_s > 0 and not self._closed:
            router.publisher_left(self.settings.reconnect_grace_s)
        else:
            router.close(reason)

    def _pipe_connected(self, pipe: PipeOut) -> None:
        router = self._routers.get(pipe.stream_id)
        if router is None or router.closed:
            pipe.close("stream_ended")
            return
        for consumer in pipe.consumers.values():
            consumer.set_link(pipe.send)
            router.consumer_ready(consumer)

    def _pipe_demand(self, pipe: PipeOut, wanted: frozenset[int]) -> None:
        """The edge says which layers its viewers need: the pipe carries those only (audio always)."""
        router = self._routers.get(pipe.stream_id)
        if router is None or router.closed:
            return
        for ssrc, consumer in pipe.consumers.items():
            if consumer.kind == "video" and consumer.pinned is not None:
                router.park(consumer, ssrc not in wanted, FRESH_KEYFRAME_S)

    def _tell_layers(self, router: Router) -> None:
        """Origin side: describe the stream's layers to each pipe's far end (so it offers layers it does not get)."""
        infos = {info.rid: info for info in router.layer_infos()}
        for pipe in router.pipes.values():
            layers = {
                ssrc: RemoteLayer(info.width, info.height, info.bitrate_bps, info.available)
                for ssrc, consumer in pipe.consumers.items()
                if consumer.pinned is not None and (info := infos.get(consumer.pinned)) is not None
            }
            pipe.send_layers(layers)

    def _ask_layers(self, router: Router) -> None:
        """Edge side: ask the origin for the layers this node's viewers (and its own pipes onwards) are on or
        switching to (``PipeIn.want``: a layer lingers a while after its last viewer; with none, the lowest)."""
        relay = router.relay
        if relay is None or relay.pipe.closed or len(router.layers) < 2:
            return
        track_of = {id(p): t.ssrc for p, t in zip(relay.producers, relay.pipe.offer.tracks, strict=True)}
        needed: set[int] = set()
        for consumer in router.consumers.values():
            if consumer.kind != "video" or consumer.closed:
                continue
            for producer in (consumer.producer, consumer.pending):
                if producer is not None and id(producer) in track_of:
                    needed.add(track_of[id(producer)])
        lowest = track_of.get(id(router.layers[0]))
        relay.pipe.want(needed, lowest)

    def _pipe_consumer_closed(self, consumer: Consumer, reason: str) -> None:
        router = self._routers.get(consumer.stream_id)
        if router is not None:
            router.remove_consumer(consumer)
        for pipe in list(self._pipes.values()):
            if consumer._ssrc in pipe.consumers and pipe.consumers[consumer._ssrc] is consumer:
                pipe.close(reason)

    def _pipe_closed(self, pipe: PipeOut, reason: str) -> None:
        self._pipes.pop(pipe.id, None)
        router = self._routers.get(pipe.stream_id)
        if router is not None:
            router.pipes.pop(pipe.id, None)
        log.info("relay pipe closed", extra={"stream": pipe.stream_id, "pipe": pipe.id, "reason": reason})

    # -- recordings (sfu/recorder.py) ------------------------------------------------------------------------

    async def start_recording(self, stream_id: str, spec: RecordingSpec) -> None:
        """Record the stream's local publisher into segment files under ``spec.directory`` (events:
        ``RecordingSegmentClosed``, ``RecordingStopped``). Idempotent for the same recording id."""
        self._check_open()
        router = self._routers.get(stream_id)
        if router is None or router.closed or router.relay is not None or not router.producers:
            raise StreamNotLiveError("the stream has no publisher on this node")
        current = router.recorder
        if current is not None:
            if current.spec.recording_id == spec.recording_id:
                return
            await current.stop("replaced")
        recorder = StreamRecorder(stream_id, spec, self._recording_event)
        router.recorder = recorder
        recorder.start(router)

    async def stop_recording(self, stream_id: str, recording_id: str) -> None:
        """Finish the recording (its segment in progress becomes a finished one). No-op if it does not run here."""
        router = self._routers.get(stream_id)
        recorder = router.recorder if router is not None else None
        if recorder is None or recorder.spec.recording_id != recording_id:
            return
        router.recorder = None  # type: ignore[union-attr]
        await recorder.stop("stopped")

    def _recording_event(self, event: SfuEvent) -> None:
        if isinstance(event, RecordingStopped):
            self._recording_dropped_done += event.dropped_packets
        self._emit(event)

    @property
    def recording_dropped(self) -> int:
        """Packets refused by full recording queues since start (finished and running recordings)."""
        running = sum(r.recorder.dropped for r in self._routers.values() if r.recorder is not None)
        return self._recording_dropped_done + running

    def recordings(self) -> dict[str, str]:
        """Stream id → the id of the recording running on this node."""
        return {
            stream_id: router.recorder.spec.recording_id
            for stream_id, router in self._routers.items()
            if router.recorder is not None
        }

    def kill_recording(self, stream_id: str) -> None:
        """Tests: stop a recording the way a crash would (no trailer, no event)."""
        router = self._routers.get(stream_id)
        if router is not None and router.recorder is not None:
            router.recorder.kill()
            router.recorder = None

    def session_stream(self, session_id: str) -> str:
        """The stream of a session, open or closed not long ago (so that a late DELETE is routed)."""
        session = self._sessions.get(session_id)
        if session is not None:
            return session.stream_id
        ended = self._ended_session(session_id)
        if ended is None:
            raise SessionNotFoundError("no such session")
        return ended.stream_id

    async def close(self) -> None:
        """Close every session and router, deliver the last events, stop background tasks. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions.values()):
            self._close_session(session, "shutdown", grace=False)
        for router in list(self._routers.values()):
            router.close("shutdown")
        if self._closers:
            await asyncio.wait(set(self._closers), timeout=5)
        await cancel_and_wait(self._watchdog)
        await self._dispatcher.close()

    def stats(self) -> dict[str, Any]:
        routers = [router.stats() for router in self._routers.values()]
        residence: list[float] = []
        for router in self._routers.values():
            for producer in router.producers.values():
                residence.extend(producer.residence_us)
        consumers = [{**c.stats(), "session_id": s.id} for s in self._sessions.values() for c in s.consumers]
        return {
            "streams": len(self._routers),
            "publishers": sum(1 for s in self._sessions.values() if s.role == PUBLISHER),
            "viewers": sum(1 for s in self._sessions.values() if s.role == VIEWER),
            "sessions_opened": dict(self.sessions_opened),
            "routers": routers,
            "consumers": consumers,
            "residence_us_p50": percentile(residence, 50),
            "residence_us_p99": percentile(residence, 99),
            "residence_histogram": RESIDENCE.to_dict(),
            "pipes": len(self._pipes),
            "relays": sum(1 for r in self._routers.values() if r.relay is not None),
            "recordings": [r.recorder.stats() for r in self._routers.values() if r.recorder is not None],
            "recording_dropped_packets": self.recording_dropped,
        }

    def _stream_stats(self, router: Router) -> dict[str, Any]:
        stats = router.stats()
        stats["consumer_stats"] = [c.stats() for c in router.consumers.values()]
        return stats

    # -- internals -------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed:
            raise SfuUnavailableError("the SFU is shutting down")

    def _parse(self, offer_sdp: str, *, publishing: bool) -> Any:
        return parse_offer(offer_sdp, max_bytes=self.settings.max_sdp_bytes, publishing=publishing)

    def _mute_others(
        self, session: Session, ours: dict[str, RTCRtpTransceiver], *, all_receivers: bool = False
    ) -> None:
        """Receivers the SFU does not forward get a discarding tap: whatever arrives there is never decoded."""
        forwarded = {id(t.receiver) for t in ours.values()} if not all_receivers else set()
        for transceiver in session.pc.getTransceivers():
            if id(transceiver.receiver) not in forwarded:
                aiortc_hooks.install_receiver_tap(transceiver.receiver, _discard)

    def _register(self, session: Session) -> None:
        self._sessions[session.id] = session
        pc = session.pc

        @pc.on("connectionstatechange")
        def on_state() -> None:
            state = pc.connectionState
            if state == "connected":
                self._session_connected(session)
            elif state in ("failed", "closed"):
                self._close_session(session, f"connection_{state}", grace=True)

        self._ensure_watchdog()
        if pc.connectionState == "connected":
            self._session_connected(session)

    def _connected_viewers(self, stream_id: str) -> int:
        return sum(1 for s in self._sessions.values() if s.stream_id == stream_id and s.role == VIEWER and s.connected)

    def _release_pending(self, session: Session) -> None:
        """The session no longer counts as connecting against its client keys."""
        self._pending.subtract(session.pending_keys)
        for key in session.pending_keys:
            if self._pending[key] <= 0:
                del self._pending[key]
        session.pending_keys = ()

    def _session_connected(self, session: Session) -> None:
        if session.closed or session.connected:
            return
        self._release_pending(session)
        if (
            session.role == VIEWER
            and self._connected_viewers(session.stream_id) >= self.settings.max_viewers_per_stream
        ):
            self._close_session(session, "stream_full", grace=False)
            return
        session.connected_at = time.monotonic()
        router = self._routers.get(session.stream_id)
        if router is None:
            self._close_session(session, "stream_ended", grace=False)
            return
        if session.role == PUBLISHER:
            reconnected = router.started or router.relayed
            router.started = True
            self._emit(PublisherStarted(session.stream_id, session.id, session.app_data, reconnected))
            return
        for consumer in session.consumers:
            assert consumer._sender is not None  # a viewer's consumer always has its aiortc sender
            send = aiortc_hooks.srtp_sender(consumer._sender.transport, self._send_failed)
            if send is None:
                self._close_session(session, "transport_not_ready", grace=False)
                return
            consumer.set_link(send)
            router.consumer_ready(consumer)
        self._ask_layers(router)
        self._emit(ViewerConnected(session.stream_id, session.id, session.app_data))

    def _send_failed(self, exc: BaseException) -> None:
        log.debug("relayed send failed: %s", type(exc).__name__)

    def _close_session(self, session: Session, reason: str, *, grace: bool) -> asyncio.Task[None] | None:
        if not session.mark_closed(reason):
            return None
        self._release_pending(session)
        self._sessions.pop(session.id, None)
        router = self._routers.get(session.stream_id)
        if session.role == PUBLISHER:
            if router is not None and router.publisher_session_id == session.id:
                if grace and self.settings.reconnect_grace_s > 0 and not self._closed:
                    router.publisher_left(self.settings.reconnect_grace_s)
                else:
                    router.close("unpublished" if reason == "deleted" else reason)
        else:
            for consumer in session.consumers:
                self._consumer_sessions.pop(consumer.id, None)
                consumer.close(reason)
        self._remember(
            EndedSession(session.id, session.stream_id, session.role, reason, reason == "deleted", time.monotonic())
        )
        self._emit(SessionClosed(session.stream_id, session.id, session.role, session.app_data, reason))
        task = asyncio.ensure_future(session.close_peer())
        self._closers.add(task)
        task.add_done_callback(self._closers.discard)
        return task

    def _ended_session(self, session_id: str) -> EndedSession | None:
        return self._ended[PUBLISHER].get(session_id) or self._ended[VIEWER].get(session_id)

    def _remember(self, ended: EndedSession) -> None:
        kept = self._ended[ended.role]
        kept[ended.session_id] = ended
        cutoff = ended.ended_at - max(ENDED_SESSION_TTL_S, 2 * self.settings.reconnect_grace_s)
        while kept:
            oldest = next(iter(kept.values()))
            if len(kept) <= ENDED_SESSIONS_KEPT and oldest.ended_at >= cutoff:
                break
            kept.popitem(last=False)

    def _consumer_closed(self, consumer: Consumer, reason: str) -> None:
        router = self._routers.get(consumer.stream_id)
        if router is not None:
            router.remove_consumer(consumer)
        self._emit(ConsumerClosed(consumer.stream_id, consumer.id, consumer.kind, reason))
        session = self._consumer_sessions.pop(consumer.id, None)
        if session is not None:
            self._close_session(session, reason, grace=False)

    def _producer_closed(self, producer: Producer, reason: str) -> None:
        self._emit(ProducerClosed(producer.stream_id, producer.id, producer.kind, reason))

    def _router_closed(self, router: Router, reason: str) -> None:
        if self._routers.get(router.stream_id) is router:
            del self._routers[router.stream_id]
        recorder, router.recorder = router.recorder, None
        if recorder is not None:
            stopping = asyncio.ensure_future(recorder.stop(reason))
            self._closers.add(stopping)
            stopping.add_done_callback(self._closers.discard)
        self._stop_relay(router, reason, grace=False)
        for pipe in list(router.pipes.values()):
            pipe.close(reason)
        publisher = self._sessions.get(router.publisher_session_id or "")
        if publisher is not None:
            self._close_session(publisher, reason, grace=False)
        if router.started:  # a publisher that never connected did not start the stream, so it does not end it
            self._emit(
                PublisherStopped(router.stream_id, router.last_publisher_session_id, router.publisher_app_data, reason)
            )

    # -- background work -------------------------------------------------------------------------------------

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.ensure_future(self._watch())

    async def _watch(self) -> None:
        """Timeouts: peers that never connect, publishers that stop sending, grace periods that run out."""
        settings = self.settings
        next_stats = time.monotonic() + settings.stats_interval_s
        while not self._closed:
            await asyncio.sleep(WATCHDOG_INTERVAL_S)
            now = time.monotonic()
            try:
                if settings.stats_interval_s > 0 and now >= next_stats and self._dispatcher.has_listeners:
                    next_stats = now + settings.stats_interval_s
                    for router in list(self._routers.values()):
                        self._emit(StreamStatsSampled(router.stream_id, self._stream_stats(router)))
                for session in list(self._sessions.values()):
                    limit = settings.pending_timeout_s if session.role == VIEWER else settings.connect_timeout_s
                    if not session.connected and now - session.created_at > limit:
                        self._close_session(session, "connect_timeout", grace=True)
                    elif session.role == PUBLISHER and session.connected_at is not None:
                        last = max(
                            [p.last_packet_at or session.connected_at for p in session.producers],
                            default=session.connected_at,
                        )
                        if now - last > settings.media_timeout_s:
                            self._close_session(session, "media_timeout", grace=True)
                for router in list(self._routers.values()):
                    router.replace_layers()
                    if router.pipes and len(router.layers) > 1:
                        self._tell_layers(router)
                    self._ask_layers(router)
                    relay = router.relay
                    if relay is not None:
                        heard = relay.pipe.last_packet_at
                        if (heard is None and now - relay.pipe.created_at > settings.connect_timeout_s) or (
                            heard is not None and now - heard > settings.media_timeout_s
                        ):
                            self._stop_relay(router, "origin_silent", grace=True)
                    if router.grace_until is not None and now >= router.grace_until:
                        router.close("publisher_gone")
                for pipe in list(self._pipes.values()):
                    heard = pipe.last_heard
                    if (heard is None and now - pipe.created_at > OFFER_TTL_S + settings.connect_timeout_s) or (
                        heard is not None and now - heard > PIPE_SILENCE_S
                    ):
                        pipe.close("edge_silent")
            except Exception:
                log.exception("SFU watchdog check failed")

    def _emit(self, event: SfuEvent) -> None:
        self._dispatcher.emit(event)
