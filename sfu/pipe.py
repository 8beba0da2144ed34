"""The relay pipe: one copy of a stream's tracks from the worker/node holding it (origin) to another (edge).

Design (after mediasoup's ``PipeTransport``; see docs/ARCHITECTURE.md, "Relay"): plain UDP, one socket per pipe at
each end, carrying the producer's RTP as it is (payload, marker, padding and the audio level untouched; sequence
numbers and timestamps shifted by constant offsets, so gaps stay gaps) and RTCP back (RFC 5761 multiplexing on one
port). Both directions are SRTP/SRTCP (AES_CM_128_HMAC_SHA1_80). The keys never travel: each end derives them from
the cluster secret (``SfuSettings.relay_secret``) and the pipe's id and nonce with HMAC-SHA256. The offer an origin
hands out is a token signed with the same secret that expires after ``OFFER_TTL_S``. The origin learns the edge's
address from the first packet that authenticates (like a "comedia" latch), so only the origin needs a reachable port.

Across the hop: the edge NACKs gaps (RFC 4585 generic NACK) and the origin answers from its producer's packet history
(the original sequence number again, no RTX needed on a dedicated pipe); the edge asks for keyframes with PLI, which
the origin's producer throttles like any viewer's. The edge keeps its own keyframe cache and history (its relayed
producer is an ordinary ``Producer``), so late joiners and viewers' NACKs there never reach upstream.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import socket
import struct
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pylibsrtp
from aiortc import RTCRtpCodecParameters, RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import (
    HeaderExtensionsMap,
    RtcpPacket,
    RtcpPsfbPacket,
    RtcpRrPacket,
    RtcpRtpfbPacket,
    RtpPacket,
)
from aiortc.utils import random32

from sfu.egress import URI_AUDIO_LEVEL
from sfu.errors import InvalidRelayOfferError, SfuUnavailableError

if TYPE_CHECKING:
    from sfu.consumer import Consumer
    from sfu.producer import Producer

log = logging.getLogger(__name__)

#: An offer must be attached within this many seconds of being made.
OFFER_TTL_S = 30.0
#: The origin closes a pipe whose edge sent nothing (keepalive, NACK, PLI) for this long.
PIPE_SILENCE_S = 5.0
#: The edge's tick: NACK retries every tick, a keepalive receiver report every ``KEEPALIVE_TICKS`` ticks.
TICK_S = 0.05
KEEPALIVE_TICKS = 10
#: A missing packet is NACKed at most this many times.
NACK_TRIES = 4
#: Receive buffer of a pipe socket (the kernel caps it at net.core.rmem_max).
RECEIVE_BUFFER_BYTES = 1 << 20
#: The one-byte header extension id the pipe uses for the audio level (RFC 6464).
AUDIO_LEVEL_ID = 1
#: Layer demand (simulcast streams): the edge keeps asking for a layer this long after its last local viewer (or
#: pipe) of that layer left, so that a viewer going back and forth between two layers does not make the pipe flap.
LAYER_LINGER_S = 4.0
#: The origin's layer descriptions older than this are not trusted (the edge falls back to what it receives).
LAYER_INFO_TTL_S = 2.0
#: RTCP APP (RFC 3550 section 6.7) name and subtypes of the pipe's layer messages.
APP_NAME = b"HUBL"
APP_DEMAND = 1
APP_LAYERS = 2
_LAYER_ENTRY = struct.Struct("!IHHIB3x")

#: Stream-end reasons after which an edge ends its copy at once; any other reason (the origin node is shutting down,
#: the stream moved to another node) keeps the edge's viewers in the reconnect grace.
FINAL_REASONS = frozenset(("stream_ended", "ended", "unpublished", "publisher_gone"))

_PROFILE = pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80
_RTCP_BYE = 203
_RTCP_APP = 204
_RTCP_RTPFB = 205
_RTCP_PSFB = 206


# -- the offer ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipeTrack:
    """One relayed track: its SSRC on the pipe and the codec the origin's publisher negotiated; for a simulcast
    publisher, one video track per layer, named by its rid."""

    kind: str
    ssrc: int
    mime_type: str
    clock_rate: int
    channels: int | None
    payload_type: int
    parameters: tuple[tuple[str, str], ...]
    rid: str | None = None

    def codec(self) -> RTCRtpCodecParameters:
        params: dict[str, str | int | None] = dict(self.parameters)
        return RTCRtpCodecParameters(
            mimeType=self.mime_type,
            clockRate=self.clock_rate,
            channels=self.channels,
            payloadType=self.payload_type,
            parameters=params,
        )

    @classmethod
    def of(cls, kind: str, ssrc: int, codec: RTCRtpCodecParameters, rid: str | None = None) -> PipeTrack:
        assert codec.payloadType is not None
        params = tuple(sorted((str(k), str(v)) for k, v in codec.parameters.items()))
        return cls(kind, ssrc, codec.mimeType, codec.clockRate, codec.channels, codec.payloadType, params, rid)


@dataclass(frozen=True, slots=True)
class PipeOffer:
    stream_id: str
    pipe_id: str
    host: str
    port: int
    nonce: str
    expires_at: float
    tracks: tuple[PipeTrack, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, label: bytes, *parts: str) -> bytes:
    message = label + b"\x00" + b"\x00".join(p.encode() for p in parts)
    return hmac.new(secret.encode(), message, hashlib.sha256).digest()


def encode_offer(offer: PipeOffer, secret: str) -> str:
    """``v1.<payload>.<HMAC-SHA256 of payload>``, ASCII, for any control channel (HTTP body, Redis, a pipe)."""
    body = {
        "s": offer.stream_id,
        "p": offer.pipe_id,
        "h": offer.host,
        "o": offer.port,
        "n": offer.nonce,
        "e": offer.expires_at,
        "t": [
            [t.kind, t.ssrc, t.mime_type, t.clock_rate, t.channels, t.payload_type, t.parameters, t.rid]
            for t in offer.tracks
        ],
    }
    payload = _b64(json.dumps(body, separators=(",", ":")).encode())
    return f"v1.{payload}.{_b64(_mac(secret, b'hub-relay-offer', payload))}"


def decode_offer(token: str, secret: str, now: float | None = None) -> PipeOffer:
    """Verify and parse an offer. ``InvalidRelayOfferError`` for anything forged, expired or malformed."""
    if not isinstance(token, str) or len(token) > 8192:
        raise InvalidRelayOfferError("the relay offer is not a token")
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != "v1":
        raise InvalidRelayOfferError("the relay offer is malformed")
    try:
        signature = _unb64(parts[2])
    except ValueError:
        raise InvalidRelayOfferError("the relay offer is malformed") from None
    if not hmac.compare_digest(signature, _mac(secret, b"hub-relay-offer", parts[1])):
        raise InvalidRelayOfferError("the relay offer's signature does not match this cluster's secret")
    try:
        body = json.loads(_unb64(parts[1]))
        tracks = tuple(_track(*entry) for entry in body["t"])
        offer = PipeOffer(
            str(body["s"]), str(body["p"]), str(body["h"]), int(body["o"]), str(body["n"]), float(body["e"]), tracks
        )
    except (ValueError, KeyError, TypeError):
        raise InvalidRelayOfferError("the relay offer is malformed") from None
    if offer.expires_at < (time.time() if now is None else now):
        raise InvalidRelayOfferError("the relay offer expired")
    if not offer.tracks or not all(t.kind in ("audio", "video") for t in offer.tracks):
        raise InvalidRelayOfferError("the relay offer carries no usable track")
    return offer


def _track(
    kind: Any, ssrc: Any, mime: Any, rate: Any, channels: Any, pt: Any, params: Any, rid: Any = None
) -> PipeTrack:
    if rid is not None and (not isinstance(rid, str) or not 1 <= len(rid) <= 16):
        raise ValueError("bad rid")
    return PipeTrack(
        str(kind),
        int(ssrc),
        str(mime),
        int(rate),
        None if channels is None else int(channels),
        int(pt),
        tuple(map(tuple, params)),
        rid,
    )


def new_nonce() -> str:
    return secrets.token_urlsafe(12)


def pipe_keys(secret: str, pipe_id: str, nonce: str) -> tuple[bytes, bytes]:
    """SRTP master key + salt (30 octets) for origin → edge and for edge → origin."""
    return (
        _mac(secret, b"hub-relay-srtp-o2e", pipe_id, nonce)[:30],
        _mac(secret, b"hub-relay-srtp-e2o", pipe_id, nonce)[:30],
    )


def _session(key: bytes, outbound: bool) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(
        key=key,
        ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND if outbound else pylibsrtp.Policy.SSRC_ANY_INBOUND,
        srtp_profile=_PROFILE,
    )
    policy.allow_repeat_tx = True  # retransmissions reuse the original sequence number
    policy.window_size = 1024
    return pylibsrtp.Session(policy)


def _bye(ssrc: int, reason: str) -> bytes:
    """RTCP BYE with a reason (RFC 3550 section 6.6)."""
    text = reason.encode()[:255]
    body = struct.pack("!I", ssrc) + bytes((len(text),)) + text
    body += bytes(-len(body) % 4)
    return struct.pack("!BBH", 0x81, _RTCP_BYE, len(body) // 4) + body


def _bye_reason(data: bytes) -> str | None:
    """The reason of the first BYE in a compound RTCP packet ("" without one), None if there is no BYE."""
    pos = 0
    while pos + 4 <= len(data):
        first, packet_type, length = struct.unpack_from("!BBH", data, pos)
        end = pos + 4 + length * 4
        if packet_type == _RTCP_BYE:
            at = pos + 4 + 4 * (first & 0x1F)
            if at < end and at < len(data):
                size = data[at]
                return data[at + 1 : at + 1 + size].decode(errors="replace")
            return ""
        pos = end
    return None


def _app(ssrc: int, subtype: int, data: bytes) -> bytes:
    """An RTCP APP packet named ``APP_NAME`` (the data padded to 32 bits)."""
    data += bytes(-len(data) % 4)
    body = struct.pack("!I", ssrc) + APP_NAME + data
    return struct.pack("!BBH", 0x80 | subtype, _RTCP_APP, len(body) // 4) + body


def _app_messages(data: bytes) -> list[tuple[int, bytes]]:
    """(subtype, data) of each of our APP packets in a compound RTCP packet; malformed ones are skipped."""
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos + 4 <= len(data):
        first, packet_type, length = struct.unpack_from("!BBH", data, pos)
        end = pos + 4 + length * 4
        if end > len(data):
            break
        if packet_type == _RTCP_APP and length >= 2 and data[pos + 8 : pos + 12] == APP_NAME:
            out.append((first & 0x1F, data[pos + 12 : end]))
        pos = end
    return out


@dataclass(frozen=True, slots=True)
class RemoteLayer:
    """One layer as the origin describes it to the edge: the edge offers it to its viewers even while the pipe does
    not carry it (nobody there watches it), with the origin's size and bitrate."""

    width: int
    height: int
    bitrate_bps: int
    available: bool


