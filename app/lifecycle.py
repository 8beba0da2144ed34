"""The stream lifecycle (filled in by the next step; for now: end from anywhere)."""

from __future__ import annotations

from core.ids import StreamId
from rooms.models import Stream
from rooms.streams import StreamService


class StreamLifecycle:
    def __init__(self, streams: StreamService) -> None:
        self._streams = streams

    async def end(self, stream_id: StreamId, reason: str) -> Stream:
        return await self._streams.end(stream_id, reason=reason)
