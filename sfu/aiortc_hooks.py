"""Every private aiortc/aioice field the SFU touches, in one place. aiortc is pinned exactly (1.16.0);
``tests/unit/sfu/test_aiortc_hooks.py`` fails loudly if any of these moves.

Ingress: ``RTCRtpReceiver`` hands each packet, after SRTP decryption and RTX unwrapping, to its jitter buffer.
Replacing the jitter buffer with a tap gives the SFU every packet while aiortc keeps sending receiver reports,
NACKs (``NackGenerator``) and REMB upstream. The tap never returns an encoded frame, so the receiver's decoder
thread never gets work and no decoder is ever created.

Egress: an ``RTCRtpSender`` whose track never yields a frame never creates an encoder. Its RTCP handler still
routes the viewer's NACKs to ``_retransmit`` and PLI/FIR to ``_send_keyframe``; both are replaced per instance.
The sender's SR counters are kept current so its sender reports stay truthful. Packets go out through the
sender's DTLS transport's SRTP session and the nominated ICE pair's socket, synchronously.

Simulcast (several SSRCs on one receiver, told apart by rid; see ``sfu/simulcast.py``): aiortc negotiates only the
header extensions of its module-wide list, so the rid extensions are added to one transceiver's negotiated list
between the offer and the answer; its single NACK generator would see the layers' interleaved sequence numbers as
gaps, so it is replaced by one generator per SSRC; RTX of a layer arrives on an SSRC no ``a=ssrc`` line announced,
so the mapping RTX SSRC → layer SSRC is written into the receiver's table once a packet's RepairedRtpStreamId names
the layer.

Transport-wide congestion control (``sfu/twcc.py``): aiortc parses the transport-wide sequence number extension but
neither negotiates it nor the ``transport-cc`` RTCP feedback. For a publisher both are added to the video
transceiver's negotiated lists (as for rid), its receiver's REMB estimator is switched off (the browser's own
send-side estimate, fed with transport-cc feedback, replaces it), and every packet's number and arrival time is
read off the datagram as aioice hands it over, before any SRTP or RTP work (RTX padding probes included). For a
viewer, the DTLS transport's RTCP entry point is wrapped so that transport-cc feedback reaches the consumer's
estimator (aiortc reads it as a NACK addressed to nobody and drops it).

Host candidates: aioice skips 127.0.0.1 when it lists local addresses; ``host_addresses`` overrides the list
for the peer connections created in a context (a ``ContextVar``), leaving every other caller untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import Callable, Coroutine, Iterator
from contextvars import ContextVar
from typing import Any

import aioice.ice
import aiortc.rtcrtpreceiver
import aiortc.rtcrtpsender
from aiortc import (
    RTCDtlsTransport,
    RTCRtpCodecParameters,
    RTCRtpHeaderExtensionParameters,
    RTCRtpReceiver,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.rtcrtpparameters import RTCRtcpFeedback
from aiortc.rtcrtpreceiver import NackGenerator
from aiortc.rtp import RTCP_PSFB_APP, RtcpPsfbPacket, RtpPacket, unpack_remb_fci

from sfu.twcc import URI_TRANSPORT_CC, read_transport_seq

RECEIVER_JITTER_BUFFER = "_RTCRtpReceiver__jitter_buffer"
RECEIVER_REMOTE_STREAMS = "_RTCRtpReceiver__remote_streams"
RECEIVER_SEND_NACK = "_send_rtcp_nack"
RECEIVER_SEND_PLI = "_send_rtcp_pli"
RECEIVER_HANDLE_RTCP = "_handle_rtcp_packet"
RECEIVER_HANDLE_RTP = "_handle_rtp_packet"
RECEIVER_NACK_GENERATOR = "_RTCRtpReceiver__nack_generator"
RECEIVER_RTX_SSRC = "_RTCRtpReceiver__rtx_ssrc"
RECEIVER_REMB_ESTIMATOR = "_RTCRtpReceiver__remote_bitrate_estimator"
RECEIVER_RTCP_SSRC = "_RTCRtpReceiver__rtcp_ssrc"
TRANSCEIVER_CODECS = "_codecs"
DTLS_HANDLE_RTCP = "_handle_rtcp_data"
TRANSCEIVER_HEADER_EXTENSIONS = "_headerExtensions"
SENDER_RETRANSMIT = "_retransmit"
SENDER_SEND_KEYFRAME = "_send_keyframe"
SENDER_HANDLE_RTCP = "_handle_rtcp_packet"
SENDER_PACKET_COUNT = "_RTCRtpSender__packet_count"
SENDER_OCTET_COUNT = "_RTCRtpSender__octet_count"
SENDER_NTP_TIMESTAMP = "_RTCRtpSender__ntp_timestamp"
SENDER_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
SENDER_RTT = "_RTCRtpSender__rtt"
DTLS_TX_SRTP = "_tx_srtp"
ICE_CONNECTION = "_connection"
ICE_NOMINATED = "_nominated"

SendTo = Callable[[bytes], None]

_host_addresses: ContextVar[tuple[str, ...] | None] = ContextVar("sfu_host_addresses", default=None)
_original_get_host_addresses = aioice.ice.get_host_addresses


def _get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
    override = _host_addresses.get()
    if override is not None:
        return list(override)
    return _original_get_host_addresses(use_ipv4=use_ipv4, use_ipv6=use_ipv6)


def install_host_address_override() -> None:
    """Route aioice's host-address lookup through the context variable (idempotent, process-wide)."""
    aioice.ice.get_host_addresses = _get_host_addresses


