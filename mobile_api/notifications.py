"""``/notifications``: the notification centre (list with the unread count, mark read), per-streamer mutes, and
Web Push (the VAPID public key, registering and removing a browser's push subscription)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from core.ids import UserId
from mobile_api.routing import Api, Body, Call, Query

api = Api()


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NotificationOut(_Out):
    id: str
    kind: str = Field(description="`live`: a streamer you follow went live")
    at: datetime
    read: bool
    stream_id: str | None
    actor_id: str | None = Field(description="who it is about (the streamer)")
    actor_name: str
    title: str


class NotificationPage(_Out):
    items: list[NotificationOut]
    next_cursor: str | None
    unread: int


class MarkedOut(_Out):
    marked: int
    unread: int


class MutesOut(_Out):
    items: list[str] = Field(description="user ids of the streamers whose going live you do not hear about")


class PushKeyOut(_Out):
    public_key: str = Field(description="the VAPID public key (applicationServerKey), base64url")


class SubscriptionOut(_Out):
    id: str


class PageQuery(Query):
    cursor: str | None = Field(default=None, max_length=500)
    limit: int | None = Field(default=None, ge=1, le=100)


class ReadBody(Body):
    ids: list[str] | None = Field(default=None, max_length=100, description="none: mark every notification read")


class PushKeys(Body):
    p256dh: str = Field(max_length=200)
    auth: str = Field(max_length=100)


class SubscribeBody(Body):
    """A browser's ``PushSubscription.toJSON()`` (``expirationTime`` is accepted and ignored)."""

    endpoint: str = Field(max_length=2048)
    keys: PushKeys
    expirationTime: int | None = None


class UnsubscribeBody(Body):
    endpoint: str = Field(max_length=2048)


@api.route(
    "GET",
    "/notifications",
    summary="My notifications, newest first, with my unread count",
    tags=("notifications",),
    query=PageQuery,
    response=NotificationPage,
)
async def list_notifications(call: Call) -> dict[str, Any]:
    q = call.query_as(PageQuery)
    return await call.ctx.use.notifying.page(call.principal, cursor=q.cursor, limit=q.limit)


@api.route(
    "POST",
    "/notifications/read",
    summary="Mark notifications read (all of them without ids)",
    tags=("notifications",),
    body=ReadBody,
    response=MarkedOut,
)
async def mark_read(call: Call) -> dict[str, Any]:
    return await call.ctx.use.notifying.mark_read(call.principal, call.body_as(ReadBody).ids)


@api.route(
    "GET",
    "/notifications/mutes",
    summary="Streamers whose going live I muted",
    tags=("notifications",),
    response=MutesOut,
)
async def list_mutes(call: Call) -> dict[str, Any]:
    return {"items": await call.ctx.use.notifying.mutes(call.principal)}


@api.route(
    "PUT",
    "/notifications/mutes/{user_id}",
    summary="Mute a streamer's go-live notifications",
    tags=("notifications",),
    status=204,
    responses={404: "no such user"},
)
async def mute(call: Call) -> None:
    await call.ctx.use.notifying.mute(call.principal, UserId(call.path["user_id"]))


@api.route(
    "DELETE",
    "/notifications/mutes/{user_id}",
    summary="Hear a muted streamer's go-live notifications again",
    tags=("notifications",),
    status=204,
)
async def unmute(call: Call) -> None:
    await call.ctx.use.notifying.unmute(call.principal, UserId(call.path["user_id"]))


@api.route(
    "GET",
    "/notifications/push/key",
    summary="The VAPID public key to subscribe to Web Push with",
    tags=("notifications",),
    responses={404: "this hub does not send Web Push (push_unavailable)"},
    response=PushKeyOut,
)
async def push_key(call: Call) -> dict[str, Any]:
    return {"public_key": call.ctx.use.notifying.push_key(call.principal)}


@api.route(
    "POST",
    "/notifications/push/subscriptions",
    summary="Register this browser's Web Push subscription (go-live notifications while the page is closed)",
    tags=("notifications",),
    status=201,
    body=SubscribeBody,
    responses={404: "this hub does not send Web Push (push_unavailable)"},
    response=SubscriptionOut,
)
async def subscribe(call: Call) -> dict[str, Any]:
    b = call.body_as(SubscribeBody)
    return await call.ctx.use.notifying.subscribe(call.principal, b.endpoint, b.keys.p256dh, b.keys.auth)


@api.route(
    "DELETE",
    "/notifications/push/subscriptions",
    summary="Remove a Web Push subscription",
    tags=("notifications",),
    status=204,
    body=UnsubscribeBody,
)
async def unsubscribe(call: Call) -> None:
    await call.ctx.use.notifying.unsubscribe(call.principal, call.body_as(UnsubscribeBody).endpoint)
