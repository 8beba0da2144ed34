"""The SFU's view of one ingress RTP packet: what every consumer needs to rewrite and send it, nothing more.

One ``ForwardPacket`` is made per packet received (never per viewer); consumers share it.
"""

from __future__ import annotations

from aiortc.rtp import RtpPacket


class ForwardPacket:
    __slots__ = ("audio_level", "keyframe", "marker", "padded", "payload", "received_at", "seq", "ts")

    def __init__(
        self,
        seq: int,
        ts: int,
        marker: int,
        payload: bytes,
        padded: bool,
        audio_level: int | None,
        keyframe: bool,
        received_at: float,
    ) -> None:
        self.seq = seq
        self.ts = ts
        self.marker = marker
        #: Payload, followed by the original padding if the publisher padded (RFC 3550 section 5.1, P bit).
        self.payload = payload
        self.padded = padded
        #: The raw ssrc-audio-level octet (RFC 6464: V bit and level), if the publisher sent one.
        self.audio_level = audio_level
        #: True on the first packet of a keyframe (VP8) or on a packet carrying an IDR/SPS (H.264).
        self.keyframe = keyframe
        self.received_at = received_at

    @classmethod
    def from_rtp(cls, packet: RtpPacket, keyframe: bool, received_at: float) -> ForwardPacket:
        payload = packet.payload
        padded = packet.padding_size > 0
        if padded:
            # Keep the padding: a padding-only packet still occupies a sequence number, and dropping it would
            # open a gap the viewer would NACK in vain. aiortc strips it on parse; put it back.
            payload = payload + bytes(packet.padding_size - 1) + bytes((packet.padding_size,))
        level = packet.extensions.audio_level
        audio_level = None if level is None else ((0x80 if level[0] else 0) | (level[1] & 0x7F))
        return cls(
            packet.sequence_number,
            packet.timestamp,
            packet.marker,
            payload,
            padded,
            audio_level,
            keyframe,
            received_at,
        )


class PacketHistory:
    """The last N packets of a producer by sequence number: the store every consumer answers NACKs from.

    aiortc's own sender history is 128 packets (``RTP_HISTORY_SIZE``), ~0.2 s of a 6 Mbps stream; this one is
    sized by the ``nack_history_packets`` setting. Consumers map their outgoing sequence numbers back to the
    producer's, so one history serves every viewer of the producer.
    """

    __slots__ = ("_mask", "_slots")

    def __init__(self, size: int) -> None:
        if size < 1 or size & (size - 1):
            raise ValueError("history size must be a power of two")
        self._mask = size - 1
        self._slots: list[ForwardPacket | None] = [None] * size

    def put(self, packet: ForwardPacket) -> None:
        self._slots[packet.seq & self._mask] = packet

    def get(self, seq: int) -> ForwardPacket | None:
        packet = self._slots[seq & self._mask]
        if packet is not None and packet.seq == seq:
            return packet
        return None

    def clear(self) -> None:
        self._slots = [None] * len(self._slots)


class KeyframeCache:
    """The packets since the last keyframe, in arrival order: what a late joiner replays to decode at once.

    Bounded: past ``max_packets`` the cache is dropped until the next keyframe (joiners then wait for it).
    """

    __slots__ = ("_max", "keyframe_ts", "packets", "started_at")

    def __init__(self, max_packets: int) -> None:
        self._max = max_packets
        self.packets: list[ForwardPacket] = []
        self.keyframe_ts: int | None = None
        self.started_at = 0.0

    @property
    def valid(self) -> bool:
        return bool(self.packets)

    def is_new_keyframe(self, packet: ForwardPacket) -> bool:
        """A keyframe packet of a picture other than the cached one starts a new group of pictures."""
        return packet.keyframe and (packet.ts != self.keyframe_ts or not self.packets)

    def start(self, packet: ForwardPacket, now: float) -> None:
        self.packets = [packet]
        self.keyframe_ts = packet.ts
        self.started_at = now

    def add(self, packet: ForwardPacket) -> bool:
        """Append a packet of the current group. False if the cache overflowed and was dropped."""
        packets = self.packets
        if not packets:
            return True
        packets.append(packet)
        if len(packets) > self._max:
            self.clear()
            return False
        return True

    def clear(self) -> None:
        self.packets = []
        self.keyframe_ts = None
