"""The SFU's errors. Each has a stable ``code``; edges map them once (HTTP status from ``status``)."""

from __future__ import annotations

from core.errors import ConflictError, InvalidInputError, NotFoundError, PayloadTooLargeError, UnavailableError


class InvalidSdpError(InvalidInputError):
    """The offer cannot be parsed, has no usable codec, or lacks a required track."""

    code = "invalid_sdp"
    status = 400


class SdpTooLargeError(PayloadTooLargeError):
    code = "sdp_too_large"


class StreamNotLiveError(NotFoundError):
    code = "stream_not_live"


class SessionNotFoundError(NotFoundError):
    code = "session_not_found"


class AlreadyPublishingError(ConflictError):
    code = "already_publishing"


class SfuUnavailableError(UnavailableError):
    """The SFU is closed or could not set up the peer connection (ICE gathering, DTLS)."""

    code = "sfu_unavailable"


class IceRestartUnsupportedError(InvalidInputError):
    """A trickle ICE PATCH with new ICE credentials: aiortc cannot restart ICE on a running peer connection, so the
    session answers 422 as RFC 9725 section 4.3.1 asks of a session that trickles but does not restart."""

    code = "ice_restart_unsupported"
    status = 422


class InvalidRelayOfferError(InvalidInputError):
    """A relay offer that is forged (another cluster secret), expired, malformed or for another stream."""

    code = "invalid_relay_offer"
    status = 400
