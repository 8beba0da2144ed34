"""The transcoded ladder as a stream option (issue 13, "one quality in, a ladder out"): its owner turns it on or off;
the SFU of the node holding the publisher runs it (``sfu/ladder.py``), within that node's cap
(``HUB_SFU_MAX_TRANSCODED_STREAMS``).

The option is stored with the stream, so it holds across reconnects and nodes: whenever a publisher starts on this
node (``PublisherStarted``, a reconnection included), the ladder is started if the stream has the option. Turning it on
or off acts at once when the request reaches the node holding the publisher; on another node it is stored and takes
effect at the publisher's next (re)connection.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from app.access import RoomAccess
from app.policy import Action
from app.principal import Principal
from core.errors import HubError
from core.ids import StreamId
from rooms.streams import StreamService
from sfu import PublisherStarted, Sfu, SfuEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TranscodingState:
    #: The stream's option.
    enabled: bool
    #: A ladder runs now (on this node: the request reached the node holding the publisher).
    running: bool

    def to_dict(self) -> dict[str, bool]:
        return {"enabled": self.enabled, "running": self.running}


class Transcoding:
    def __init__(self, access: RoomAccess, streams: StreamService, sfu: Sfu) -> None:
        self._access = access
        self._streams = streams
        self._sfu = sfu
        sfu.add_listener(self._on_sfu_event)

    async def set(self, who: Principal | None, stream_id: StreamId, enabled: bool) -> TranscodingState:
        """The owner turns the ladder on or off. On: refused with ``transcoding_full`` (nothing stored) when this node
        runs as many ladders as it may. A publisher that sends simulcast itself gets no ladder (``running`` false)."""
        await self._access.authorize(Action.SET_TRANSCODING, stream_id, who)
        running = False
        if self._sfu.has_publisher(stream_id):
            running = await self._sfu.set_ladder(stream_id, enabled)
        await self._streams.set_transcode_ladder(stream_id, enabled)
        return TranscodingState(enabled, running)

    async def _on_sfu_event(self, event: SfuEvent) -> None:
        if not isinstance(event, PublisherStarted) or not self._sfu.has_publisher(event.stream_id):
            return
        try:
            stream = await self._streams.get(StreamId(event.stream_id), moderators=False)
            if stream.transcode_ladder:
                await self._sfu.set_ladder(event.stream_id, True)
        except HubError as exc:  # the cap, or the publisher already gone: the stream goes on with its one layer
            log.info("no transcoded ladder for stream %s: %s", event.stream_id, exc.code)
