"""Channel points over HTTP: a channel's rewards with my balance, redeeming, the streamer's rewards and request
queue, my points in every channel, and a user's achievements. Adapters over ``app.loyalty.ChannelPoints``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.vocabulary import RedemptionStatus, RewardKind
from core.ids import StreamId, UserId
from mobile_api.routing import Api, Body, Call, Query

api = Api()


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RewardOut(_Out):
    id: str
    channel_id: str
    kind: RewardKind
    title: str
    cost: int
    enabled: bool
    cooldown_s: int
    user_cooldown_s: int
    prompt: str
    sound: str
    cooling_down_until: datetime | None


class RewardsMenuOut(_Out):
    channel_id: str = Field(description="the streamer's user id: points belong to the channel, not one broadcast")
    balance: int | None = Field(description="my points in this channel; null for a guest")
    rewards: list[RewardOut]


class RedemptionViewerOut(_Out):
    id: str
    nickname: str


class RedemptionOut(_Out):
    id: str
    channel_id: str
    viewer: RedemptionViewerOut
    reward_id: str
    reward_kind: RewardKind
    title: str
    cost: int
    text: str
    status: RedemptionStatus
    stream_id: str
    at: datetime
    decided_by: str | None


class RedeemOut(_Out):
    redemption: RedemptionOut
    balance: int = Field(description="my points in this channel after it")


class RedemptionList(_Out):
    items: list[RedemptionOut]


class MyPointsRow(_Out):
    channel_id: str
    balance: int


class MyPointsOut(_Out):
    items: list[MyPointsRow]


class AchievementOut(_Out):
    id: str
    title: str
    description: str
    unlocked: bool
    progress: int
    target: int


class AchievementList(_Out):
    items: list[AchievementOut]


WEEK_S = 7 * 24 * 3600


class CreateRewardBody(Body):
    kind: Literal["highlight", "sound", "request"]
    title: str = Field(min_length=1, max_length=45)
    cost: int = Field(ge=1, le=10_000_000)
    prompt: str = Field(default="", max_length=200)
    sound: str = Field(default="", pattern=r"^[a-z0-9_-]{0,40}$", description="a sound alert's sound (default chime)")
    cooldown_s: int = Field(default=0, ge=0, le=WEEK_S, description="for everyone, after any redemption")
    user_cooldown_s: int = Field(default=0, ge=0, le=WEEK_S, description="per viewer, after their redemption")
    enabled: bool = True


class ChangeRewardBody(Body):
    title: str | None = Field(default=None, min_length=1, max_length=45)
    cost: int | None = Field(default=None, ge=1, le=10_000_000)
    prompt: str | None = Field(default=None, max_length=200)
    sound: str | None = Field(default=None, pattern=r"^[a-z0-9_-]{1,40}$")
    cooldown_s: int | None = Field(default=None, ge=0, le=WEEK_S)
    user_cooldown_s: int | None = Field(default=None, ge=0, le=WEEK_S)
    enabled: bool | None = None


class RedeemBody(Body):
    idempotency_key: str = Field(
        pattern=r"^[A-Za-z0-9_.:-]{8,80}$", description="the client's key: a retry with it never pays twice"
    )
    text: str = Field(default="", max_length=300, description="the message (highlight) or the request's text")


class RewardsQuery(Query):
    all: bool = Field(default=False, description="also switched-off rewards (the channel's owner only)")


class QueueQuery(Query):
    status: RedemptionStatus = RedemptionStatus.UNFULFILLED
    limit: int = Field(default=50, ge=1, le=200)


@api.route(
    "GET",
    "/streams/{stream_id}/rewards",
    summary="The channel's rewards and, signed in, my points there",
    tags=("loyalty",),
    auth="optional",
    query=RewardsQuery,
    response=RewardsMenuOut,
    responses={403: "all=true is for the channel's owner", 404: "no such stream"},
)
async def list_rewards(call: Call) -> dict[str, Any]:
    q = call.query_as(RewardsQuery)
    menu = await call.ctx.use.points.menu(call.principal, StreamId(call.path["stream_id"]), include_disabled=q.all)
    return menu.to_dict()


@api.route(
    "POST",
    "/streams/{stream_id}/rewards",
    summary="Define a reward of the channel (its owner)",
    tags=("loyalty",),
    status=201,
    body=CreateRewardBody,
    response=RewardOut,
    responses={403: "not your channel", 404: "no such stream", 409: "too many rewards"},
)
async def create_reward(call: Call) -> dict[str, Any]:
    fields = call.body_as(CreateRewardBody).model_dump()
    reward = await call.ctx.use.points.create_reward(call.principal, StreamId(call.path["stream_id"]), fields)
    return reward.to_dict()


@api.route(
    "PATCH",
    "/streams/{stream_id}/rewards/{reward_id}",
    summary="Change a reward: title, cost, cooldowns, switched on or off (the channel's owner)",
    tags=("loyalty",),
    body=ChangeRewardBody,
    response=RewardOut,
    responses={403: "not your channel", 404: "no such stream or reward"},
)
async def change_reward(call: Call) -> dict[str, Any]:
    changes = call.body_as(ChangeRewardBody).model_dump(exclude_none=True)
    reward = await call.ctx.use.points.change_reward(
        call.principal, StreamId(call.path["stream_id"]), call.path["reward_id"], changes
    )
    return reward.to_dict()


class RewardDeletedOut(_Out):
    deleted: bool
    refunded: int


@api.route(
    "DELETE",
    "/streams/{stream_id}/rewards/{reward_id}",
    summary="Delete a reward (the channel's owner): the redemptions still waiting for it get their points back, once",
    tags=("loyalty",),
    response=RewardDeletedOut,
    responses={403: "not your channel", 404: "no such stream or reward"},
)
async def delete_reward(call: Call) -> dict[str, Any]:
    refunded = await call.ctx.use.points.delete_reward(
        call.principal, StreamId(call.path["stream_id"]), call.path["reward_id"]
    )
    return {"deleted": True, "refunded": refunded}


@api.route(
    "POST",
    "/streams/{stream_id}/rewards/{reward_id}/redeem",
    summary="Redeem a reward with the channel's points (a retry with the same idempotency key never pays twice)",
    tags=("loyalty",),
    body=RedeemBody,
    response=RedeemOut,
    responses={
        404: "no such stream or reward",
        409: "insufficient_points, reward_disabled",
        429: "reward_cooldown (retry_after_s)",
    },
)
async def redeem_reward(call: Call) -> dict[str, Any]:
    b = call.body_as(RedeemBody)
    return await call.ctx.use.points.redeem(
        call.principal, StreamId(call.path["stream_id"]), call.path["reward_id"], b.idempotency_key, b.text
    )


@api.route(
    "GET",
    "/streams/{stream_id}/redemptions",
    summary="The channel's redemptions: the request queue (unfulfilled, oldest first) or decided ones (newest first)",
    tags=("loyalty",),
    query=QueueQuery,
    response=RedemptionList,
    responses={403: "the channel's owner and moderators only", 404: "no such stream"},
)
async def list_redemptions(call: Call) -> dict[str, Any]:
    q = call.query_as(QueueQuery)
    items = await call.ctx.use.points.queue(call.principal, StreamId(call.path["stream_id"]), [q.status], q.limit)
    return {"items": [r.to_dict() for r in items]}


@api.route(
    "POST",
    "/streams/{stream_id}/redemptions/{redemption_id}/fulfil",
    summary="Mark a waiting redemption done (the channel's owner and moderators)",
    tags=("loyalty",),
    response=RedemptionOut,
    responses={403: "not a moderator here", 404: "no such redemption", 409: "decided already"},
)
async def fulfil_redemption(call: Call) -> dict[str, Any]:
    r = await call.ctx.use.points.fulfil(call.principal, StreamId(call.path["stream_id"]), call.path["redemption_id"])
    return r.to_dict()


@api.route(
    "POST",
    "/streams/{stream_id}/redemptions/{redemption_id}/refund",
    summary="Refund a waiting redemption: its points go back to the viewer, once",
    tags=("loyalty",),
    response=RedemptionOut,
    responses={403: "not a moderator here", 404: "no such redemption", 409: "decided already"},
)
async def refund_redemption(call: Call) -> dict[str, Any]:
    r = await call.ctx.use.points.refund(call.principal, StreamId(call.path["stream_id"]), call.path["redemption_id"])
    return r.to_dict()


@api.route(
    "GET",
    "/me/points",
    summary="My channel points in every channel, largest first",
    tags=("loyalty",),
    response=MyPointsOut,
)
async def my_points(call: Call) -> dict[str, Any]:
    return {"items": await call.ctx.use.points.my_points(call.principal)}


@api.route(
    "GET",
    "/users/{user_id}/achievements",
    summary="A user's achievements, computed from what is recorded (gifts, follows, watch time, chat, redemptions)",
    tags=("loyalty",),
    auth="optional",
    response=AchievementList,
    responses={404: "no such user"},
)
async def achievements(call: Call) -> dict[str, Any]:
    return {"items": await call.ctx.use.points.achievements(call.principal, UserId(call.path["user_id"]))}
