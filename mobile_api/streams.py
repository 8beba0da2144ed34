"""``/streams``: create, list, read, end; stream keys and room moderators."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.text_fields import StreamCategory, StreamTag, StreamTitle
from core.ids import StreamId, UserId
from mobile_api.routing import Api, Body, Call, Query
from mobile_api.schemas import MyStreamsPage, StreamOut, StreamPage, StreamViewOut, StreamWithKeyOut
from rooms.models import Stream, StreamStatus

api = Api()


class CreateStreamBody(Body):
    title: StreamTitle
    category: StreamCategory | None = None
    tags: list[StreamTag] | None = Field(default=None, max_length=50)


class ListQuery(Query):
    status: StreamStatus | None = StreamStatus.LIVE
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)


class PageQuery(Query):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)


class ModeratorBody(Body):
    user_id: str = Field(max_length=64)


def _with_key(stream: Stream) -> dict[str, Any]:
    return {**stream.to_public(), "stream_key": stream.stream_key}


@api.route(
    "POST",
    "/streams",
    summary="Create a stream (returns its secret stream key)",
    tags=("streams",),
    status=201,
    body=CreateStreamBody,
    response=StreamWithKeyOut,
)
async def create_stream(call: Call) -> dict[str, Any]:
    b = call.body_as(CreateStreamBody)
    stream = await call.ctx.streams.create(call.user.user_id, title=b.title, category=b.category, tags=b.tags)
    await call.ctx.accounts.become_streamer(call.user.user_id)
    return _with_key(stream)


@api.route(
    "GET",
    "/streams",
    summary="The stream directory (live by default)",
    tags=("streams",),
    auth="none",
    query=ListQuery,
    response=StreamPage,
)
async def list_streams(call: Call) -> dict[str, Any]:
    q = call.query_as(ListQuery)
    page = await call.ctx.streams.directory(
        status=StreamStatus(q.status) if q.status else None, cursor=q.cursor, limit=q.limit
    )
    return page.to_dict()


@api.route(
    "GET",
    "/streams/following",
    summary="Live streams of people I follow",
    tags=("streams",),
    query=PageQuery,
    response=StreamPage,
)
async def following_streams(call: Call) -> dict[str, Any]:
    q = call.query_as(PageQuery)
    owners = await call.ctx.accounts.followees(call.user.user_id)
    page = await call.ctx.streams.directory(status=StreamStatus.LIVE, owners=owners, cursor=q.cursor, limit=q.limit)
    return page.to_dict()


@api.route("GET", "/streams/mine", summary="My streams, with their keys", tags=("streams",), response=MyStreamsPage)
async def my_streams(call: Call) -> dict[str, Any]:
    streams = await call.ctx.streams.owned_by(call.user.user_id)
    return {"items": [_with_key(s) for s in streams], "next_cursor": None}


@api.route(
    "GET",
    "/streams/moderated",
    summary="Rooms I can moderate: my streams, streams naming me a moderator, and (staff) every live stream",
    tags=("streams",),
    response=StreamPage,
)
async def moderated_streams(call: Call) -> dict[str, Any]:
    me = call.user
    rooms: dict[str, dict[str, Any]] = {}
    for stream in [*await call.ctx.streams.owned_by(me.user_id), *await call.ctx.streams.moderated_by(me.user_id)]:
        if stream.status is not StreamStatus.ENDED:
            rooms.setdefault(stream.id, stream.to_public())
    if me.is_staff:
        live = await call.ctx.streams.directory(status=StreamStatus.LIVE, limit=100)
        for item in live.items:
            rooms.setdefault(item["id"], item)
    return {"items": list(rooms.values()), "next_cursor": None}


@api.route(
    "GET",
    "/streams/{stream_id}",
    summary="One stream",
    tags=("streams",),
    auth="optional",
    responses={404: "no such stream"},
    response=StreamViewOut,
)
async def get_stream(call: Call) -> dict[str, Any]:
    stream = await call.ctx.streams.get(StreamId(call.path["stream_id"]))
    if call.principal is not None and call.principal.user_id == stream.owner_id:
        return _with_key(stream)
    return stream.to_public()


@api.route(
    "POST",
    "/streams/{stream_id}/end",
    summary="End a stream (owner or admin)",
    tags=("streams",),
    responses={403: "not your stream", 404: "no such stream"},
    response=StreamOut,
)
async def end_stream(call: Call) -> dict[str, Any]:
    stream = await call.ctx.use.going_live.end(call.principal, StreamId(call.path["stream_id"]))
    return stream.to_public()


@api.route(
    "POST",
    "/streams/{stream_id}/live",
    summary="Go live explicitly (publishing media also does)",
    tags=("streams",),
    responses={403: "not your stream", 404: "no such stream", 409: "the stream has ended"},
    response=StreamOut,
)
async def go_live(call: Call) -> dict[str, Any]:
    stream = await call.ctx.use.going_live.go_live(call.principal, StreamId(call.path["stream_id"]))
    return stream.to_public()


@api.route(
    "POST",
    "/streams/{stream_id}/key",
    summary="Rotate the stream key",
    tags=("streams",),
    responses={403: "not your stream", 404: "no such stream"},
    response=StreamWithKeyOut,
)
async def rotate_key(call: Call) -> dict[str, Any]:
    stream = await call.ctx.streams.rotate_key(call.user.user_id, StreamId(call.path["stream_id"]))
    return _with_key(stream)


@api.route(
    "POST",
    "/streams/{stream_id}/moderators",
    summary="Name a moderator of the stream owner's channel (every stream of theirs)",
    tags=("streams",),
    body=ModeratorBody,
    responses={403: "not your stream", 404: "no such stream or user"},
    response=StreamOut,
)
async def add_moderator(call: Call) -> dict[str, Any]:
    user_id = UserId(call.body_as(ModeratorBody).user_id)
    stream = await call.ctx.use.moderating.name_moderator(call.principal, StreamId(call.path["stream_id"]), user_id)
    return stream.to_public()


@api.route(
    "DELETE",
    "/streams/{stream_id}/moderators",
    summary="Remove a moderator of the channel (every power and moderator event, at once)",
    tags=("streams",),
    body=ModeratorBody,
    responses={403: "not your stream", 404: "no such stream"},
    response=StreamOut,
)
async def remove_moderator(call: Call) -> dict[str, Any]:
    user_id = UserId(call.body_as(ModeratorBody).user_id)
    stream = await call.ctx.use.moderating.remove_moderator(call.principal, StreamId(call.path["stream_id"]), user_id)
    return stream.to_public()
