"""The media plane: a selective forwarding unit on aiortc. Publisher RTP in, rewritten RTP out, no codecs.

Public API: :class:`SfuService` (the edges' only entry point), :class:`SfuSettings`, the events in
``sfu.events`` and the errors in ``sfu.errors``. Imports only ``core`` and aiortc/av/aioice/pylibsrtp.
"""

from __future__ import annotations

from sfu.errors import (
    AlreadyPublishingError,
    InvalidSdpError,
    SdpTooLargeError,
    SessionNotFoundError,
    SfuUnavailableError,
    StreamNotLiveError,
)
from sfu.events import (
    ConsumerClosed,
    ProducerClosed,
    PublisherStarted,
    PublisherStopped,
    SessionClosed,
    SfuEvent,
    StreamStatsSampled,
)
from sfu.service import SfuService
from sfu.settings import SfuSettings

__all__ = [
    "AlreadyPublishingError",
    "ConsumerClosed",
    "InvalidSdpError",
    "ProducerClosed",
    "PublisherStarted",
    "PublisherStopped",
    "SdpTooLargeError",
    "SessionClosed",
    "SessionNotFoundError",
    "SfuEvent",
    "SfuService",
    "SfuSettings",
    "SfuUnavailableError",
    "StreamNotLiveError",
    "StreamStatsSampled",
]