@contextlib.contextmanager
def host_addresses(addresses: tuple[str, ...]) -> Iterator[None]:
    """Within this context (and tasks started from it), ICE gathers host candidates on ``addresses`` only."""
    install_host_address_override()
    token = _host_addresses.set(addresses if addresses else None)
    try:
        yield
    finally:
        _host_addresses.reset(token)


_codec_objects = {"decoders": 0, "encoders": 0, "installed": 0}


def count_codec_objects() -> None:
    """Count every decoder and encoder aiortc creates in this process from now on (idempotent). A forwarding-only
    process (an SFU worker) must stay at zero; its stats report the count."""
    if _codec_objects["installed"]:
        return
    _codec_objects["installed"] = 1
    receiver_module: Any = aiortc.rtcrtpreceiver
    sender_module: Any = aiortc.rtcrtpsender
    get_decoder = receiver_module.get_decoder
    get_encoder = sender_module.get_encoder

    def counting_decoder(codec: Any) -> Any:
        _codec_objects["decoders"] += 1
        return get_decoder(codec)

    def counting_encoder(codec: Any) -> Any:
        _codec_objects["encoders"] += 1
        return get_encoder(codec)

    receiver_module.get_decoder = counting_decoder
    sender_module.get_encoder = counting_encoder


def codec_objects() -> int:
    """Decoders + encoders created in this process since :func:`count_codec_objects`."""
    return _codec_objects["decoders"] + _codec_objects["encoders"]


class ReceiverTap:
    """Stands in for ``RTCRtpReceiver``'s jitter buffer: every packet goes to ``on_packet``; no frame comes back."""

    __slots__ = ("on_packet",)

    def __init__(self, on_packet: Callable[[RtpPacket], None]) -> None:
        self.on_packet = on_packet

    def add(self, packet: RtpPacket) -> tuple[bool, None]:
        self.on_packet(packet)
        return False, None


def install_receiver_tap(receiver: RTCRtpReceiver, on_packet: Callable[[RtpPacket], None]) -> None:
    if not hasattr(receiver, RECEIVER_JITTER_BUFFER):
        raise RuntimeError("aiortc RTCRtpReceiver has no jitter buffer field: the SFU's ingress hook moved")
    setattr(receiver, RECEIVER_JITTER_BUFFER, ReceiverTap(on_packet))


def count_receiver_nacks(receiver: RTCRtpReceiver, on_nack: Callable[[int], None]) -> None:
    """Call ``on_nack(number_of_lost_packets)`` whenever the receiver NACKs upstream."""
    original = getattr(receiver, RECEIVER_SEND_NACK)

    async def send_nack(media_ssrc: int, lost: list[int]) -> None:
        on_nack(len(lost))
        await original(media_ssrc, lost)

    setattr(receiver, RECEIVER_SEND_NACK, send_nack)


def route_receiver_nacks(receiver: RTCRtpReceiver, on_nack: Callable[[int, int], None]) -> None:
    """Call ``on_nack(media_ssrc, number_of_lost_packets)`` whenever the receiver NACKs upstream (simulcast: the
    SSRC says which layer)."""
    original = getattr(receiver, RECEIVER_SEND_NACK)

    async def send_nack(media_ssrc: int, lost: list[int]) -> None:
        on_nack(media_ssrc, len(lost))
        await original(media_ssrc, lost)

    setattr(receiver, RECEIVER_SEND_NACK, send_nack)


