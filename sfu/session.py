"""A session is one peer connection: a publisher's (producers) or a viewer's (consumers).

The session id is what the edges hand out (the WHIP/WHEP resource URL). Closing a session closes its peer
connection and its producers or consumers; it is idempotent. A closed session leaves an :class:`EndedSession` behind
for a while, so that a ``DELETE`` arriving after the peer went away still finds (and ends) what it names.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiortc import RTCPeerConnection

from sfu.consumer import Consumer
from sfu.producer import Producer
from sfu.tracks import ForwardedTrack
from sfu.uplink import UplinkFeedback

PUBLISHER = "publisher"
VIEWER = "viewer"


class Session:
    def __init__(self, session_id: str, stream_id: str, role: str, app_data: Any, pc: RTCPeerConnection) -> None:
        self.id = session_id
        self.stream_id = stream_id
        self.role = role
        self.app_data = app_data
        self.pc = pc
        self.created_at = time.monotonic()
        self.connected_at: float | None = None
        self.closed = False
        self.close_reason: str | None = None
        self.producers: list[Producer] = []
        self.consumers: list[Consumer] = []
        self.tracks: list[ForwardedTrack] = []
        #: The peer's ICE username fragment and password, as its offer set them (trickle ICE checks against them).
        self.remote_ice: tuple[str, str] = ("", "")
        #: Candidates the peer trickled so far (PATCH), bounded per session.
        self.trickled = 0
        #: The client keys a viewer still connecting counts against (``SfuSettings.max_pending_per_client``).
        self.pending_keys: tuple[str, ...] = ()
        #: A publisher's transport-cc feedback (``sfu/uplink.py``), when negotiated.
        self.uplink: UplinkFeedback | None = None

    @property
    def connected(self) -> bool:
        return self.connected_at is not None

    def mark_closed(self, reason: str) -> bool:
        """Idempotent; True the first time."""
        if self.closed:
            return False
        self.closed = True
        self.close_reason = reason
        return True

    async def close_peer(self) -> None:
        if self.uplink is not None:
            await self.uplink.close()
        for track in self.tracks:
            track.stop()
        try:
            await self.pc.close()
        except AttributeError:
            # aiortc's close() expects every transceiver to have a transport; an offer refused half-way through
            # setRemoteDescription leaves some without one (found by the SDP fuzz test over WHIP). Stop the
            # transports that exist so no ICE socket outlives the session.
            for transceiver in self.pc.getTransceivers():
                dtls = transceiver.receiver.transport
                if dtls is not None:
                    await dtls.stop()
                    await dtls.transport.stop()

    def stats(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stream_id": self.stream_id,
            "role": self.role,
            "state": self.pc.connectionState,
            "producers": [p.id for p in self.producers],
            "consumers": [c.stats() for c in self.consumers],
        }


@dataclass(frozen=True, slots=True)
class EndedSession:
    """What is remembered of a closed session: enough to answer a late ``DELETE`` for it."""

    session_id: str
    stream_id: str
    role: str
    reason: str
    deleted: bool
    ended_at: float
