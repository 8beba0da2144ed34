"""``/streams``: create, list, read, end; stream keys and room moderators."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from starlette.responses import Response

from app.text_fields import StreamCategory, StreamTag, StreamTitle
from app.vocabulary import StreamStatus
from core.ids import StreamId, UserId
from mobile_api.routing import Api, Body, Call, Query
from mobile_api.schemas import MediaOut, MyStreamsPage, Out, StreamOut, StreamPage, StreamViewOut, StreamWithKeyOut

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


class ThumbnailQuery(Query):
    v: int | None = Field(default=None, ge=0, description="the picture's version (from the directory): cache key")


class TranscodingBody(Body):
    enabled: bool


class TranscodingOut(Out):
    enabled: bool = Field(description="the stream's option, kept across reconnects")
    running: bool = Field(description="a ladder runs now (the request reached the node holding the publisher)")


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
    out = page.to_dict()
    for item in out["items"]:
        version = item.pop("thumbnail_version", None)
        if version is not None:
            item["thumbnail_url"] = f"/api/v1/streams/{item['id']}/thumbnail?v={version}"
    return out


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


def _etag_matches(header: str | None, etag: str) -> bool:
    """If-None-Match (RFC 9110 section 13.1.2): ``*`` or a list of tags, compared weakly."""
    if not header:
        return False
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


@api.route(
    "GET",
    "/streams/{stream_id}/thumbnail",
    summary="A live stream's latest picture (JPEG or WebP), with ETag and Cache-Control; If-None-Match gives 304",
    tags=("streams",),
    auth="none",
    query=ThumbnailQuery,
    produces="image/*",
    responses={304: "not modified: the picture named by If-None-Match is still the latest", 404: "no picture yet"},
)
async def stream_thumbnail(call: Call) -> Response:
    thumb = await call.ctx.use.thumbnails.image(call.principal, call.path["stream_id"])
    headers = {
        "ETag": thumb.etag,
        # Shared caches may keep a picture for a few seconds; after that they revalidate (304 when unchanged).
        "Cache-Control": f"public, max-age={call.ctx.use.thumbnails.max_age_s}",
        "Last-Modified": thumb.taken_at.strftime("%a, %d %b %Y %H:%M:%S GMT"),
    }
    if _etag_matches(call.request.headers.get("if-none-match"), thumb.etag):
        return Response(status_code=304, headers=headers)
    return Response(thumb.image, media_type=thumb.content_type, headers=headers)


@api.route(
    "PUT",
    "/streams/{stream_id}/transcoding",
    summary="Turn the transcoded ladder on or off (owner): lower layers made for a publisher that sends one",
    tags=("streams",),
    body=TranscodingBody,
    response=TranscodingOut,
    responses={403: "not the stream's owner", 404: "no such stream", 503: "transcoding_full: this node's cap"},
)
async def set_transcoding(call: Call) -> dict[str, Any]:
    b = call.body_as(TranscodingBody)
    state = await call.ctx.use.transcoding.set(call.principal, StreamId(call.path["stream_id"]), b.enabled)
    return state.to_dict()


@api.route(
    "GET",
    "/streams/{stream_id}/media",
    summary="The stream's media on this node (moderators): layers, each viewer's layer, estimate and switches, relay "
    "pipes per layer",
    tags=("streams",),
    response=MediaOut,
    responses={403: "not a moderator of this room", 404: "no such stream"},
)
async def media(call: Call) -> dict[str, Any]:
    return (await call.ctx.use.media_stats.of_stream(call.principal, StreamId(call.path["stream_id"]))).to_dict()


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
