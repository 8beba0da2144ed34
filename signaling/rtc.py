"""WebRTC signaling: ``rtc:publish`` / ``rtc:subscribe`` carry SDP to the SFU; ``rtc:close`` ends a session.

The SFU is reached through ``RtcSfu``, the narrow API ``sfu.service.SfuService`` offers (``publish``, ``subscribe``,
``close_session``); the hub provides it with ``services.provide(RtcSfu, sfu)``. Publishing marks the stream live.
When the publisher's connection goes away, ``PublisherWatch`` waits the SFU's reconnect grace period: a new
``rtc:publish`` by the owner within it continues the stream; otherwise the session is closed and the stream ends
(``StreamEnded`` → ``stream:ended`` to the room). The hub also forwards the SFU's own "publisher stopped" fact
(e.g. a WHIP publisher gone past its grace) to ``PublisherWatch.publisher_stopped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any, Protocol

from pydantic import Field

from app.streaming import GoingLive
from core.errors import NotFoundError
from core.ids import StreamId
from rooms.errors import StreamEndedError
from rooms.models import StreamStatus
from rooms.streams import StreamService
from signaling.events import EventContext, Payload, handler, on_disconnect

log = logging.getLogger(__name__)

SDP_MAX = 60_000


class RtcSfu(Protocol):
    async def publish(self, stream_id: str, offer_sdp: str, app_data: Any = None) -> tuple[str, str]: ...

    async def subscribe(self, stream_id: str, offer_sdp: str, app_data: Any = None) -> tuple[str, str]: ...

    async def close_session(self, session_id: str) -> None: ...

    async def drop_publisher(self, session_id: str) -> None: ...


class PublisherWatch:
    """Ends streams whose publisher left and did not come back within the grace period."""

    def __init__(self, streams: StreamService, sfu: RtcSfu | None, grace_s: float) -> None:
        self._streams = streams
        self._sfu = sfu
        self.grace_s = grace_s
        self._timers: dict[str, asyncio.Task[None]] = {}
        self._left: dict[str, str | None] = {}  # stream id -> the session its departed publisher left behind

    def publisher_back(self, stream_id: str) -> None:
        self._left.pop(stream_id, None)
        timer = self._timers.pop(stream_id, None)
        if timer is not None:
            timer.cancel()

    def publisher_left(self, stream_id: str, session_id: str | None) -> None:
        self.publisher_back(stream_id)
        self._left[stream_id] = session_id
        self._timers[stream_id] = asyncio.create_task(self._expire(stream_id, session_id), name=f"grace-{stream_id}")

    def left_behind(self, stream_id: str) -> str | None:
        """The media session of a publisher whose connection dropped and whose grace period is running."""
        return self._left.get(stream_id) if stream_id in self._timers else None

    async def _expire(self, stream_id: str, session_id: str | None) -> None:
        await asyncio.sleep(self.grace_s)
        self._timers.pop(stream_id, None)
        self._left.pop(stream_id, None)
        if session_id is not None and self._sfu is not None:
            with contextlib.suppress(Exception):
                await self._sfu.close_session(session_id)
        await self.publisher_stopped(stream_id)

    async def publisher_stopped(self, stream_id: str) -> None:
        try:
            await self._streams.end(StreamId(stream_id), reason="publisher_left")
        except NotFoundError:
            pass
        except Exception:
            log.exception("could not end stream %s after its publisher left", stream_id)

    async def close(self) -> None:
        timers, self._timers = list(self._timers.values()), {}
        for t in timers:
            t.cancel()
        for t in timers:
            with contextlib.suppress(asyncio.CancelledError):
                await t


class RtcOffer(Payload):
    stream_id: str = Field(min_length=1, max_length=64)
    sdp: str = Field(min_length=1, max_length=SDP_MAX)


class RtcClose(Payload):
    session_id: str = Field(min_length=1, max_length=64)


@handler("rtc:publish", schema=RtcOffer, auth=True, max_bytes=SDP_MAX + 512)
async def publish(ctx: EventContext, body: RtcOffer) -> dict[str, Any]:
    streams, sfu, watch = ctx.need(StreamService), ctx.need(RtcSfu), ctx.need(PublisherWatch)  # type: ignore[type-abstract]
    stream = await ctx.need(GoingLive).authorize_publish(ctx.principal, StreamId(body.stream_id))
    stale = watch.left_behind(stream.id)
    if stale is not None:
        # The owner is back on a new connection within the grace period, while the old peer may still be sending:
        # drop the old session (viewers stay attached) so this one takes over. Should this publish fail, the grace
        # period simply runs on.
        await sfu.drop_publisher(stale)
    session_id, answer = await sfu.publish(stream.id, body.sdp, {"stream_id": stream.id, "user_id": stream.owner_id})
    ctx.conn.publishing[stream.id] = session_id
    ctx.conn.rtc_sessions[session_id] = stream.id
    watch.publisher_back(stream.id)
    live = await streams.go_live(stream.id)
    return {"session_id": session_id, "sdp": answer, "stream": live.to_public()}


@handler("rtc:subscribe", schema=RtcOffer, max_bytes=SDP_MAX + 512)
async def subscribe(ctx: EventContext, body: RtcOffer) -> dict[str, Any]:
    streams, sfu = ctx.need(StreamService), ctx.need(RtcSfu)  # type: ignore[type-abstract]
    stream = await streams.get(StreamId(body.stream_id))
    if stream.status is StreamStatus.ENDED:
        raise StreamEndedError("this stream has ended")
    app_data = {"stream_id": stream.id, "user_id": ctx.conn.user_id, "sid": ctx.sid}
    session_id, answer = await sfu.subscribe(stream.id, body.sdp, app_data)
    ctx.conn.rtc_sessions[session_id] = stream.id
    return {"session_id": session_id, "sdp": answer}


@handler("rtc:close", schema=RtcClose)
async def close(ctx: EventContext, body: RtcClose) -> None:
    stream_id = ctx.conn.rtc_sessions.pop(body.session_id, None)
    if stream_id is None:
        raise NotFoundError("no such session on this connection", code="session_not_found")
    await ctx.need(RtcSfu).close_session(body.session_id)  # type: ignore[type-abstract]
    if ctx.conn.publishing.get(stream_id) == body.session_id:
        del ctx.conn.publishing[stream_id]
        await ctx.need(PublisherWatch).publisher_stopped(stream_id)


@on_disconnect
async def sessions_left(ctx: EventContext) -> None:
    sfu = ctx.services.get(RtcSfu)  # type: ignore[type-abstract]
    watch = ctx.services.get(PublisherWatch)
    for session_id, stream_id in list(ctx.conn.rtc_sessions.items()):
        if ctx.conn.publishing.get(stream_id) == session_id:
            if watch is not None:
                watch.publisher_left(stream_id, session_id)
        elif sfu is not None:
            with contextlib.suppress(Exception):
                await sfu.close_session(session_id)
    ctx.conn.rtc_sessions.clear()
    ctx.conn.publishing.clear()
