"""``/streams/{id}/...`` for rooms: chat history, moderation log, reports, room settings, restrictions, viewers,
and moderation actions over HTTP (the moderator console; the same rules as the ``mod:action`` socket event)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.requests import ModerationRequest, ReportRequest
from app.text_fields import Resolution
from app.vocabulary import ReportStatus
from core.ids import StreamId
from mobile_api.routing import Api, Body, Call, Query
from mobile_api.schemas import ChatPage, LogEntryOut, LogPage, ModActionOut, RoomSettingsOut, ViewersOut

api = Api()
TAGS = ("rooms",)


class PageQuery(Query):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)


class ChatQuery(PageQuery):
    include_removed: bool = False


class ReportsQuery(PageQuery):
    status: ReportStatus | None = ReportStatus.OPEN


class ModActionBody(ModerationRequest):
    """The same request as the ``mod:action`` socket event (``app.requests``)."""


class ReportBody(ReportRequest):
    """The same request as the ``report:send`` socket event (``app.requests``)."""


class ResolveBody(Body):
    resolution: Resolution = ""


def _sid(call: Call) -> StreamId:
    return StreamId(call.path["stream_id"])


@api.route(
    "GET",
    "/streams/{stream_id}/chat",
    summary="Chat history, newest first (moderators may include deleted and cleared messages)",
    tags=TAGS,
    auth="optional",
    query=ChatQuery,
    responses={403: "include_removed is for moderators", 404: "no such stream"},
    response=ChatPage,
)
async def chat_history(call: Call) -> dict[str, Any]:
    q = call.query_as(ChatQuery)
    page = await call.ctx.use.watching.chat_history(
        call.principal, _sid(call), cursor=q.cursor, limit=q.limit, removed=q.include_removed
    )
    return page.to_dict()


@api.route(
    "GET",
    "/streams/{stream_id}/modlog",
    summary="The moderation log, newest first (moderators only)",
    tags=TAGS,
    query=PageQuery,
    responses={403: "not a moderator of this room", 404: "no such stream"},
    response=LogPage,
)
async def modlog(call: Call) -> dict[str, Any]:
    q = call.query_as(PageQuery)
    page = await call.ctx.use.moderating.modlog(call.principal, _sid(call), cursor=q.cursor, limit=q.limit)
    return page.to_dict()


@api.route(
    "POST",
    "/streams/{stream_id}/mod-actions",
    summary="A moderation action (the same as the mod:action socket event)",
    tags=TAGS,
    body=ModActionBody,
    responses={403: "not allowed", 404: "no such stream, user or message", 429: "too many actions"},
    response=ModActionOut,
)
async def mod_action(call: Call) -> dict[str, Any]:
    req = call.body_as(ModActionBody).to_domain()
    return await call.ctx.use.moderating.act(call.principal, _sid(call), req)


@api.route(
    "GET",
    "/streams/{stream_id}/reports",
    summary="Reports about this room, newest first (moderators only)",
    tags=TAGS,
    query=ReportsQuery,
    responses={403: "not a moderator of this room", 404: "no such stream"},
    response=LogPage,
)
async def list_reports(call: Call) -> dict[str, Any]:
    q = call.query_as(ReportsQuery)
    page = await call.ctx.use.moderating.reports(
        call.principal, _sid(call), status=q.status, cursor=q.cursor, limit=q.limit
    )
    return page.to_dict()


@api.route(
    "POST",
    "/streams/{stream_id}/reports",
    summary="Report a message or a person (the same as report:send)",
    tags=TAGS,
    status=201,
    body=ReportBody,
    responses={404: "no such stream, message or user", 429: "too many reports"},
    response=LogEntryOut,
)
async def send_report(call: Call) -> dict[str, Any]:
    b = call.body_as(ReportBody)
    return await call.ctx.use.moderating.report(
        call.principal,
        _sid(call),
        reason=b.reason,
        message_id=b.message_id,
        target_user_id=b.target,
    )


@api.route(
    "POST",
    "/streams/{stream_id}/reports/{report_id}/resolve",
    summary="Mark a report handled (moderators only)",
    tags=TAGS,
    body=ResolveBody,
    responses={403: "not a moderator of this room", 404: "no such stream or report"},
    response=LogEntryOut,
)
async def resolve_report(call: Call) -> dict[str, Any]:
    b = call.body_as(ResolveBody)
    report_id = call.path["report_id"]
    return await call.ctx.use.moderating.resolve_report(call.principal, _sid(call), report_id, b.resolution)


@api.route(
    "GET",
    "/streams/{stream_id}/room-settings",
    summary="Chat settings with blocked terms and the shield preset (moderators only)",
    tags=TAGS,
    responses={403: "not a moderator of this room", 404: "no such stream"},
    response=RoomSettingsOut,
)
async def room_settings(call: Call) -> dict[str, Any]:
    return await call.ctx.use.moderating.room_settings(call.principal, _sid(call))


@api.route(
    "GET",
    "/streams/{stream_id}/restrictions",
    summary="Active timeouts and bans in this channel (moderators only)",
    tags=TAGS,
    responses={403: "not a moderator of this room", 404: "no such stream"},
    response=LogPage,
)
async def restrictions(call: Call) -> dict[str, Any]:
    return {"items": await call.ctx.use.moderating.restrictions(call.principal, _sid(call)), "next_cursor": None}


@api.route(
    "GET",
    "/streams/{stream_id}/viewers",
    summary="Viewer count, likes and (for moderators) who is watching",
    tags=TAGS,
    auth="optional",
    responses={404: "no such stream"},
    response=ViewersOut,
)
async def viewers(call: Call) -> dict[str, Any]:
    return (await call.ctx.use.watching.viewers(call.principal, _sid(call))).to_dict()
