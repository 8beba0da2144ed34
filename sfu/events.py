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
