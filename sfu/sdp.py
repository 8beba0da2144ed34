"""Offer validation and answer inspection. SDP bodies are never logged (they carry ICE credentials).

Parsing uses aiortc's own SDP parser, so what passes here is what ``setRemoteDescription`` will accept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiortc import sdp as aiortc_sdp
from aiortc.codecs import get_capabilities
from aiortc.rtcrtpparameters import RTCRtpCodecCapability, RTCRtpCodecParameters

from sfu.egress import URI_ABS_SEND_TIME, URI_AUDIO_LEVEL, URI_MID, ExtensionIds
from sfu.errors import InvalidSdpError, SdpTooLargeError
from sfu.twcc import URI_TRANSPORT_CC

#: Video codecs the SFU forwards: VP8 (RFC 7741) and H.264 packetization-mode 1 (RFC 6184). Audio: Opus.
FORWARDABLE_VIDEO = ("video/vp8", "video/h264")


@dataclass(frozen=True, slots=True)
class OfferSummary:
    kinds: tuple[str, ...]
    audio: bool
    video: bool
    #: The video section's transport-wide sequence number extension id, when it also offers ``transport-cc``
    #: feedback on a codec (draft-holmer-rmcat-transport-wide-cc-extensions-01); None otherwise.
    transport_cc: int | None = None


def parse_offer(offer_sdp: str, *, max_bytes: int, publishing: bool) -> OfferSummary:
    """Refuse what the SFU cannot serve, with a message the caller can act on."""
    if not isinstance(offer_sdp, str) or not offer_sdp.strip():
        raise InvalidSdpError("the body must be an SDP offer")
    if len(offer_sdp.encode("utf-8", "surrogatepass")) > max_bytes:
        raise SdpTooLargeError(f"the SDP offer is larger than {max_bytes} bytes")
    if not offer_sdp.lstrip().startswith("v=0"):
        raise InvalidSdpError("the body is not an SDP offer (it must start with v=0)")
    try:
        description = aiortc_sdp.SessionDescription.parse(offer_sdp)
    except Exception as exc:  # aiortc's parser trusts its input: any failure in it means a malformed offer
        raise InvalidSdpError(f"the SDP offer cannot be parsed: {type(exc).__name__}") from None
    if any(line.startswith("a=group:") and not line[8:].split() for line in offer_sdp.splitlines()):
        raise InvalidSdpError("the offer has an empty a=group line")
    _check_bundle(description)
    wanted = ("sendonly", "sendrecv") if publishing else ("recvonly", "sendrecv")
    kinds: list[str] = []
    transport_cc: int | None = None
    for media in description.media:
        if media.kind not in ("audio", "video") or media.port == 0:
            continue
        if media.ice is None or not media.ice.usernameFragment or media.dtls is None or not media.dtls.fingerprints:
            raise InvalidSdpError(f"the {media.kind} section lacks ICE credentials or a DTLS fingerprint")
        if media.direction in wanted:
            if media.kind == "video" and "video" not in kinds:
                transport_cc = _transport_cc(media)
            kinds.append(media.kind)
            _check_codecs(media.kind, media.rtp.codecs)
    if "video" not in kinds:
        verb = "send" if publishing else "receive"
        raise InvalidSdpError(f"the offer has no video section that can {verb}")
    return OfferSummary(tuple(kinds), "audio" in kinds, True, transport_cc)


def _transport_cc(media: aiortc_sdp.MediaDescription) -> int | None:
    ids = {ext.uri: ext.id for ext in media.rtp.headerExtensions}
    extension_id = ids.get(URI_TRANSPORT_CC)
    feedback = any(fb.type == "transport-cc" for codec in media.rtp.codecs for fb in codec.rtcpFeedback)
    return extension_id if feedback and isinstance(extension_id, int) and 1 <= extension_id <= 14 else None


def _check_bundle(description: aiortc_sdp.SessionDescription) -> None:
    """A BUNDLE group may only name m-lines the offer has, each once (RFC 9143); aiortc assumes as much."""
    mids = [media.rtp.muxId for media in description.media]
    for group in description.group:
        if group.semantic != "BUNDLE":
            continue
        if not group.items or len(set(group.items)) != len(group.items) or not set(group.items) <= set(mids):
            raise InvalidSdpError("the offer's a=group:BUNDLE names m-lines it does not have")
        # The group's first m-line carries the transport every other one shares (RFC 9143 section 7.2.1); aiortc
        # builds transports only for audio, video and application sections and would bundle the rest onto none.
        tagged = next(media for media in description.media if media.rtp.muxId == group.items[0])
        if tagged.kind not in ("audio", "video", "application"):
            raise InvalidSdpError("the first m-line of the offer's a=group:BUNDLE must be audio, video or application")
    if any(not mid for mid in mids) or len(set(mids)) != len(mids):
        raise InvalidSdpError("every m-line of the offer needs its own a=mid")


def _check_codecs(kind: str, codecs: list[RTCRtpCodecParameters]) -> None:
    names = {c.mimeType.lower() for c in codecs}
    if kind == "video":
        h264_ok = any(
            c.mimeType.lower() == "video/h264" and str(c.parameters.get("packetization-mode", "0")) == "1"
            for c in codecs
        )
        if "video/vp8" not in names and not h264_ok:
            raise InvalidSdpError("the offer has no supported video codec (VP8 or H.264 packetization-mode=1)")
    elif "audio/opus" not in names:
        raise InvalidSdpError("the offer's audio section has no Opus codec")


@dataclass(frozen=True, slots=True)
class Negotiated:
    """What the SFU's answer settled for one m-line."""

    mid: str | None
    codec: RTCRtpCodecParameters
    rtx_payload_type: int | None
    extension_ids: ExtensionIds


