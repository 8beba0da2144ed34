"""The SFU's settings: plain values handed in by ``hub`` (which reads them from the environment)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SfuSettings:
    #: Host addresses the SFU gathers ICE candidates on. ``"A"`` binds and announces A; ``"LOCAL=PUBLIC"``
    #: binds LOCAL and announces PUBLIC (NAT 1:1). Empty: aioice's own choice (all non-loopback addresses).
    announced_ips: tuple[str, ...] = ()
    #: STUN/TURN servers, in the W3C ``RTCIceServer`` shape. Handed to clients (WHIP/WHEP ``Link`` headers);
    #: the SFU itself uses them only if ``use_ice_servers`` is true (an unreachable STUN server delays every answer).
    ice_servers: tuple[dict[str, Any], ...] = ({"urls": "stun:stun.l.google.com:19302"},)
    use_ice_servers: bool = False
    #: How long viewers are kept after the publisher left, waiting for it to publish again.
    reconnect_grace_s: float = 15.0
    #: At most one upstream keyframe request (PLI) per producer per this interval.
    pli_interval_s: float = 1.0
    #: Ask the publisher for a fresh keyframe when the cached group of pictures is older than this, so that
    #: late joiners replay a short cache (browsers send keyframes only when asked; OBS ignores the request).
    gop_refresh_s: float = 4.0
    #: Upper bound of the keyframe cache (packets since the last keyframe); past it the cache is dropped
    #: until the next keyframe.
    keyframe_cache_packets: int = 2048
    #: Per-producer packet history that answers viewers' NACKs (RTX); 1024 packets ≈ 1.5 s at 6 Mbps.
    nack_history_packets: int = 1024
    #: A publisher's peer that has not connected (ICE + DTLS) within this time is closed.
    connect_timeout_s: float = 20.0
    #: A viewer's peer that has not connected within this time is closed. Viewers still connecting hold no slot of
    #: ``max_viewers_per_stream``; they are bounded by this and by ``max_pending_per_client``.
    pending_timeout_s: float = 10.0
    #: Viewer sessions still connecting per client key (the edges pass an address and, for sockets, the socket).
    max_pending_per_client: int = 3
    #: A publisher that sends no RTP for this long is treated as gone (the grace period starts).
    media_timeout_s: float = 6.0
    #: Offers larger than this are refused.
    max_sdp_bytes: int = 64 * 1024
    #: Connected viewers per stream on this node.
    max_viewers_per_stream: int = 1000
    #: Interval of ``StreamStatsSampled`` events (0: none).
    stats_interval_s: float = 10.0
    #: The cluster secret: relay offers are signed and relay pipes' SRTP keys derived with it. The same on every
    #: node; empty: a random secret of this process (relays between the workers of one pool only).
    relay_secret: str = ""
    #: Relay pipes bind on this address; ``"LOCAL=PUBLIC"`` binds LOCAL and announces PUBLIC in offers.
    relay_address: str = "127.0.0.1"
    #: UDP ports of origin pipe sockets, inclusive; ``(0, 0)``: any free port.
    relay_ports: tuple[int, int] = (0, 0)
    #: Negotiate transport-wide congestion control (transport-cc) with publishers (the SFU sends them feedback, so
    #: browsers find their uplink's bandwidth) and viewers (a per-viewer estimate picks their simulcast layer).
    #: Off: aiortc's REMB to publishers, and viewers' layers follow their preference only.
    transport_cc: bool = True
    #: ``0``: the SFU forwards in the hub's process; ``N``: in N worker processes, each stream in one of them.
    workers: int = 0
    #: Transcoded ladders (``sfu/ladder.py``: lower layers made for a single-layer publisher, per stream, when its
    #: owner turns it on) this node runs at most; each costs one decode and two encodes of the stream (0: none).
    max_transcoded_streams: int = 2

    def __post_init__(self) -> None:
        if self.reconnect_grace_s < 0 or self.pli_interval_s < 0 or self.gop_refresh_s <= 0:
            raise ValueError("SFU intervals must be non-negative (gop refresh positive)")
        if self.pending_timeout_s <= 0:
            raise ValueError("pending_timeout_s must be positive")
        for name in (
            "keyframe_cache_packets",
            "nack_history_packets",
            "max_sdp_bytes",
            "max_viewers_per_stream",
            "max_pending_per_client",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive")
        if self.nack_history_packets & (self.nack_history_packets - 1):
            raise ValueError("nack_history_packets must be a power of two")
        low, high = self.relay_ports
        if not (0 <= low <= high <= 65535) or (low == 0) != (high == 0):
            raise ValueError("relay_ports must be (0, 0) or a range of ports")
        if not self.relay_address or self.relay_address.count("=") > 1:
            raise ValueError(f"bad relay address {self.relay_address!r}")
        for entry in self.announced_ips:
            if not entry or entry.count("=") > 1:
                raise ValueError(f"bad announced address {entry!r}")
        if self.workers < 0:
            raise ValueError("workers must not be negative")
        if self.max_transcoded_streams < 0:
            raise ValueError("max_transcoded_streams must not be negative")

    @property
    def bind_addresses(self) -> tuple[str, ...]:
        return tuple(entry.split("=", 1)[0] for entry in self.announced_ips)

    @property
    def relay_bind(self) -> str:
        return self.relay_address.split("=", 1)[0]

    @property
    def relay_announced(self) -> str:
        return self.relay_address.split("=", 1)[-1]

    @property
    def nat_map(self) -> dict[str, str]:
        """Local address → announced public address, for NAT 1:1 entries."""
        return dict(tuple(entry.split("=", 1)) for entry in self.announced_ips if "=" in entry)  # type: ignore[misc]
