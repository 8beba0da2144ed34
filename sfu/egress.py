"""Outgoing RTP header extensions, per group of viewers that negotiated the same ids.

RFC 8285 section 4.2 one-byte header: ``0xBEDE``, length in 32-bit words, then ``(id << 4 | len - 1)`` and the
value for each element, zero-padded to a word boundary. The SFU writes what aiortc negotiates: ``mid``
(RFC 8843), ``abs-send-time`` (set at send time, for the viewer's bandwidth estimate) and ``ssrc-audio-level``
(RFC 6464, passed through from the publisher).

Every consumer with the same profile shares one serialized tail (extensions + payload) per packet: the
per-viewer work is only the 12-byte fixed header.
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from sfu.packet import ForwardPacket

URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
URI_ABS_SEND_TIME = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"
URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

#: Seconds between the NTP epoch (1900) and the Unix epoch (1970).
NTP_UNIX_OFFSET = 2208988800

_ONE_BYTE_PROFILE = b"\xbe\xde"


def abs_send_time_now() -> int:
    """abs-send-time: 6.18 fixed-point seconds of the NTP clock, 24 bits (webrtc.org abs-send-time spec)."""
    return int((time.time() + NTP_UNIX_OFFSET) * 262144.0) & 0xFFFFFF


def ntp_now() -> int:
    """The 64-bit NTP timestamp, as RTCP sender reports carry it (RFC 3550 section 4)."""
    return int((time.time() + NTP_UNIX_OFFSET) * 4294967296.0)


@dataclass(frozen=True, slots=True)
class ExtensionIds:
    mid: int | None = None
    abs_send_time: int | None = None
    audio_level: int | None = None
    #: Transport-wide sequence number (``sfu/twcc.py``): written per viewer, first in the extension block.
    transport_cc: int | None = None


class EgressProfile:
    """Serializes ``extensions + payload`` once per packet for every consumer that shares these ids and mid."""

    __slots__ = ("_abs_id", "_b0", "_head", "_level_id", "_mid_element", "_packet", "_rest", "_tail", "_twcc_id")

    def __init__(self, ids: ExtensionIds, mid: str | None) -> None:
        self._mid_element = b""
        if ids.mid is not None and mid:
            raw = mid.encode("ascii")
            if not 1 <= len(raw) <= 16:
                raise ValueError("mid must be 1 to 16 octets")
            self._mid_element = bytes(((ids.mid << 4) | (len(raw) - 1),)) + raw
        self._abs_id = ids.abs_send_time
        self._level_id = ids.audio_level
        self._twcc_id = ids.transport_cc
        self._packet: ForwardPacket | None = None
        self._tail = b""
        self._head = b""
        self._rest = b""
        self._b0 = 0x80

    def extensions(self, packet: ForwardPacket, abs_send_time: int) -> bytes:
        # the transport-wide sequence number goes first, so that its two octets sit at a fixed offset (5..7)
        body = bytes(((self._twcc_id << 4) | 1, 0, 0)) if self._twcc_id is not None else b""
        body += self._mid_element
        if self._abs_id is not None:
            body += struct.pack("!BI", (self._abs_id << 4) | 2, abs_send_time << 8)[:4]
        if self._level_id is not None and packet.audio_level is not None:
            body += bytes(((self._level_id << 4), packet.audio_level))
        if not body:
            return b""
        pad = -len(body) % 4
        if pad:
            body += bytes(pad)
        return _ONE_BYTE_PROFILE + struct.pack("!H", len(body) // 4) + body

    def tail(self, packet: ForwardPacket, abs_send_time: int) -> tuple[int, bytes]:
        """First header octet (V=2, P, X) and the bytes after the fixed header, cached for the current packet."""
        if packet is not self._packet:
            ext = self.extensions(packet, abs_send_time)
            self._b0 = 0x80 | (0x20 if packet.padded else 0) | (0x10 if ext else 0)
            self._tail = ext + packet.payload
            self._packet = packet
            self._head = b""
        return self._b0, self._tail

    def split_tail(self, packet: ForwardPacket, abs_send_time: int) -> tuple[int, bytes, bytes]:
        """For viewers with a transport-wide sequence number: the first header octet and the tail cut around the
        number's two octets (the viewer's own go in between). Cached per packet like :meth:`tail`."""
        if packet is not self._packet:
            self.tail(packet, abs_send_time)
            self._head = self._tail[:5]
            self._rest = self._tail[7:]
        elif not self._head:
            self._head = self._tail[:5]
            self._rest = self._tail[7:]
        return self._b0, self._head, self._rest

    def build(self, packet: ForwardPacket, prefix: bytes) -> tuple[int, bytes]:
        """Uncached: extensions, ``prefix`` (the RTX original sequence number), payload. For retransmissions."""
        ext = self.extensions(packet, abs_send_time_now())
        b0 = 0x80 | (0x20 if packet.padded else 0) | (0x10 if ext else 0)
        return b0, ext + prefix + packet.payload


class ProfileTable:
    """Profiles shared by the consumers of one producer, keyed by (ids, mid)."""

    __slots__ = ("_profiles",)

    def __init__(self) -> None:
        self._profiles: dict[tuple[ExtensionIds, str | None], EgressProfile] = {}

    def get(self, ids: ExtensionIds, mid: str | None) -> EgressProfile:
        key = (ids, mid)
        profile = self._profiles.get(key)
        if profile is None:
            profile = self._profiles[key] = EgressProfile(ids, mid)
        return profile
