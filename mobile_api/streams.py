"""``/streams``: create, list, read, end; stream keys and room moderators."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.text_fields import StreamCategory, StreamTag, StreamTitle
from app.vocabulary import StreamStatus
from core.ids import StreamId, UserId
from mobile_api.routing import Api, Body, Call, Query
from mobile_api.schemas import MyStreamsPage, StreamOut, StreamPage, StreamViewOut, StreamWithKeyOut

api = Api()


class CreateStreamBody(Body):
    title: StreamTitle
    category: StreamCategory | None = None
    tags: list[StreamTag] | None = Field(default=None, max_length=50)


class ListQuery(Query):
    status: StreamStatus | None = StreamStatus.LIVE
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)
    category: str | None = Field(default=None, max_length=100, description="only this category")
    tags: str | None = Field(default=None, max_length=300, description="comma-separated: streams with every one")
    q: str | None = Field(default=None, max_length=200, description="search: every word in the title or streamer")


class PageQuery(Query):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)


class ModeratorBody(Body):
    user_id: str = Field(max_length=64)


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
    created = await call.ctx.use.my_streams.create(call.principal, title=b.title, category=b.category, tags=b.tags)
    return created.to_dict()


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
    tags = [t.strip() for t in q.tags.split(",") if t.strip()][:10] if q.tags else None
    page = await call.ctx.use.directory.browse(
        call.principal,
        status=StreamStatus(q.status) if q.status else None,
        cursor=q.cursor,
        limit=q.limit,
        category=q.category.strip() or None if q.category else None,
        tags=tags or None,
        query=q.q,
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
    page = await call.ctx.use.directory.following(call.principal, cursor=q.cursor, limit=q.limit)
    return page.to_dict()


@api.route("GET", "/streams/mine", summary="My streams, with their keys", tags=("streams",), response=MyStreamsPage)
async def my_streams(call: Call) -> dict[str, Any]:
    streams = await call.ctx.use.my_streams.mine(call.principal)
    return {"items": [s.to_dict() for s in streams], "next_cursor": None}


@api.route(
    "GET",
    "/streams/moderated",
    summary="Rooms I can moderate: my streams, streams naming me a moderator, and (staff) every live stream",
    tags=("streams",),
    response=StreamPage,
)
async def moderated_streams(call: Call) -> dict[str, Any]:
    return {"items": await call.ctx.use.directory.moderated(call.principal), "next_cursor": None}


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
    view = await call.ctx.use.directory.view(call.principal, StreamId(call.path["stream_id"]))
    return view.to_dict()


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
    rotated = await call.ctx.use.my_streams.rotate_key(call.principal, StreamId(call.path["stream_id"]))
    return rotated.to_dict()


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