def negotiated_media(answer_sdp: str) -> dict[str, Negotiated]:
    """Per kind (first m-line of each kind), the codec, RTX payload type and header extension ids."""
    description = aiortc_sdp.SessionDescription.parse(answer_sdp)
    result: dict[str, Negotiated] = {}
    for media in description.media:
        if media.kind not in ("audio", "video") or media.kind in result or not media.rtp.codecs:
            continue
        codec = media.rtp.codecs[0]
        rtx = next(
            (
                c.payloadType
                for c in media.rtp.codecs
                if c.mimeType.lower().endswith("/rtx") and c.parameters.get("apt") == codec.payloadType
            ),
            None,
        )
        ids = {ext.uri: ext.id for ext in media.rtp.headerExtensions}
        result[media.kind] = Negotiated(
            mid=media.rtp.muxId or None,
            codec=codec,
            rtx_payload_type=rtx,
            extension_ids=ExtensionIds(
                mid=ids.get(URI_MID),
                abs_send_time=ids.get(URI_ABS_SEND_TIME),
                audio_level=ids.get(URI_AUDIO_LEVEL),
                transport_cc=ids.get(URI_TRANSPORT_CC),
            ),
        )
    return result


def codec_preferences(codec: RTCRtpCodecParameters) -> list[RTCRtpCodecCapability]:
    """aiortc's capability entry for exactly this codec and fmtp set, plus RTX for video.

    ``filter_preferred_codecs`` compares parameters for equality; the producer's negotiated parameters are a
    copy of aiortc's own entry, so the match is exact.
    """
    capabilities = get_capabilities(codec.mimeType.split("/")[0]).codecs
    chosen = [
        c
        for c in capabilities
        if c.mimeType.lower() == codec.mimeType.lower()
        and c.clockRate == codec.clockRate
        and c.parameters == codec.parameters
    ]
    if not chosen:
        raise InvalidSdpError(f"{codec.mimeType} is not a codec this SFU can forward")
    if codec.mimeType.lower().startswith("video/"):
        chosen += [c for c in capabilities if c.mimeType.lower() == "video/rtx"]
    return chosen[:2] if codec.mimeType.lower().startswith("video/") else chosen[:1]


_CANDIDATE = re.compile(r"^(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( .*)$")


def announce(answer_sdp: str, nat_map: dict[str, str]) -> str:
    """Rewrite host candidate and connection addresses for NAT 1:1 (bound on LOCAL, reachable on PUBLIC)."""
    if not nat_map:
        return answer_sdp
    lines = []
    for line in answer_sdp.split("\r\n"):
        match = _CANDIDATE.match(line)
        if match and match.group(2) in nat_map:
            line = match.group(1) + nat_map[match.group(2)] + match.group(3)
        elif line.startswith("c=IN IP4 ") and line[9:] in nat_map:
            line = "c=IN IP4 " + nat_map[line[9:]]
        lines.append(line)
    return "\r\n".join(lines)