def encode_demand(ssrc: int, wanted: frozenset[int] | set[int]) -> bytes:
    return _app(ssrc, APP_DEMAND, b"".join(struct.pack("!I", s) for s in sorted(wanted)))


def decode_demand(data: bytes) -> frozenset[int]:
    return frozenset(struct.unpack_from("!I", data, at)[0] for at in range(0, len(data) - 3, 4))


def encode_layers(ssrc: int, layers: dict[int, RemoteLayer]) -> bytes:
    entries = b"".join(
        _LAYER_ENTRY.pack(
            track,
            min(layer.width, 0xFFFF),
            min(layer.height, 0xFFFF),
            min(layer.bitrate_bps, 0xFFFFFFFF),
            1 if layer.available else 0,
        )
        for track, layer in layers.items()
    )
    return _app(ssrc, APP_LAYERS, entries)


def decode_layers(data: bytes) -> dict[int, RemoteLayer]:
    out: dict[int, RemoteLayer] = {}
    for at in range(0, len(data) - _LAYER_ENTRY.size + 1, _LAYER_ENTRY.size):
        track, width, height, bitrate, flags = _LAYER_ENTRY.unpack_from(data, at)
        out[track] = RemoteLayer(width, height, bitrate, bool(flags & 1))
    return out


def _is_rtcp(data: bytes) -> bool:
    return len(data) >= 8 and 192 <= data[1] <= 223


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Callable[[bytes, Any], None]) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("relay pipe socket error: %s", exc)