class PerSsrcNackGenerator:
    """Stands in for the receiver's one ``NackGenerator``: one per SSRC, so that the interleaved sequence numbers of
    simulcast layers are not taken for gaps. ``missing`` is the set of the SSRC last added (the receiver reads it
    right after ``add``, for that packet's SSRC)."""

    __slots__ = ("_generators", "missing")

    def __init__(self) -> None:
        self._generators: dict[int, NackGenerator] = {}
        self.missing: set[int] = set()

    def add(self, packet: RtpPacket) -> bool:
        generator = self._generators.get(packet.ssrc)
        if generator is None:
            if len(self._generators) >= 16:  # bounded: a publisher cycling SSRCs cannot grow this
                self._generators.clear()
            generator = self._generators[packet.ssrc] = NackGenerator()
        missed = generator.add(packet)
        self.missing = generator.missing
        return missed


def nack_per_ssrc(receiver: RTCRtpReceiver) -> None:
    """Give a video receiver one NACK generator per SSRC (simulcast)."""
    if getattr(receiver, RECEIVER_NACK_GENERATOR, None) is None:
        raise RuntimeError("aiortc RTCRtpReceiver has no NACK generator: the SFU's simulcast hook moved")
    setattr(receiver, RECEIVER_NACK_GENERATOR, PerSsrcNackGenerator())


def map_rtx(receiver: RTCRtpReceiver, rtx_ssrc: int, media_ssrc: int) -> None:
    """Unwrap RTX arriving on ``rtx_ssrc`` as retransmissions of ``media_ssrc`` (RFC 4588 section 4)."""
    table: dict[int, int] = getattr(receiver, RECEIVER_RTX_SSRC)
    table[rtx_ssrc] = media_ssrc


def rtx_mapped(receiver: RTCRtpReceiver, rtx_ssrc: int) -> bool:
    return rtx_ssrc in getattr(receiver, RECEIVER_RTX_SSRC)


def watch_receiver_packets(receiver: RTCRtpReceiver, before: Callable[[RtpPacket], None]) -> None:
    """Call ``before(packet)`` on every packet the receiver is handed, before RTX unwrapping (the RepairedRtpStreamId
    of an RTX packet is only visible there)."""
    original = getattr(receiver, RECEIVER_HANDLE_RTP)

    async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
        before(packet)
        await original(packet, arrival_time_ms=arrival_time_ms)

    setattr(receiver, RECEIVER_HANDLE_RTP, handle)


def negotiate_header_extension(transceiver: RTCRtpTransceiver, uri: str, extension_id: int) -> None:
    """Add ``uri`` with the offer's ``extension_id`` to what this transceiver negotiated: call it after
    ``setRemoteDescription`` and before ``createAnswer``; the answer then lists it and the transport parses it."""
    negotiated: list[RTCRtpHeaderExtensionParameters] = getattr(transceiver, TRANSCEIVER_HEADER_EXTENSIONS)
    if not any(ext.uri == uri for ext in negotiated):
        negotiated.append(RTCRtpHeaderExtensionParameters(id=extension_id, uri=uri))


def negotiate_transport_cc(transceiver: RTCRtpTransceiver, extension_id: int, *, remb: bool) -> None:
    """Answer with the transport-wide sequence number extension (``extension_id`` from the offer) and
    ``a=rtcp-fb:<pt> transport-cc`` on every non-RTX codec; without ``goog-remb`` unless ``remb``. Call it after
    ``setRemoteDescription`` and before ``createAnswer``."""
    negotiate_header_extension(transceiver, URI_TRANSPORT_CC, extension_id)
    codecs: list[RTCRtpCodecParameters] = getattr(transceiver, TRANSCEIVER_CODECS)
    for codec in codecs:
        if codec.mimeType.lower().endswith("/rtx"):
            continue
        feedback = [fb for fb in codec.rtcpFeedback if remb or fb.type != "goog-remb"]
        if not any(fb.type == "transport-cc" for fb in feedback):
            feedback.append(RTCRtcpFeedback(type="transport-cc"))
        codec.rtcpFeedback = feedback


def stop_remb(receiver: RTCRtpReceiver) -> None:
    """No REMB from this receiver (and none of its per-packet estimation work)."""
    if not hasattr(receiver, RECEIVER_REMB_ESTIMATOR):
        raise RuntimeError("aiortc RTCRtpReceiver has no REMB estimator field: the SFU's transport-cc hook moved")
    setattr(receiver, RECEIVER_REMB_ESTIMATOR, None)


#: Linux ``SO_TIMESTAMPNS`` (= ``SCM_TIMESTAMPNS``): the kernel stamps each datagram as it arrives (Python's
#: ``socket`` module does not name it).
SO_TIMESTAMPNS = 35
ASYNCIO_TRANSPORT_SOCKET = "_sock"
ICE_PROTOCOLS = "_protocols"
_timespec = struct.Struct("@qq").unpack_from


