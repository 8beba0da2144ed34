"""WebRTC signaling: ``rtc:publish`` / ``rtc:subscribe`` carry SDP to the SFU; ``rtc:close`` ends a session.

An adapter: it validates the payload, calls ``app.streaming.GoingLive`` (the same use case WHIP and WHEP call) and
keeps this connection's sessions. The lifecycle — live, publisher lost, one grace period, resumed or ended — is
``app.lifecycle.StreamLifecycle``'s: when this connection goes away, its publisher sessions are handed to it as lost
(``publisher_disconnected``); a new ``rtc:publish`` by the owner within the grace period resumes the stream.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Literal

from pydantic import Field

from core.errors import NotFoundError
from core.ids import StreamId
from signaling.events import EventContext, Payload, handler, on_disconnect

log = logging.getLogger(__name__)

SDP_MAX = 60_000


class RtcOffer(Payload):
    stream_id: str = Field(min_length=1, max_length=64)
    sdp: str = Field(min_length=1, max_length=SDP_MAX)


class RtcClose(Payload):
    session_id: str = Field(min_length=1, max_length=64)


class RtcLayer(Payload):
    session_id: str = Field(min_length=1, max_length=64)
    layer: Literal["auto", "high", "medium", "low"]
    width: int | None = Field(default=None, ge=1, le=16384)
    height: int | None = Field(default=None, ge=1, le=16384)


@handler("rtc:publish", schema=RtcOffer, auth=True, max_bytes=SDP_MAX + 512)
async def publish(ctx: EventContext, body: RtcOffer) -> dict[str, Any]:
    published = await ctx.use.going_live.publish(ctx.principal, StreamId(body.stream_id), body.sdp)
    stream = published.stream
    ctx.conn.publishing[stream.id] = published.session_id
    ctx.conn.rtc_sessions[published.session_id] = stream.id
    return {"session_id": published.session_id, "sdp": published.answer_sdp, "stream": stream.to_public()}


@handler("rtc:subscribe", schema=RtcOffer, max_bytes=SDP_MAX + 512)
async def subscribe(ctx: EventContext, body: RtcOffer) -> dict[str, Any]:
    session_id, answer = await ctx.use.going_live.watch(
        ctx.principal, StreamId(body.stream_id), body.sdp, ctx.sid, address=ctx.conn.address
    )
    ctx.conn.rtc_sessions[session_id] = body.stream_id
    return {"session_id": session_id, "sdp": answer}


@handler("rtc:close", schema=RtcClose)
async def close(ctx: EventContext, body: RtcClose) -> None:
    stream_id = ctx.conn.rtc_sessions.pop(body.session_id, None)
    if stream_id is None:
        raise NotFoundError("no such session on this connection", code="session_not_found")
    going_live = ctx.use.going_live
    if ctx.conn.publishing.get(stream_id) == body.session_id:
        del ctx.conn.publishing[stream_id]
        await going_live.stop_publishing(body.session_id)  # hung up on purpose: the stream ends
    else:
        await going_live.stop_watching(body.session_id)


@handler("rtc:layer", schema=RtcLayer)
async def layer(ctx: EventContext, body: RtcLayer) -> dict[str, Any]:
    """A viewer's simulcast choice for one of this connection's viewer sessions (docs/protocol.md, "Simulcast")."""
    stream_id = ctx.conn.rtc_sessions.get(body.session_id)
    if stream_id is None or ctx.conn.publishing.get(stream_id) == body.session_id:
        raise NotFoundError("no such viewer session on this connection", code="session_not_found")
    screen = (body.width, body.height) if body.width is not None and body.height is not None else None
    rid = await ctx.use.going_live.choose_layer(StreamId(stream_id), body.session_id, body.layer, screen)
    return {"layer": body.layer, "rid": rid}


@on_disconnect
async def sessions_left(ctx: EventContext) -> None:
    going_live = ctx.use.going_live
    for session_id, stream_id in list(ctx.conn.rtc_sessions.items()):
        with contextlib.suppress(Exception):
            if ctx.conn.publishing.get(stream_id) == session_id:
                await going_live.publisher_disconnected(StreamId(stream_id), session_id)
            else:
                await going_live.stop_watching(session_id)
    ctx.conn.rtc_sessions.clear()
    ctx.conn.publishing.clear()
