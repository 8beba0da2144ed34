"""Room events: join/leave, chat, likes, moderation, reports. Handlers resolve context and call ``rooms`` services."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.chatting import Chatting
from app.moderating import Moderating
from core.errors import ForbiddenError, InvalidInputError
from core.ids import StreamId, UserId
from rooms.access import room_role
from rooms.chat import ChatService
from rooms.chat_models import ModAction
from rooms.errors import StreamEndedError
from rooms.models import StreamStatus
from rooms.moderation import ModRequest
from rooms.presence import PresenceService
from rooms.streams import StreamService
from signaling.events import EventContext, Payload, handler, on_disconnect, registry
from signaling.keys import moderators_room, stream_room

ROOMS_PER_CONNECTION = 5
Id = Field(min_length=1, max_length=64)


class StreamRef(Payload):
    stream_id: str = Id


class ChatSend(Payload):
    stream_id: str = Id
    text: str = Field(max_length=2000)
    client_id: str | None = Field(default=None, max_length=64)


class LikeSend(Payload):
    stream_id: str = Id
    count: int = Field(default=1, ge=1, le=100)


class ModActionBody(Payload):
    stream_id: str = Id
    # The vocabulary is rooms'; non-strict so the JSON string converts to the enum.
    action: ModAction = Field(strict=False)
    target_user_id: str | None = Field(default=None, min_length=1, max_length=64)
    message_id: str | None = Field(default=None, min_length=1, max_length=64)
    duration_s: int | None = None
    value: int | bool | str | dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=300)


class ReportSend(Payload):
    stream_id: str = Id
    message_id: str | None = Field(default=None, min_length=1, max_length=64)
    target_user_id: str | None = Field(default=None, min_length=1, max_length=64)
    reason: str = Field(min_length=1, max_length=300)


def _require_joined(ctx: EventContext, stream_id: str) -> None:
    if stream_id not in ctx.conn.streams:
        raise ForbiddenError("join the stream first (stream:join)", code="not_joined")


@handler("stream:join", schema=StreamRef)
async def join(ctx: EventContext, body: StreamRef) -> dict[str, Any]:
    streams, chat, presence = ctx.need(StreamService), ctx.need(ChatService), ctx.need(PresenceService)
    stream = await streams.get(StreamId(body.stream_id))
    if stream.status is StreamStatus.ENDED:
        raise StreamEndedError("this stream has ended")
    conn = ctx.conn
    first = stream.id not in conn.streams
    if first and len(conn.streams) >= ROOMS_PER_CONNECTION:
        raise InvalidInputError(f"a connection can be in at most {ROOMS_PER_CONNECTION} rooms")
    if first:
        await presence.allow_join(conn.viewer_key)
    role = room_role(stream, conn.principal)
    if first:
        conn.streams.add(stream.id)
        await ctx.enter(stream_room(stream.id))
        if role.can_moderate:
            await ctx.enter(moderators_room(stream.id))
        if conn.principal is not None and conn.nickname:
            await chat.remember_nickname(stream.id, conn.nickname, conn.principal.user_id)
        viewers = await presence.join(stream.id, conn.viewer_key)
    else:
        viewers = await presence.count(stream.id)
    settings = await chat.settings(stream.id)
    restriction = await chat.restriction(stream, conn.principal.user_id) if conn.principal else None
    ack: dict[str, Any] = {
        "stream": stream.to_public(),
        "viewers": viewers,
        "likes": await presence.likes(stream.id),
        "recent_chat": await chat.recent(stream.id),
        "settings": settings.to_moderator() if role.can_moderate else settings.to_public(),
        "role": role.value,
        "restriction": restriction.to_dict() if restriction else None,
    }
    for key, extra in registry.join_extras.items():
        ack[key] = await extra(ctx, stream)
    return ack


async def _leave(ctx: EventContext, stream_id: str) -> None:
    conn = ctx.conn
    if stream_id not in conn.streams:
        return
    conn.streams.discard(stream_id)
    await ctx.leave(stream_room(stream_id))
    await ctx.leave(moderators_room(stream_id))
    await ctx.need(PresenceService).leave(stream_id, conn.viewer_key)


@handler("stream:leave", schema=StreamRef)
async def leave(ctx: EventContext, body: StreamRef) -> None:
    await _leave(ctx, body.stream_id)


@on_disconnect
async def leave_all(ctx: EventContext) -> None:
    presence = ctx.need(PresenceService)
    for stream_id in list(ctx.conn.streams):
        ctx.conn.streams.discard(stream_id)
        await presence.leave(stream_id, ctx.conn.viewer_key)


@handler("chat:send", schema=ChatSend, auth=True, max_bytes=8192)
async def chat_send(ctx: EventContext, body: ChatSend) -> dict[str, Any]:
    _require_joined(ctx, body.stream_id)
    msg = await ctx.need(Chatting).send(ctx.principal, StreamId(body.stream_id), body.text, body.client_id)
    return {"message": msg.to_dict()}


@handler("like:send", schema=LikeSend, auth=True)
async def like_send(ctx: EventContext, body: LikeSend) -> None:
    _require_joined(ctx, body.stream_id)
    await ctx.need(Chatting).like(ctx.principal, StreamId(body.stream_id), body.count)


@handler("mod:action", schema=ModActionBody, auth=True)
async def mod_action(ctx: EventContext, body: ModActionBody) -> dict[str, Any]:
    req = ModRequest(
        action=ModAction(body.action),
        target_user_id=UserId(body.target_user_id) if body.target_user_id else None,
        message_id=body.message_id,
        duration_s=body.duration_s,
        value=body.value,
        reason=body.reason or "",
    )
    return await ctx.need(Moderating).act(ctx.principal, StreamId(body.stream_id), req)


@handler("report:send", schema=ReportSend, auth=True)
async def report_send(ctx: EventContext, body: ReportSend) -> dict[str, Any]:
    report = await ctx.need(Moderating).report(
        ctx.principal,
        StreamId(body.stream_id),
        reason=body.reason,
        message_id=body.message_id,
        target_user_id=UserId(body.target_user_id) if body.target_user_id else None,
    )
    return {"report_id": report["id"]}