class ArrivalClock:
    """The arrival time (µs, ``CLOCK_REALTIME``) of the datagram being handled: the kernel's stamp when the socket
    gives one, else the time it was read."""

    __slots__ = ("last_us",)

    def __init__(self) -> None:
        self.last_us = 0

    def take(self) -> int:
        stamp = self.last_us
        self.last_us = 0
        return stamp if stamp else time.time_ns() // 1000


class _StampingSocket:
    """Stands in for an asyncio datagram transport's socket: ``recvfrom`` is ``recvmsg`` with the kernel's arrival
    stamp kept aside; everything else goes to the socket."""

    __slots__ = ("_clock", "_sock")

    def __init__(self, sock: socket.socket, clock: ArrivalClock) -> None:
        self._sock = sock
        self._clock = clock

    def recvfrom(self, size: int) -> tuple[bytes, Any]:
        data, ancillary, _flags, address = self._sock.recvmsg(size, 64)
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                seconds, nanoseconds = _timespec(payload)
                self._clock.last_us = seconds * 1_000_000 + nanoseconds // 1000
        return data, address

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


def stamp_arrivals(dtls: RTCDtlsTransport, clock: ArrivalClock) -> None:
    """Kernel arrival stamps for the datagrams of this transport's ICE sockets (call once they are gathered): a
    busy event loop reads a burst late and one datagram per turn, which would otherwise look like a queue on the
    link. Sockets that refuse the option (or a loop without ``_sock``) fall back to the read time."""
    connection = getattr(dtls.transport, ICE_CONNECTION)
    for protocol in getattr(connection, ICE_PROTOCOLS):
        transport = getattr(protocol, "transport", None)
        sock = getattr(transport, ASYNCIO_TRANSPORT_SOCKET, None)
        if not isinstance(sock, socket.socket):
            continue
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        except OSError:
            continue
        setattr(transport, ASYNCIO_TRANSPORT_SOCKET, _StampingSocket(sock, clock))


def record_transport_cc(
    dtls: RTCDtlsTransport, extension_id: int, clock: ArrivalClock, record: Callable[[tuple[int, int]], None]
) -> None:
    """Call ``record((transport-wide sequence number, arrival µs))`` for every RTP packet that carries one, as the
    datagram comes off the socket (aioice's protocol callback), with ``clock``'s arrival time (see
    :func:`stamp_arrivals`), before any of aiortc's SRTP and RTP work."""
    connection = getattr(dtls.transport, ICE_CONNECTION)
    original = connection.data_received

    def data_received(data: bytes, component: int) -> None:
        seq = read_transport_seq(data, extension_id)
        stamp = clock.take()
        if seq is not None:
            record((seq, stamp))
        original(data, component)

    connection.data_received = data_received


def receiver_rtcp_ssrc(receiver: RTCRtpReceiver) -> int | None:
    ssrc: int | None = getattr(receiver, RECEIVER_RTCP_SSRC)
    return ssrc


def receiver_media_ssrc(receiver: RTCRtpReceiver) -> int:
    """An SSRC the receiver gets media on (0 before any arrived)."""
    streams: dict[int, Any] = getattr(receiver, RECEIVER_REMOTE_STREAMS)
    return next(iter(streams), 0)


async def send_rtcp(dtls: RTCDtlsTransport, data: bytes) -> None:
    """Send one serialized RTCP message (SRTCP-protected) on the transport; nothing if it is not connected."""
    with contextlib.suppress(ConnectionError):
        await dtls._send_rtp(data)


def watch_transport_rtcp(dtls: RTCDtlsTransport, on_rtcp: Callable[[bytes], None]) -> None:
    """Call ``on_rtcp(datagram)`` with every (decrypted) RTCP datagram the transport receives, before aiortc parses
    it. Once per transport."""
    if not hasattr(dtls, DTLS_HANDLE_RTCP):
        raise RuntimeError("aiortc RTCDtlsTransport has no RTCP handler: the SFU's transport-cc hook moved")
    original = getattr(dtls, DTLS_HANDLE_RTCP)

    async def handle(data: bytes) -> None:
        on_rtcp(data)
        await original(data)

    setattr(dtls, DTLS_HANDLE_RTCP, handle)


def send_pli(receiver: RTCRtpReceiver, media_ssrc: int) -> Coroutine[Any, Any, None]:
    """A PLI (RFC 4585 section 6.3.1) from the receiver to the publisher."""
    result: Coroutine[Any, Any, None] = getattr(receiver, RECEIVER_SEND_PLI)(media_ssrc)
    return result


