"""Peer connections as the SFU makes them: ICE servers and host addresses from settings, answers sent after
gathering completes (aiortc does not trickle its own candidates)."""

from __future__ import annotations

from typing import Any

from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransport, RTCPeerConnection, RTCSessionDescription
from aiortc import sdp as aiortc_sdp
from aiortc.exceptions import InternalError, InvalidAccessError, InvalidStateError, OperationError

from sfu import aiortc_hooks
from sfu.errors import IceRestartUnsupportedError, InvalidSdpError
from sfu.sdp import announce
from sfu.settings import SfuSettings
from sfu.trickle import Fragment

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


def remote_ice_credentials(pc: RTCPeerConnection) -> tuple[str, str]:
    """The remote ICE username fragment and password the peer connection runs with (from the applied offer)."""
    try:
        # Both aiortc's serialiser (behind ``remoteDescription``) and its parser raise ValueError on an offer with
        # e.g. a truncated connection address, which setRemoteDescription accepted.
        description = pc.remoteDescription
        if description is None:
            return "", ""
        parsed = aiortc_sdp.SessionDescription.parse(description.sdp)
    except NEGOTIATION_ERRORS as exc:
        raise InvalidSdpError(f"the offer cannot be read: {exc or type(exc).__name__}") from None
    for media in parsed.media:
        if media.ice is not None and media.ice.usernameFragment:
            return media.ice.usernameFragment, media.ice.password or ""
    return "", ""


async def add_remote_candidates(pc: RTCPeerConnection, fragment: Fragment, remote: tuple[str, str]) -> int:
    """Apply a trickle ICE fragment to a running peer connection; returns how many candidates were handed to ICE.

    Everything is checked before anything is applied, so a bad fragment changes nothing. New credentials mean an ICE
    restart, which aiortc cannot do (its ICE agent keeps one username fragment for its life and its DTLS transport
    cannot move to a new agent): :class:`IceRestartUnsupportedError`. mDNS candidates (``*.local``) are skipped: the
    SFU is not on the client's link, and the client's connectivity checks reveal its address anyway (peer-reflexive).
    """
    if (fragment.ufrag is not None and fragment.ufrag != remote[0]) or (
        fragment.pwd is not None and fragment.pwd != remote[1]
    ):
        raise IceRestartUnsupportedError(
            "new ICE credentials ask for an ICE restart, which this server does not support: "
            "POST a new offer (and DELETE this session) instead"
        )
    transceivers = [t for t in pc.getTransceivers() if t.receiver.transport is not None]
    if not transceivers:
        raise InvalidSdpError("this session has no ICE transport to add candidates to")
    plan: list[tuple[RTCIceTransport, Any, bool]] = []
    for media in fragment.media:
        if media.mid is None:
            transceiver = transceivers[0]
        else:
            found = next((t for t in transceivers if t.mid == media.mid), None)
            if found is None:
                raise InvalidSdpError("the SDP fragment names a media section (a=mid) this session does not have")
            transceiver = found
        plan.append((transceiver.receiver.transport.transport, media.candidates, media.end_of_candidates))
    added = 0
    for ice, candidates, end in plan:
        for candidate in candidates:
            if candidate.ip.lower().rstrip(".").endswith(".local"):
                continue
            await ice.addRemoteCandidate(candidate)
            added += 1
        if end:
            await ice.addRemoteCandidate(None)
    return added
