"""``/gifts`` (the catalogue), sending gifts over HTTP, stream leaderboards and goals."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from app.requests import GiftRequest
from app.text_fields import GoalTitle
from app.vocabulary import GoalKind
from core.ids import StreamId
from mobile_api.routing import Api, Body, Call, Query
from mobile_api.schemas import GiftAckOut, GiftList, GiftOut, GoalOut, LeaderboardOut

api = Api()


class EffectBody(Body):
    animation: str = Field(min_length=1, max_length=60)
    duration_ms: int = Field(ge=100, le=60_000)
    fullscreen: bool = False


class NamesBody(Body):
    en: str = Field(min_length=1, max_length=60)
    ru: str = Field(min_length=1, max_length=60)


class CreateGiftBody(Body):
    id: str = Field(pattern=r"^[a-z0-9_]{2,40}$")
    names: NamesBody
    coins: int = Field(ge=1, le=1_000_000)
    beans: int = Field(ge=0, le=1_000_000)
    rarity: Literal["common", "rare", "epic", "legendary"] = "common"
    effect: EffectBody
    combo: bool = True
    kind: str = Field(default="standard", max_length=40)
    active: bool = True


class UpdateGiftBody(Body):
    expected_version: int | None = Field(default=None, ge=1)
    names: NamesBody | None = None
    coins: int | None = Field(default=None, ge=1, le=1_000_000)
    beans: int | None = Field(default=None, ge=0, le=1_000_000)
    rarity: Literal["common", "rare", "epic", "legendary"] | None = None
    effect: EffectBody | None = None
    combo: bool | None = None
    kind: str | None = Field(default=None, max_length=40)
    active: bool | None = None


class CatalogueQuery(Query):
    include_inactive: bool = False


class SendGiftBody(GiftRequest):
    """The same request as the ``gift:send`` socket event (``app.requests``)."""


class GoalBody(Body):
    kind: Literal["beans", "gift"]
    target: int = Field(ge=1, le=10**9)
    gift_id: str | None = Field(default=None, max_length=40)
    title: GoalTitle = ""


@api.route(
    "GET",
    "/gifts",
    summary="The gift catalogue",
    tags=("gifts",),
    auth="optional",
    query=CatalogueQuery,
    response=GiftList,
)
async def list_gifts(call: Call) -> dict[str, Any]:
    q = call.query_as(CatalogueQuery)
    gifts = await call.ctx.use.catalogue.browse(call.principal, include_inactive=q.include_inactive)
    return {"items": [g.public() for g in gifts]}


@api.route(
    "POST",
    "/admin/gifts",
    summary="Add a gift to the catalogue (admin)",
    tags=("admin",),
    status=201,
    body=CreateGiftBody,
    responses={403: "admins only", 409: "a gift with this id exists"},
    response=GiftOut,
)
async def create_gift(call: Call) -> dict[str, Any]:
    b = call.body_as(CreateGiftBody)
    fields = b.model_dump(exclude={"id"})
    gift = await call.ctx.use.catalogue.add(call.principal, b.id, fields)
    return gift.public()


@api.route(
    "PATCH",
    "/admin/gifts/{gift_id}",
    summary="Change a gift: a new version (admin)",
    tags=("admin",),
    body=UpdateGiftBody,
    responses={403: "admins only", 404: "no such gift", 409: "changed meanwhile (expected_version)"},
    response=GiftOut,
)
async def update_gift(call: Call) -> dict[str, Any]:
    b = call.body_as(UpdateGiftBody)
    changes = b.model_dump(exclude={"expected_version"}, exclude_none=True)
    gift = await call.ctx.use.catalogue.change(call.principal, call.path["gift_id"], changes, b.expected_version)
    return gift.public()


@api.route(
    "POST",
    "/streams/{stream_id}/gifts",
    summary="Send a gift (same as the gift:send socket event; replaying the idempotency key returns the same ack)",
    tags=("gifts",),
    body=SendGiftBody,
    responses={
        404: "no such stream or gift",
        409: "insufficient_funds, stream_not_live",
        403: "blocked, frozen or over the daily cap",
        429: "sending too fast",
    },
    response=GiftAckOut,
)
async def send_gift(call: Call) -> dict[str, Any]:
    b = call.body_as(SendGiftBody)
    ack = await call.ctx.use.gifting.send(
        call.principal, StreamId(call.path["stream_id"]), b.gift_id, b.count, b.idempotency_key, b.message
    )
    return ack.to_dict()


@api.route(
    "GET",
    "/streams/{stream_id}/leaderboard",
    summary="Top gifters: of this stream (live) and of its streamer (all time, from the ledger)",
    tags=("gifts",),
    auth="optional",
    responses={404: "no such stream"},
    response=LeaderboardOut,
)
async def leaderboard(call: Call) -> dict[str, Any]:
    boards = await call.ctx.use.watching.leaderboards(call.principal, StreamId(call.path["stream_id"]))
    return boards.to_dict()


@api.route(
    "PUT",
    "/streams/{stream_id}/goal",
    summary="Set the stream's goal (streamer): beans, or N of one gift",
    tags=("gifts",),
    body=GoalBody,
    responses={403: "not your stream", 404: "no such stream"},
    response=GoalOut,
)
async def set_goal(call: Call) -> dict[str, Any]:
    b = call.body_as(GoalBody)
    goal = await call.ctx.use.goals.set(
        call.principal,
        StreamId(call.path["stream_id"]),
        kind=GoalKind(b.kind),
        target=b.target,
        gift_id=b.gift_id,
        title=b.title,
    )
    return goal.to_dict()


@api.route(
    "GET",
    "/streams/{stream_id}/goal",
    summary="The stream's goal and its progress",
    tags=("gifts",),
    auth="optional",
    responses={404: "no such stream or no goal"},
    response=GoalOut,
)
async def get_goal(call: Call) -> dict[str, Any]:
    goal = await call.ctx.use.goals.get(call.principal, StreamId(call.path["stream_id"]))
    return goal.to_dict()


@api.route(
    "DELETE",
    "/streams/{stream_id}/goal",
    summary="Remove the stream's goal (streamer)",
    tags=("gifts",),
    responses={403: "not your stream", 404: "no such stream"},
)
async def clear_goal(call: Call) -> None:
    await call.ctx.use.goals.clear(call.principal, StreamId(call.path["stream_id"]))
