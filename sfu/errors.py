"""The SFU's errors. Each has a stable ``code``; edges map them once (HTTP status from ``status``)."""

from __future__ import annotations

from typing import Any

from core.errors import (
    ConflictError,
    HubError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
    UnavailableError,
)


class InvalidSdpError(InvalidInputError):
    """The offer cannot be parsed, has no usable codec, or lacks a required track."""

    code = "invalid_sdp"
    status = 400


class InvalidSimulcastError(InvalidSdpError):
    """A malformed ``a=rid`` or ``a=simulcast`` line (RFC 8851, RFC 8853), or one that contradicts another."""

    code = "invalid_simulcast"


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


class TranscodingFullError(SfuUnavailableError):
    """This node already runs as many transcoded ladders as ``max_transcoded_streams`` allows."""

    code = "transcoding_full"


class TooManyPendingSessionsError(HubError):
    """A client (an address, a socket) already has as many viewer sessions still connecting as it may have."""

    code = "too_many_pending_sessions"
    status = 429

    def __init__(self, message: str, *, retry_after_s: float = 5.0, **extra: Any) -> None:
        super().__init__(message, retry_after_s=round(retry_after_s, 3), **extra)
        self.retry_after_s = retry_after_s


class IceRestartUnsupportedError(InvalidInputError):
    """A trickle ICE PATCH with new ICE credentials: aiortc cannot restart ICE on a running peer connection, so the
    session answers 422 as RFC 9725 section 4.3.1 asks of a session that trickles but does not restart."""

    code = "ice_restart_unsupported"
    status = 422


class InvalidRelayOfferError(InvalidInputError):
    """A relay offer that is forged (another cluster secret), expired, malformed or for another stream."""

    code = "invalid_relay_offer"
    status = 400


class InvalidLayerPreferenceError(InvalidInputError):
    """A simulcast layer preference other than auto/high/medium/low, or a screen size that is not one."""

    code = "invalid_layer_preference"
    status = 400