async def _bind(host: str, ports: tuple[int, int], remote: tuple[str, int] | None, protocol: _Datagrams) -> Any:
    loop = asyncio.get_running_loop()
    low, high = ports
    candidates = [0] if low == 0 else list(range(low, high + 1))
    if low:
        start = secrets.randbelow(len(candidates))
        candidates = candidates[start:] + candidates[:start]
    for port in candidates:
        try:
            transport, _ = await loop.create_datagram_endpoint(
                lambda: protocol, local_addr=(host, port), remote_addr=remote
            )
        except OSError:
            continue
        sock = transport.get_extra_info("socket")
        if sock is not None:  # room for a burst (a keyframe, a round of retransmissions) while the loop is busy
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER_BYTES)
        return transport
    raise SfuUnavailableError("no relay port is free")


# -- origin side -------------------------------------------------------------------------------------------------


class PipeOut:
    """The origin end: one consumer per track of the stream, all sending through this pipe's socket."""

    def __init__(
        self,
        pipe_id: str,
        stream_id: str,
        consumers: list[Consumer],
        keys: tuple[bytes, bytes],
        on_connected: Callable[[PipeOut], None],
        on_closed: Callable[[PipeOut, str], None],
        on_demand: Callable[[PipeOut, frozenset[int]], None] | None = None,
    ) -> None:
        self.id = pipe_id
        self.stream_id = stream_id
        self.consumers = {c._ssrc: c for c in consumers}
        self._tx = _session(keys[0], outbound=True)
        self._rx = _session(keys[1], outbound=False)
        self._on_connected = on_connected
        self._on_closed = on_closed
        self._on_demand = on_demand
        #: The video tracks (SSRCs) the edge asked for lately; None until it first says (then every track flows).
        self.demand: frozenset[int] | None = None
        self.demands = 0
        self._transport: Any = None
        self._sendto: Callable[[bytes, Any], None] | None = None
        self.address: Any = None
        self.port = 0
        self.created_at = time.monotonic()
        self.last_heard: float | None = None
        self.closed = False
        self.close_reason: str | None = None
        #: Test hook: return True to drop a packet on its way out (after the consumer built it, before SRTP).
        self.drop: Callable[[bytes], bool] | None = None
        self.sent = 0
        self.dropped = 0
        self.rejected = 0
        self.nacks = 0
        self.plis = 0

    async def open(self, host: str, ports: tuple[int, int]) -> int:
        self._transport = await _bind(host, ports, None, _Datagrams(self._datagram))
        self.port = int(self._transport.get_extra_info("sockname")[1])
        self._sendto = self._transport.sendto
        return self.port

    @property
    def connected(self) -> bool:
        return self.address is not None

    def send(self, data: bytes) -> None:
        """The consumers' link: SRTP-protect and send to the edge (hot path)."""
        if self.drop is not None and self.drop(data):
            self.dropped += 1
            return
        self.sent += 1
        self._sendto(self._tx.protect(data), self.address)  # type: ignore[misc]

    def _datagram(self, data: bytes, addr: Any) -> None:
        if self.closed or not _is_rtcp(data):
            return
        try:
            plain = self._rx.unprotect_rtcp(data)
        except pylibsrtp.Error:
            self.rejected += 1  # not from our edge (or replayed): ignored
            return
        self.last_heard = time.monotonic()
        if self.address != addr:
            first = self.address is None
            self.address = addr  # authenticated: latch (or follow a NAT rebinding)
            if first:
                self._on_connected(self)
        reason = _bye_reason(plain)
        if reason is not None:
            self.close("edge_closed")
            return
        for subtype, body in _app_messages(plain):
            if subtype == APP_DEMAND:
                wanted = decode_demand(body) & frozenset(self.consumers)
                self.demands += 1
                if wanted != self.demand:
                    self.demand = wanted
                    if self._on_demand is not None:
                        self._on_demand(self, wanted)
        try:
            packets = RtcpPacket.parse(plain)
        except ValueError:
            return
        for packet in packets:
            if isinstance(packet, RtcpRtpfbPacket) and packet.fmt == 1:
                consumer = self.consumers.get(packet.media_ssrc)
                if consumer is not None:
                    for seq in packet.lost:
                        self.nacks += 1
                        consumer.retransmit(seq & 0xFFFF)
            elif isinstance(packet, RtcpPsfbPacket) and packet.fmt in (1, 4):
                consumer = self.consumers.get(packet.media_ssrc)
                if consumer is not None:
                    self.plis += 1
                    consumer.keyframe_requested()

    def send_layers(self, layers: dict[int, RemoteLayer]) -> None:
        """Describe the stream's layers (by pipe track) to the edge, whether this pipe carries them now or not."""
        if self.closed or self.address is None or self._transport is None or not layers:
            return
        with contextlib.suppress(Exception):
            packet = encode_layers(next(iter(self.consumers)), layers)
            self._transport.sendto(self._tx.protect_rtcp(packet), self.address)

    def close(self, reason: str) -> None:
        """Idempotent: tell the edge why (BYE), close the socket and the pipe's consumers."""
        if self.closed:
            return
        self.closed = True
        self.close_reason = reason
        if self.address is not None and self._transport is not None:
            with contextlib.suppress(Exception):
                self._transport.sendto(self._tx.protect_rtcp(_bye(next(iter(self.consumers), 0), reason)), self.address)
        if self._transport is not None:
            self._transport.close()
        for consumer in list(self.consumers.values()):
            consumer.close(reason)
        self._on_closed(self, reason)

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stream_id": self.stream_id,
            "connected": self.connected,
            "port": self.port,
            "sent": self.sent,
            "dropped_by_test_hook": self.dropped,
            "nacks": self.nacks,
            "retransmits": sum(c.retransmits for c in self.consumers.values()),
            "plis": self.plis,
            "rejected": self.rejected,
            "demands": self.demands,
            "tracks": [c.pipe_stats() for c in self.consumers.values()],
        }


