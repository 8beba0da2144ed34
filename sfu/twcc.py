"""Transport-wide congestion control feedback (draft-holmer-rmcat-transport-wide-cc-extensions-01).

The sender numbers every packet of a transport with one 16-bit *transport-wide sequence number* (an RTP header
extension, URI below); the receiver answers every few tens of milliseconds with an RTPFB message (RFC 4585, PT=205,
FMT=15) that says, for each number since the last answer, whether it arrived and when (section 3.1):

- base sequence number, packet status count (16 bits each), reference time (24-bit signed, multiples of 64 ms),
  feedback packet count (8 bits);
- packet chunks (16 bits each): a *run length* chunk (bit 0 = 0, a 2-bit symbol, a 13-bit run) or a *status
  vector* chunk (bit 0 = 1, then fourteen 1-bit symbols or seven 2-bit symbols);
- one receive delta per received packet, in 250 µs ticks, relative to the previous received packet (the first to
  the reference time): 1 octet unsigned for symbol 1 ("small delta"), 2 octets signed for symbol 2.

Symbols: 0 not received, 1 received with a small delta, 2 received with a large or negative delta.

This module is pure: :class:`ArrivalRecorder` keeps what a receiver saw and builds the feedback; :func:`parse_feedback`
reads one (the SFU as a sender, from its viewers). Times are integer microseconds of any monotonic clock.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

URI_TRANSPORT_CC = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"
RTCP_RTPFB = 205
FMT_TRANSPORT_CC = 15
#: Symbols of the packet status chunks.
NOT_RECEIVED, SMALL_DELTA, LARGE_DELTA = 0, 1, 2
TICK_US = 250
REFERENCE_US = 64_000
#: At most this many sequence numbers in one feedback (a long outage is reported from its last part only).
MAX_STATUS_COUNT = 4096


@dataclass(frozen=True, slots=True)
class Feedback:
    """One parsed feedback: ``arrivals[i]`` is the arrival time (µs, on the receiver's clock, only differences
    between packets of the same feedback and across feedbacks matter) of sequence number ``base + i``, or None."""

    sender_ssrc: int
    media_ssrc: int
    base_seq: int
    feedback_count: int
    arrivals: tuple[int | None, ...]


class ArrivalRecorder:
    """The receiving side: ``record`` every packet's transport-wide sequence number and arrival time (hot path: a
    list append), ``build`` the feedback for everything since the last one."""

    __slots__ = ("_count", "_last_ext", "_next_ext", "pending")

    def __init__(self) -> None:
        #: (sequence number, arrival µs) since the last feedback. ``record`` is ``pending.append`` of a tuple.
        self.pending: list[tuple[int, int]] = []
        self._last_ext: int | None = None
        self._next_ext: int | None = None
        self._count = 0

    def record(self, seq: int, arrival_us: int) -> None:
        self.pending.append((seq, arrival_us))

    def build(self, sender_ssrc: int, media_ssrc: int) -> bytes | None:
        """The RTCP message for the packets recorded since the last call, or None when nothing new arrived. A
        packet arriving after the feedback that already reported its number missing is left out (late)."""
        if not self.pending:
            return None
        pending = self.pending.copy()
        self.pending.clear()  # in place: the hot path holds ``pending.append``
        arrivals: dict[int, int] = {}
        last = self._last_ext
        for seq, at in pending:
            # unwrap: the 16-bit number nearest to the newest seen
            ext = seq + 0x10000 if last is None else last + ((seq - last + 0x8000) & 0xFFFF) - 0x8000
            if last is None or ext > last:
                last = ext
            known = arrivals.get(ext)
            if known is None or at < known:
                arrivals[ext] = at
        self._last_ext = last
        base = self._next_ext
        if base is None:
            base = min(arrivals)
        newest = max(arrivals)
        if newest < base:
            return None
        if newest - base + 1 > MAX_STATUS_COUNT:
            base = newest - MAX_STATUS_COUNT + 1
        self._next_ext = newest + 1
        times = [arrivals.get(ext) for ext in range(base, newest + 1)]
        packet = encode_feedback(sender_ssrc, media_ssrc, base & 0xFFFF, self._count, times)
        self._count = (self._count + 1) & 0xFF
        return packet


def read_transport_seq(data: bytes, extension_id: int) -> int | None:
    """The transport-wide sequence number of a raw (S)RTP packet, or None (RTCP, no such extension). SRTP leaves
    the header and its extensions in the clear (RFC 3711 section 3.1), so this works before decryption. RFC 8285
    one-byte (``0xBEDE``) and two-byte (``0x100x``) forms."""
    if len(data) < 16 or not data[0] & 0x10 or 192 <= data[1] <= 223:
        return None
    pos = 12 + 4 * (data[0] & 0x0F)
    if len(data) < pos + 4:
        return None
    profile = (data[pos] << 8) | data[pos + 1]
    end = pos + 4 + 4 * ((data[pos + 2] << 8) | data[pos + 3])
    pos += 4
    if end > len(data):
        return None
    if profile == 0xBEDE:
        while pos < end:
            head = data[pos]
            if head == 0:
                pos += 1
                continue
            element, size = head >> 4, (head & 0x0F) + 1
            if element == 15:
                return None
            if element == extension_id:
                return (data[pos + 1] << 8) | data[pos + 2] if size == 2 and pos + 3 <= end else None
            pos += 1 + size
    elif profile & 0xFFF0 == 0x1000:
        while pos + 1 < end:
            element = data[pos]
            if element == 0:
                pos += 1
                continue
            size = data[pos + 1]
            if element == extension_id:
                return (data[pos + 2] << 8) | data[pos + 3] if size == 2 and pos + 4 <= end else None
            pos += 2 + size
    return None


def encode_feedback(
    sender_ssrc: int, media_ssrc: int, base_seq: int, feedback_count: int, arrivals: list[int | None]
) -> bytes:
    """One transport-cc feedback message for sequence numbers ``base_seq, base_seq + 1, ...`` (at least one of them
    received). Deltas beyond the 16-bit signed range are clamped."""
    received = [at for at in arrivals if at is not None]
    if not received:
        raise ValueError("a feedback reports at least one received packet")
    reference = received[0] // REFERENCE_US
    previous = reference * REFERENCE_US // TICK_US
    symbols: list[int] = []
    deltas = bytearray()
    for at in arrivals:
        if at is None:
            symbols.append(NOT_RECEIVED)
            continue
        ticks = (at + TICK_US // 2) // TICK_US
        delta = ticks - previous
        if 0 <= delta <= 0xFF:
            symbols.append(SMALL_DELTA)
            deltas.append(delta)
        else:
            delta = max(-0x8000, min(0x7FFF, delta))
            symbols.append(LARGE_DELTA)
            deltas += struct.pack("!h", delta)
        previous += delta
    chunks = _chunks(symbols)
    body = (
        struct.pack(
            "!IIHHI",
            sender_ssrc,
            media_ssrc,
            base_seq & 0xFFFF,
            len(arrivals),
            ((reference & 0xFFFFFF) << 8) | (feedback_count & 0xFF),
        )
        + chunks
        + bytes(deltas)
    )
    padding = -len(body) % 4
    if padding:
        body += bytes(padding - 1) + bytes((padding,))
    first = 0x80 | (0x20 if padding else 0) | FMT_TRANSPORT_CC
    return struct.pack("!BBH", first, RTCP_RTPFB, (len(body) + 4) // 4 - 1) + body


def _chunks(symbols: list[int]) -> bytes:
    out = bytearray()
    i = 0
    n = len(symbols)
    while i < n:
        symbol = symbols[i]
        run = 1
        while i + run < n and symbols[i + run] == symbol and run < 0x1FFF:
            run += 1
        if run >= 14:
            out += struct.pack("!H", (symbol << 13) | run)
            i += run
            continue
        window = symbols[i : i + 14]
        if all(s <= SMALL_DELTA for s in window):
            word = 0x8000
            for k, s in enumerate(window):
                word |= s << (13 - k)
            out += struct.pack("!H", word)
            i += 14
        else:
            word = 0xC000
            for k, s in enumerate(symbols[i : i + 7]):
                word |= s << (12 - 2 * k)
            out += struct.pack("!H", word)
            i += 7
    return bytes(out)


def parse_feedback(data: bytes) -> Feedback:
    """One transport-cc message (the RTCP header included). ValueError if it is not one or is truncated."""
    if len(data) < 20:
        raise ValueError("a transport-cc feedback has at least 20 octets")
    first, packet_type, length = struct.unpack_from("!BBH", data)
    if first >> 6 != 2 or first & 0x1F != FMT_TRANSPORT_CC or packet_type != RTCP_RTPFB:
        raise ValueError("not a transport-cc feedback")
    end = (length + 1) * 4
    if end > len(data):
        raise ValueError("truncated transport-cc feedback")
    if first & 0x20:
        end -= data[end - 1]
    sender, media, base, count, reference_word = struct.unpack_from("!IIHHI", data, 4)
    reference = reference_word >> 8
    if reference & 0x800000:
        reference -= 0x1000000
    symbols: list[int] = []
    pos = 20
    while len(symbols) < count:
        if pos + 2 > end:
            raise ValueError("truncated packet status chunks")
        (word,) = struct.unpack_from("!H", data, pos)
        pos += 2
        if not word & 0x8000:
            symbols += [(word >> 13) & 0x3] * (word & 0x1FFF)
        elif not word & 0x4000:
            symbols += [(word >> (13 - k)) & 0x1 for k in range(14)]
        else:
            symbols += [(word >> (12 - 2 * k)) & 0x3 for k in range(7)]
    del symbols[count:]
    ticks = reference * REFERENCE_US // TICK_US
    arrivals: list[int | None] = []
    for symbol in symbols:
        if symbol == NOT_RECEIVED:
            arrivals.append(None)
            continue
        if symbol == SMALL_DELTA:
            if pos + 1 > end:
                raise ValueError("truncated receive deltas")
            ticks += data[pos]
            pos += 1
        elif symbol == LARGE_DELTA:
            if pos + 2 > end:
                raise ValueError("truncated receive deltas")
            ticks += struct.unpack_from("!h", data, pos)[0]
            pos += 2
        else:
            raise ValueError("reserved packet status symbol")
        arrivals.append(ticks * TICK_US)
    return Feedback(sender, media, base, reference_word & 0xFF, tuple(arrivals))


def split_rtcp(data: bytes) -> list[bytes]:
    """The transport-cc messages inside a (compound) RTCP datagram, each with its header."""
    found: list[bytes] = []
    pos = 0
    while pos + 4 <= len(data):
        first, packet_type, length = struct.unpack_from("!BBH", data, pos)
        size = (length + 1) * 4
        if first >> 6 != 2 or pos + size > len(data):
            break
        if packet_type == RTCP_RTPFB and first & 0x1F == FMT_TRANSPORT_CC:
            found.append(data[pos : pos + size])
        pos += size
    return found
