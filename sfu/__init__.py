"""The media plane: a selective forwarding unit on aiortc. Publisher RTP in, rewritten RTP out, no codecs.

Public API: the :class:`Sfu` protocol, served in-process by :class:`SfuService` or by worker processes
(:class:`SfuWorkerPool`), :class:`SfuSettings`, the events in
``sfu.events`` and the errors in ``sfu.errors``. Imports only ``core`` and aiortc/av/aioice/pylibsrtp.
"""

from __future__ import annotations

from sfu.api import Sfu
from sfu.errors import (
    AlreadyPublishingError,
    InvalidLayerPreferenceError,
    InvalidRelayOfferError,
    InvalidSdpError,
    SdpTooLargeError,
    SessionNotFoundError,
    SfuUnavailableError,
    StreamNotLiveError,
    TooManyPendingSessionsError,
    TranscodingFullError,
)
from sfu.events import (
    ConsumerClosed,
    ProducerClosed,
    PublisherStarted,
    PublisherStopped,
    RelayStarted,
    RelayStopped,
    SessionClosed,
    SfuEvent,
    StreamStatsSampled,
    ViewerConnected,
)
from sfu.service import SfuService
from sfu.settings import SfuSettings
from sfu.thumbnail import KeyframeSnapshot, RenderedThumbnail, ThumbnailError, render_thumbnail
from sfu.workers import SfuWorkerPool

__all__ = [
    "AlreadyPublishingError",
    "ConsumerClosed",
    "InvalidLayerPreferenceError",
    "InvalidRelayOfferError",
    "InvalidSdpError",
    "KeyframeSnapshot",
    "ProducerClosed",
    "PublisherStarted",
    "PublisherStopped",
    "RelayStarted",
    "RelayStopped",
    "RenderedThumbnail",
    "SdpTooLargeError",
    "SessionClosed",
    "SessionNotFoundError",
    "Sfu",
    "SfuEvent",
    "SfuService",
    "SfuSettings",
    "SfuUnavailableError",
    "SfuWorkerPool",
    "StreamNotLiveError",
    "StreamStatsSampled",
    "ThumbnailError",
    "TooManyPendingSessionsError",
    "TranscodingFullError",
    "ViewerConnected",
    "render_thumbnail",
]