# -- edge side ---------------------------------------------------------------------------------------------------


class _TrackUpstream:
    """A relayed producer's upstream: packets from the pipe, PLI back through it."""

    def __init__(self, pipe: PipeIn, ssrc: int) -> None:
        self._pipe = pipe
        self._ssrc = ssrc

    def feed(self, producer: Producer) -> None:
        self._pipe.feed(self._ssrc, producer)

    def send_pli(self, media_ssrc: int) -> Coroutine[Any, Any, None] | None:
        self._pipe.send_pli(self._ssrc)
        return None

    def loss(self) -> tuple[int, int]:
        return self._pipe.unrepaired, 0

    def remote(self) -> RemoteLayer | None:
        return self._pipe.remote(self._ssrc)


class PipeIn:
    """The edge end: receives the origin's RTP, repairs gaps with NACK, feeds one relayed producer per track."""

    def __init__(
        self,
        offer: PipeOffer,
        keys: tuple[bytes, bytes],
        on_first_packet: Callable[[PipeIn], None],
        on_origin_closed: Callable[[PipeIn, str], None],
    ) -> None:
        self.offer = offer
        self._rx = _session(keys[0], outbound=False)
        self._tx = _session(keys[1], outbound=True)
        self._on_first_packet = on_first_packet
        self._on_origin_closed = on_origin_closed
        self._ssrc = random32()
        self._extensions = HeaderExtensionsMap()
        self._extensions.configure(
            RTCRtpParameters(headerExtensions=[RTCRtpHeaderExtensionParameters(id=AUDIO_LEVEL_ID, uri=URI_AUDIO_LEVEL)])
        )
        self._producers: dict[int, Producer] = {}
        self._nack: dict[int, NackGenerator] = {t.ssrc: NackGenerator() for t in offer.tracks}
        self._tries: dict[tuple[int, int], int] = {}
        self._transport: Any = None
        self._ticker: asyncio.Task[None] | None = None
        self.created_at = time.monotonic()
        self.last_packet_at: float | None = None
        self.closed = False
        #: The origin's description of each video track (layer), and when it came.
        self.layers: dict[int, RemoteLayer] = {}
        self.layers_at = 0.0
        #: Simulcast: the video tracks this edge asks the origin for (None: not said yet, every track flows), and
        #: when each was last needed here.
        self.demand: frozenset[int] | None = None
        self._needed_at: dict[int, float] = {}
        self.layers_added = 0
        self.layers_dropped = 0
        self.received = 0
        self.rejected = 0
        self.nacked = 0
        self.repaired = 0
        self.unrepaired = 0
        self.plis = 0

    def upstream(self, ssrc: int) -> _TrackUpstream:
        return _TrackUpstream(self, ssrc)

    def feed(self, ssrc: int, producer: Producer) -> None:
        self._producers[ssrc] = producer

    async def open(self, host: str) -> None:
        self._transport = await _bind(host, (0, 0), (self.offer.host, self.offer.port), _Datagrams(self._datagram))
        self._send_rtcp(bytes(RtcpRrPacket(ssrc=self._ssrc)))  # hello: the origin latches our address
        self._ticker = asyncio.ensure_future(self._tick())

    def _datagram(self, data: bytes, _addr: Any) -> None:
        if self.closed:
            return
        if _is_rtcp(data):
            try:
                plain = self._rx.unprotect_rtcp(data)
            except pylibsrtp.Error:
                self.rejected += 1
                return
            reason = _bye_reason(plain)
            if reason is not None:
                self._on_origin_closed(self, reason)
                return
            for subtype, body in _app_messages(plain):
                if subtype == APP_LAYERS:
                    self.layers = decode_layers(body)
                    self.layers_at = time.monotonic()
            return
        try:
            plain = self._rx.unprotect(data)
            packet = RtpPacket.parse(plain, self._extensions)
        except (pylibsrtp.Error, ValueError):
            self.rejected += 1
            return
        producer = self._producers.get(packet.ssrc)
        if producer is None:
            return
        self.received += 1
        self.last_packet_at = time.monotonic()
        if self.received == 1:
            self._on_first_packet(self)
        generator = self._nack[packet.ssrc]
        if packet.sequence_number in generator.missing:
            self.repaired += 1
            self._tries.pop((packet.ssrc, packet.sequence_number), None)
        if generator.add(packet):
            self._send_nack(packet.ssrc, generator)
        producer.on_packet(packet)

    def _send_nack(self, ssrc: int, generator: NackGenerator) -> None:
        lost = []
        for seq in sorted(generator.missing):
            key = (ssrc, seq)
            tries = self._tries.get(key, 0)
            if tries >= NACK_TRIES:
                continue
            self._tries[key] = tries + 1
            lost.append(seq)
        if lost:
            self.nacked += len(lost)
            self._send_rtcp(bytes(RtcpRtpfbPacket(fmt=1, ssrc=self._ssrc, media_ssrc=ssrc, lost=lost)))

    def remote(self, ssrc: int) -> RemoteLayer | None:
        """The origin's latest word on this track, unless it is stale."""
        if time.monotonic() - self.layers_at > LAYER_INFO_TTL_S:
            return None
        return self.layers.get(ssrc)

    def want(self, needed: set[int], fallback: int | None, now: float | None = None) -> frozenset[int]:
        """The video tracks the edge's viewers (and its own pipes onwards) are on or switching to now. A track stays
        asked for ``LAYER_LINGER_S`` after it was last needed; with none needed, ``fallback`` (the lowest layer)
        keeps flowing so the next viewer starts at once. A change is sent to the origin at once; a track that stops
        flowing has its keyframe cache dropped here (it would be stale when the track comes back)."""
        now = time.monotonic() if now is None else now
        for ssrc in needed:
            self._needed_at[ssrc] = now
        for ssrc, at in list(self._needed_at.items()):
            if now - at >= LAYER_LINGER_S:
                del self._needed_at[ssrc]
        wanted = frozenset(self._needed_at) or (frozenset((fallback,)) if fallback is not None else frozenset())
        if wanted != self.demand:
            previous = self.demand
            if previous is None:
                previous = frozenset(t.ssrc for t in self.offer.tracks if t.kind == "video")
            for ssrc in previous - wanted:
                self.layers_dropped += 1
                producer = self._producers.get(ssrc)
                if producer is not None:
                    producer.cache.clear()
            self.layers_added += len(wanted - previous)
            self.demand = wanted
            self._send_demand()
        return wanted

    def _send_demand(self) -> None:
        if self.demand is not None:
            self._send_rtcp(encode_demand(self._ssrc, self.demand))

    def send_pli(self, ssrc: int) -> None:
        self.plis += 1
        self._send_rtcp(bytes(RtcpPsfbPacket(fmt=1, ssrc=self._ssrc, media_ssrc=ssrc)))

    def _send_rtcp(self, data: bytes) -> None:
        if self._transport is None or self.closed:
            return
        with contextlib.suppress(Exception):
            self._transport.sendto(self._tx.protect_rtcp(data))

    async def _tick(self) -> None:
        ticks = 0
        while not self.closed:
            await asyncio.sleep(TICK_S)
            ticks += 1
            for ssrc, generator in self._nack.items():
                if generator.missing:
                    self._send_nack(ssrc, generator)
            # forget what can no longer be repaired (the generator dropped it) and count it as lost
            if self._tries:
                alive = {(s, q) for s, g in self._nack.items() for q in g.missing}
                for key in [k for k in self._tries if k not in alive]:
                    del self._tries[key]
                    self.unrepaired += 1
            if ticks % KEEPALIVE_TICKS == 0:
                self._send_rtcp(bytes(RtcpRrPacket(ssrc=self._ssrc)))
                self._send_demand()  # again: an RTCP packet may be lost

    def close(self, reason: str) -> None:
        if self.closed:
            return
        self._send_rtcp(_bye(self._ssrc, reason))
        self.closed = True
        if self._ticker is not None:
            self._ticker.cancel()
        if self._transport is not None:
            self._transport.close()

    def stats(self) -> dict[str, Any]:
        return {
            "pipe_id": self.offer.pipe_id,
            "origin": f"{self.offer.host}:{self.offer.port}",
            "received": self.received,
            "nacked": self.nacked,
            "repaired": self.repaired,
            "unrepaired": self.unrepaired,
            "plis": self.plis,
            "rejected": self.rejected,
            "demand": None if self.demand is None else sorted(self.demand),
            "layers_added": self.layers_added,
            "layers_dropped": self.layers_dropped,
        }


@dataclass(slots=True)
class Relay:
    """An edge's relayed copy of a stream: the pipe and the producers it feeds (one per track)."""

    id: str
    stream_id: str
    app_data: Any
    pipe: PipeIn
    producers: list[Producer]
    started: bool = False

    def stats(self) -> dict[str, Any]:
        return {"id": self.id, "started": self.started, **self.pipe.stats()}
