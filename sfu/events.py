"""Typed SFU events (past tense, like mediasoup's observer events). Edges react to them; the SFU never waits on them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class SfuEvent:
    stream_id: str


@dataclass(frozen=True, slots=True)
class PublisherStarted(SfuEvent):
    """The stream's publisher is connected and media is flowing (also after a reconnect within the grace period)."""

    session_id: str
    app_data: Any
    reconnected: bool


@dataclass(frozen=True, slots=True)
class PublisherStopped(SfuEvent):
    """The publisher is gone and the grace period passed (or it ended on purpose): the stream is over on this node."""

    session_id: str
    app_data: Any
    reason: str


@dataclass(frozen=True, slots=True)
class ProducerClosed(SfuEvent):
    producer_id: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class ConsumerClosed(SfuEvent):
    consumer_id: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class SessionClosed(SfuEvent):
    """A publisher or viewer peer connection was closed (DELETE, ICE/DTLS failure, timeout, stream over)."""

    session_id: str
    role: str
    app_data: Any
    reason: str


@dataclass(frozen=True, slots=True)
class ViewerConnected(SfuEvent):
    """A viewer's peer connection completed ICE and DTLS: from now on it holds one of the stream's viewer slots."""

    session_id: str
    app_data: Any


@dataclass(frozen=True, slots=True)
class StreamStatsSampled(SfuEvent):
    """Every ``stats_interval_s``: the stream's producers (packets, bytes, bitrate, loss, NACKs, PLIs, cache) and
    its consumers' totals on this node. ``stats`` is a plain dict, the same shape as ``SfuService.stats()``."""

    stats: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RelayStarted(SfuEvent):
    """This node (an edge) receives the stream's media through a relay pipe from its origin."""

    relay_id: str
    app_data: Any


@dataclass(frozen=True, slots=True)
class RelayStopped(SfuEvent):
    """The relay pipe is gone. ``reason``: ``origin_silent`` (no media: the origin died), ``origin_closed:<why>``,
    ``replaced`` (a new origin's offer), ``detached``, ``publisher_here`` (the publisher now publishes on this node),
    or the stream's end reason. Unless the stream ended here, its viewers wait out the reconnect grace."""

    relay_id: str
    app_data: Any
    reason: str


@dataclass(frozen=True, slots=True)
class RecordingSegmentClosed(SfuEvent):
    """A recording's segment file is complete (trailer written, renamed from ``.part``): it plays on its own.
    ``start_s``: its first frame on the recording's timeline; ``duration_s``: first to last frame."""

    recording_id: str
    index: int
    path: str
    start_s: float
    duration_s: float
    size_bytes: int
    video_frames: int
    audio_frames: int


@dataclass(frozen=True, slots=True)
class RecordingStopped(SfuEvent):
    """A recording on this node stopped: asked (``stopped``), the stream ended (its end reason) or ``error``.
    ``dropped_packets``: packets the recording's full queue refused (the viewers got them). ``next_index``: the
    number the next segment would have had."""

    recording_id: str
    reason: str
    dropped_packets: int
    next_index: int
