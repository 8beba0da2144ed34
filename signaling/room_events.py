"""Room events: join/leave, chat, likes, moderation, reports. Adapters: validate the payload, keep the connection's
rooms, call the use case (``ctx.use``), return its result as the ack."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.requests import ModerationRequest, ReportRequest
from app.text_fields import ChatText
from core.errors import ForbiddenError, InvalidInputError
from core.ids import StreamId
from signaling.events import EventContext, Payload, handler, on_disconnect
from signaling.keys import moderators_room, stream_room

ROOMS_PER_CONNECTION = 5
Id = Field(min_length=1, max_length=64)


class StreamRef(Payload):
    stream_id: str = Id


class ChatSend(Payload):
    stream_id: str = Id
    text: ChatText
    client_id: str | None = Field(default=None, max_length=64)


class LikeSend(Payload):
    stream_id: str = Id
    count: int = Field(default=1, ge=1, le=100)


class ModActionBody(ModerationRequest):
    stream_id: str = Id


class ReportSend(ReportRequest):
    stream_id: str = Id


def _require_joined(ctx: EventContext, stream_id: str) -> None:
    if stream_id not in ctx.conn.streams:
        raise ForbiddenError("join the stream first (stream:join)", code="not_joined")


@handler("stream:join", schema=StreamRef)
async def join(ctx: EventContext, body: StreamRef) -> dict[str, Any]:
    watching, conn = ctx.use.watching, ctx.conn
    stream, role = await watching.room_for(ctx.principal, StreamId(body.stream_id))
    first = stream.id not in conn.streams
    if first and len(conn.streams) >= ROOMS_PER_CONNECTION:
        raise InvalidInputError(f"a connection can be in at most {ROOMS_PER_CONNECTION} rooms")
    if first:
        await watching.admit(conn.viewer_key)
        conn.streams.add(stream.id)
        await ctx.enter(stream_room(stream.id))
        if role.can_moderate:
            await ctx.enter(moderators_room(stream.id))
    joined = await watching.join(ctx.principal, stream, role, conn.viewer_key, first)
    return joined.to_dict()


async def _leave(ctx: EventContext, stream_id: str) -> None:
    conn = ctx.conn
    if stream_id not in conn.streams:
        return
    conn.streams.discard(stream_id)
    await ctx.leave(stream_room(stream_id))
    await ctx.leave(moderators_room(stream_id))
    await ctx.use.watching.leave(stream_id, conn.viewer_key)


@handler("stream:leave", schema=StreamRef)
async def leave(ctx: EventContext, body: StreamRef) -> None:
    await _leave(ctx, body.stream_id)


@on_disconnect
async def leave_all(ctx: EventContext) -> None:
    for stream_id in list(ctx.conn.streams):
        ctx.conn.streams.discard(stream_id)
        await ctx.use.watching.leave(stream_id, ctx.conn.viewer_key)


@handler("chat:send", schema=ChatSend, auth=True, max_bytes=8192)
async def chat_send(ctx: EventContext, body: ChatSend) -> dict[str, Any]:
    _require_joined(ctx, body.stream_id)
    msg = await ctx.use.chatting.send(ctx.principal, StreamId(body.stream_id), body.text, body.client_id)
    return {"message": msg.to_dict()}


@handler("like:send", schema=LikeSend, auth=True)
async def like_send(ctx: EventContext, body: LikeSend) -> None:
    _require_joined(ctx, body.stream_id)
    await ctx.use.chatting.like(ctx.principal, StreamId(body.stream_id), body.count)


@handler("mod:action", schema=ModActionBody, auth=True)
async def mod_action(ctx: EventContext, body: ModActionBody) -> dict[str, Any]:
    return await ctx.use.moderating.act(ctx.principal, StreamId(body.stream_id), body.to_domain())


@handler("report:send", schema=ReportSend, auth=True)
async def report_send(ctx: EventContext, body: ReportSend) -> dict[str, Any]:
    report = await ctx.use.moderating.report(
        ctx.principal,
        StreamId(body.stream_id),
        reason=body.reason,
        message_id=body.message_id,
        target_user_id=body.target,
    )
    return {"report_id": report["id"]}
