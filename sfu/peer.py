"""Peer connections as the SFU makes them: ICE servers and host addresses from settings, answers sent after
gathering completes (aiortc does not trickle its own candidates)."""

from __future__ import annotations

from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from sfu import aiortc_hooks
from sfu.errors import InvalidSdpError
from sfu.sdp import announce
from sfu.settings import SfuSettings

#: What aiortc raises for an offer it cannot apply. Its SDP handling trusts the remote text, so a malformed offer
#: can also surface as a KeyError, IndexError, TypeError, AttributeError or StopIteration from deep inside: those
#: are the offer's fault too, never a server error.
NEGOTIATION_ERRORS = (
    ValueError,
    OperationError,
    InvalidAccessError,
    InvalidStateError,
    InternalError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    AssertionError,
    StopIteration,
)


def ice_servers(servers: tuple[dict[str, Any], ...]) -> list[RTCIceServer]:
    result = []
    for server in servers:
        urls = server.get("urls")
        if not urls:
            continue
        result.append(RTCIceServer(urls=urls, username=server.get("username"), credential=server.get("credential")))
    return result


def create_peer(settings: SfuSettings) -> RTCPeerConnection:
    servers = ice_servers(settings.ice_servers) if settings.use_ice_servers else []
    return RTCPeerConnection(RTCConfiguration(iceServers=servers))


async def apply_offer(pc: RTCPeerConnection, offer_sdp: str) -> None:
    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
    except NEGOTIATION_ERRORS as exc:
        raise InvalidSdpError(f"the offer cannot be applied: {exc or type(exc).__name__}") from None


async def make_answer(pc: RTCPeerConnection, settings: SfuSettings) -> str:
    """Create the answer and gather candidates on the configured host addresses; return the full answer SDP."""
    with aiortc_hooks.host_addresses(settings.bind_addresses):
        try:
            answer = await pc.createAnswer()
            await pc.setLocalDescription(answer)
        except NEGOTIATION_ERRORS as exc:
            raise InvalidSdpError(f"no answer can be made for this offer: {exc or type(exc).__name__}") from None
    return announce(pc.localDescription.sdp, settings.nat_map)
