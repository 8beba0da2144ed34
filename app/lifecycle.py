"""The stream lifecycle, one for both edges, driven by the SFU's events:

    publish (WHIP or ``rtc:publish``) → live → publisher lost → grace → resumed, or ended
    end from anywhere (owner, admin, suspension, WHIP DELETE, ``rtc:close``) → ended, media stopped

- **Publish.** ``publish`` hands the offer to the SFU and marks the stream live once the SFU accepted it (both edges;
  idempotent). ``PublisherStarted`` (media flowing, or flowing again after a reconnect) marks it live too; for a
  stream that ended meanwhile it stops the media instead.
- **One grace timer: the SFU router's** (``HUB_SFU_RECONNECT_GRACE_S``). A publisher is lost when its peer fails or
  stops sending, or when its signaling connection goes away (``publisher_disconnected`` drops the media session as
  if the peer had failed). The router keeps its viewers for the grace period; a new publish within it resumes the
  same viewer streams; when it runs out the SFU reports ``PublisherStopped`` and the stream ends
  (``publisher_left``) — unless ``PublisherPresence`` says the publisher is back on another node.
- A publisher whose media never started (its peer never connected) showed nothing to anyone: when its session
  closes and no other publisher took over, the stream ends at once.
- **End.** ``end`` marks the stream ended (``StreamEnded`` on the bus: the rooms hear ``stream:ended``). Every
  ``StreamEnded``, whoever published it, stops the stream's media on this node's SFU.

For a cluster (issue 12): pass a ``PublisherPresence`` that knows other nodes, and call ``ended_elsewhere`` when
another node ended a stream. Nothing else here assumes a single node.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

from core.errors import NotFoundError
from core.events import EventBus, StreamEnded
from core.ids import StreamId
from rooms.errors import StreamEndedError
from rooms.models import Stream
from rooms.streams import StreamService
from sfu import PublisherStarted, PublisherStopped, SessionClosed, Sfu, SfuEvent
from sfu.errors import SessionNotFoundError

log = logging.getLogger(__name__)

PUBLISHER = "publisher"


class PublisherPresence(Protocol):
    """Whether a stream's publisher is connected to another node (a cluster's placement registry)."""

    async def elsewhere(self, stream_id: StreamId) -> bool: ...


class LocalOnly:
    """One node: a publisher lost here is lost."""

    async def elsewhere(self, stream_id: StreamId) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Published:
    stream: Stream  # as it is after going live
    session_id: str
    answer_sdp: str


class StreamLifecycle:
    def __init__(
        self, streams: StreamService, sfu: Sfu, events: EventBus, presence: PublisherPresence | None = None
    ) -> None:
        self._streams = streams
        self._sfu = sfu
        self._presence: PublisherPresence = presence or LocalOnly()
        self._unstarted: dict[str, StreamId] = {}  # publisher sessions whose media has not started yet
        self._media_seen: set[str] = set()  # streams whose media started here (the SFU will report their end)
        sfu.add_listener(self.on_sfu_event)
        events.subscribe(StreamEnded, self._stream_ended)

    async def publish(self, stream: Stream, offer_sdp: str) -> Published:
        """Start (or resume) publishing ``stream``: the caller has authorized it (``app.streaming.GoingLive``)."""
        app_data = {"stream_id": stream.id, "user_id": stream.owner_id}
        session_id, answer = await self._sfu.publish(stream.id, offer_sdp, app_data)
        self._unstarted[session_id] = stream.id
        try:
            live = await self._streams.go_live(stream.id)
        except StreamEndedError:
            await self._close(session_id)  # ended while the offer was being answered
            raise
        return Published(live, session_id, answer)

    async def publisher_disconnected(self, stream_id: StreamId, session_id: str) -> None:
        """The signaling connection of a socket publisher went away: its media session is dropped as if the peer had
        failed, and the grace period runs (a publish from a new connection within it resumes)."""
        with contextlib.suppress(SessionNotFoundError):
            await self._sfu.drop_publisher(session_id)

    async def stop_publishing(self, session_id: str) -> None:
        """The publisher hung up on purpose (WHIP ``DELETE``, ``rtc:close``): the stream ends at once."""
        await self._sfu.close_session(session_id)

    async def end(self, stream_id: StreamId, reason: str) -> Stream:
        """End from anywhere. Idempotent; the media stops through ``StreamEnded``."""
        return await self._streams.end(stream_id, reason=reason)

    async def ended_elsewhere(self, stream_id: StreamId) -> None:
        """Another node ended the stream: stop its media here."""
        await self._sfu.end_stream(stream_id, "stream_ended")

    # SFU events
    async def on_sfu_event(self, event: SfuEvent) -> None:
        stream_id = StreamId(event.stream_id)
        if isinstance(event, PublisherStarted):
            self._unstarted.pop(event.session_id, None)
            self._media_seen.add(stream_id)
            await self._media_started(stream_id)
        elif isinstance(event, PublisherStopped):
            self._media_seen.discard(stream_id)
            await self._publisher_gone(stream_id)
        elif isinstance(event, SessionClosed) and event.role == PUBLISHER:
            never_started = self._unstarted.pop(event.session_id, None) is not None
            if never_started and stream_id not in self._media_seen and not self._sfu.has_publisher(stream_id):
                await self._publisher_gone(stream_id)  # nobody saw anything: no grace to wait for

    async def _media_started(self, stream_id: StreamId) -> None:
        try:
            await self._streams.go_live(stream_id)
        except (StreamEndedError, NotFoundError):
            log.info("media for an ended or unknown stream; stopping it", extra={"stream": stream_id})
            await self._sfu.end_stream(stream_id, "stream_ended")

    async def _publisher_gone(self, stream_id: StreamId) -> None:
        if await self._presence.elsewhere(stream_id):
            return
        with contextlib.suppress(NotFoundError):
            await self.end(stream_id, "publisher_left")

    async def _stream_ended(self, event: StreamEnded) -> None:
        self._media_seen.discard(event.stream_id)
        await self._sfu.end_stream(event.stream_id, "stream_ended")

    async def _close(self, session_id: str) -> None:
        with contextlib.suppress(SessionNotFoundError):
            await self._sfu.close_session(session_id)