def receiver_loss(receiver: RTCRtpReceiver, ssrc: int | None = None) -> tuple[int, int]:
    """(packets lost, jitter) summed over the receiver's remote streams (or of the one ``ssrc``), as its receiver
    reports state them."""
    streams: dict[int, Any] = getattr(receiver, RECEIVER_REMOTE_STREAMS)
    lost = 0
    jitter = 0
    for stream_ssrc, stream in streams.items():
        if stream.max_seq is not None and (ssrc is None or stream_ssrc == ssrc):
            lost += max(0, stream.packets_lost)
            jitter = max(jitter, stream.jitter)
    return lost, jitter


def hook_sender(
    sender: RTCRtpSender,
    *,
    retransmit: Callable[[int], Coroutine[Any, Any, None]],
    keyframe_requested: Callable[[], None],
    report_received: Callable[[int, int], None],
    remb_received: Callable[[int], None] | None = None,
) -> None:
    """Route the viewer's NACKs, PLI/FIR, receiver reports (lost, fraction lost) and REMB naming this sender's SSRC
    (bits per second) to the consumer."""
    for name in (SENDER_RETRANSMIT, SENDER_SEND_KEYFRAME, SENDER_HANDLE_RTCP):
        if not hasattr(sender, name):
            raise RuntimeError(f"aiortc RTCRtpSender has no {name}: the SFU's egress hook moved")
    original_rtcp = getattr(sender, SENDER_HANDLE_RTCP)
    ssrc = sender._ssrc

    async def handle_rtcp(packet: Any) -> None:
        for report in getattr(packet, "reports", ()):
            if report.ssrc == ssrc:
                report_received(report.packets_lost, report.fraction_lost)
        if remb_received is not None and isinstance(packet, RtcpPsfbPacket) and packet.fmt == RTCP_PSFB_APP:
            try:
                bitrate, ssrcs = unpack_remb_fci(packet.fci)
            except ValueError:
                bitrate, ssrcs = 0, []
            if ssrc in ssrcs:
                remb_received(bitrate)
        await original_rtcp(packet)

    setattr(sender, SENDER_RETRANSMIT, retransmit)
    setattr(sender, SENDER_SEND_KEYFRAME, keyframe_requested)
    setattr(sender, SENDER_HANDLE_RTCP, handle_rtcp)


def sender_state(sender: RTCRtpSender) -> dict[str, Any]:
    """The sender's instance dict: the consumer writes the SR counters into it directly (hot path)."""
    for name in (SENDER_PACKET_COUNT, SENDER_OCTET_COUNT, SENDER_NTP_TIMESTAMP, SENDER_RTP_TIMESTAMP):
        if name not in sender.__dict__:
            raise RuntimeError(f"aiortc RTCRtpSender has no {name}: the SFU's sender-report hook moved")
    return sender.__dict__


def sender_rtt(sender: RTCRtpSender) -> float | None:
    rtt: float | None = getattr(sender, SENDER_RTT)
    return rtt


def srtp_sender(dtls: RTCDtlsTransport, on_error: Callable[[BaseException], None]) -> SendTo | None:
    """A synchronous ``send(rtp_bytes)``: SRTP-protect with the DTLS transport's keys, then ``sendto`` on the
    nominated ICE pair's socket. None if the transport is not connected yet.

    aiortc's own path (``RTCDtlsTransport._send_rtp``) is three awaits deep per packet; this is the same work
    without the coroutine layers. A TURN-relayed pair (rare for a server) falls back to aiortc's path.
    """
    srtp = getattr(dtls, DTLS_TX_SRTP, None)
    connection = getattr(dtls.transport, ICE_CONNECTION)
    pair = getattr(connection, ICE_NOMINATED).get(1)
    if srtp is None or pair is None:
        return None
    protect = srtp.protect
    protocol = pair.protocol
    address = pair.remote_addr
    if isinstance(protocol, aioice.ice.StunProtocol) and protocol.transport is not None:
        sendto = protocol.transport.sendto

        def send(data: bytes) -> None:
            sendto(protect(data), address)

        return send

    pending: set[asyncio.Future[None]] = set()

    def send_slow(data: bytes) -> None:
        future = asyncio.ensure_future(dtls._send_rtp(data))
        pending.add(future)
        future.add_done_callback(_settle(pending, on_error))

    return send_slow


def _settle(
    pending: set[asyncio.Future[None]], on_error: Callable[[BaseException], None]
) -> Callable[[asyncio.Future[None]], None]:
    def done(future: asyncio.Future[None]) -> None:
        pending.discard(future)
        if not future.cancelled() and future.exception() is not None:
            on_error(future.exception())  # type: ignore[arg-type]

    return done
