"""Channel subscriptions over HTTP: the tiers, subscribing (Stripe Checkout for the web, an incomplete subscription and
its client secret for the app), my memberships, cancel at period end / resume, gifting a month paid in coins, and a
channel's emotes (upload and delete for one's own channel; the images are served to anyone, cached for a year)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field
from starlette.responses import Response

from app.requests import IdempotencyKey
from mobile_api.routing import Api, Body, Call, Query, read_limited
from mobile_api.schemas import OpenOut, Out

api = Api()
TAGS = ("subscriptions",)


class TierOut(Out):
    id: str
    name: str
    price_cents: int
    currency: str
    coins: int = Field(description="the price of one gifted month, in coins")


class TierList(Out):
    version: int
    items: list[TierOut]


class MembershipOut(Out):
    channel_id: str
    user_id: str
    tier_id: str
    status: str = Field(description="the Stripe subscription's status, or none for gifted months only")
    active: bool = Field(description="the perks hold now")
    months: int
    until: str | None
    cancel_at_period_end: bool
    stripe_subscription_id: str | None


class MembershipList(Out):
    items: list[MembershipOut]


class SubscribeOut(OpenOut):
    """``checkout_url`` + ``checkout_session_id`` (web), or ``subscription_id`` + ``client_secret`` (mobile: confirm
    the first invoice's payment with Stripe's SDK)."""

    method: str
    tier: TierOut


class SubGiftOut(Out):
    transfer_id: str
    recipient_id: str
    channel_id: str
    tier_id: str
    coins: int
    balance: int
    membership: MembershipOut


class EmoteOut(Out):
    id: str
    channel_id: str
    code: str
    content_type: str
    width: int
    height: int
    url: str


class EmoteList(Out):
    items: list[EmoteOut]


class SubscribeBody(Body):
    tier_id: str = Field(max_length=64)
    method: Literal["checkout", "subscription"] = "checkout"


class SubGiftBody(Body):
    recipient_id: str | None = Field(default=None, max_length=64, description="none: draw a viewer of stream_id")
    stream_id: str | None = Field(default=None, max_length=64, description="the channel's stream to draw from")
    tier_id: str = Field(max_length=64)
    idempotency_key: IdempotencyKey


class EmoteQuery(Query):
    code: str = Field(default="", max_length=64)


@api.route(
    "GET", "/subscriptions/tiers", summary="The subscription tiers on sale", tags=TAGS, auth="none", response=TierList
)
async def list_sub_tiers(call: Call) -> dict[str, Any]:
    return call.ctx.use.subscribing.tiers(call.principal)


@api.route(
    "POST",
    "/channels/{user_id}/subscription",
    summary="Subscribe to a channel: a Stripe Checkout URL (web) or an incomplete subscription to confirm (mobile)",
    tags=TAGS,
    status=201,
    body=SubscribeBody,
    responses={
        403: "your own channel",
        404: "no such channel",
        409: "already subscribed",
        422: "unknown tier",
        503: "Stripe unreachable; nothing was charged",
    },
    response=SubscribeOut,
)
async def subscribe(call: Call) -> dict[str, Any]:
    b = call.body_as(SubscribeBody)
    return await call.ctx.use.subscribing.start(call.principal, call.path["user_id"], b.tier_id, b.method)


@api.route(
    "GET",
    "/channels/{user_id}/subscription",
    summary="My membership in a channel (months, until when, cancel at period end)",
    tags=TAGS,
    responses={404: "never subscribed"},
    response=MembershipOut,
)
async def get_membership(call: Call) -> dict[str, Any]:
    return await call.ctx.use.subscribing.membership(call.principal, call.path["user_id"])


@api.route(
    "POST",
    "/channels/{user_id}/subscription/cancel",
    summary="Cancel at the end of the paid period (the perks last until then)",
    tags=TAGS,
    responses={404: "no running subscription", 503: "Stripe unreachable; nothing changed"},
    response=MembershipOut,
)
async def cancel_subscription(call: Call) -> dict[str, Any]:
    return await call.ctx.use.subscribing.cancel(call.principal, call.path["user_id"])


class TierBody(Body):
    tier_id: str = Field(max_length=64)


@api.route(
    "POST",
    "/channels/{user_id}/subscription/tier",
    summary="Upgrade or downgrade a running subscription to another tier now (Stripe prorates the period's rest)",
    tags=TAGS,
    body=TierBody,
    responses={
        404: "no running subscription",
        409: "already at this tier",
        422: "unknown tier",
        503: "Stripe unreachable; nothing changed",
    },
    response=MembershipOut,
)
async def change_subscription_tier(call: Call) -> dict[str, Any]:
    b = call.body_as(TierBody)
    return await call.ctx.use.subscribing.change_tier(call.principal, call.path["user_id"], b.tier_id)


@api.route(
    "POST",
    "/channels/{user_id}/subscription/resume",
    summary="Take a cancellation back before the period ends",
    tags=TAGS,
    responses={404: "no running subscription", 503: "Stripe unreachable; nothing changed"},
    response=MembershipOut,
)
async def resume_subscription(call: Call) -> dict[str, Any]:
    return await call.ctx.use.subscribing.resume(call.principal, call.path["user_id"])


@api.route("GET", "/me/subscriptions", summary="My memberships", tags=TAGS, response=MembershipList)
async def my_subscriptions(call: Call) -> dict[str, Any]:
    return await call.ctx.use.subscribing.mine(call.principal)


@api.route(
    "POST",
    "/channels/{user_id}/subscription-gifts",
    summary="Gift a month of a tier to a viewer, paid with my coins (once per idempotency key)",
    tags=TAGS,
    status=201,
    body=SubGiftBody,
    responses={
        403: "your own channel, or your account cannot spend",
        404: "no such channel or recipient",
        409: "not enough coins (nothing changed), the key was used for another gift, or nobody to draw",
        422: "unknown tier",
    },
    response=SubGiftOut,
)
async def gift_subscription(call: Call) -> dict[str, Any]:
    b = call.body_as(SubGiftBody)
    return await call.ctx.use.subscribing.gift(
        call.principal, call.path["user_id"], b.recipient_id, b.tier_id, b.idempotency_key, stream_id=b.stream_id
    )


@api.route(
    "GET", "/channels/{user_id}/emotes", summary="A channel's emotes", tags=TAGS, auth="none", response=EmoteList
)
async def list_emotes(call: Call) -> dict[str, Any]:
    emotes = await call.ctx.use.subscribing.emotes(call.principal, call.path["user_id"])
    return {"items": [e.to_dict() for e in emotes]}


@api.route(
    "GET",
    "/emotes/{emote_id}",
    summary="An emote's image (PNG, WebP or GIF; immutable, cached for a year)",
    tags=TAGS,
    auth="none",
    responses={404: "no such emote"},
)
async def get_emote_image(call: Call) -> Response:
    image = await call.ctx.use.subscribing.emote_image(call.principal, call.path["emote_id"])
    headers = {
        "Cache-Control": "public, max-age=31536000, immutable",
        "ETag": image.etag,
        "X-Content-Type-Options": "nosniff",
    }
    if call.request.headers.get("if-none-match") == image.etag:
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type=image.emote.content_type, headers=headers)


@api.route(
    "POST",
    "/me/emotes",
    summary="Upload an emote for my channel: the image is the body (PNG, WebP or GIF), its code in ?code=",
    tags=TAGS,
    status=201,
    query=EmoteQuery,
    raw_body="application/octet-stream",
    responses={409: "the channel has its most emotes", 422: "not a PNG/WebP/GIF, too large, or a bad or taken code"},
    response=EmoteOut,
)
async def upload_emote(call: Call) -> dict[str, Any]:
    q = call.query_as(EmoteQuery)
    data = await read_limited(call.request, call.ctx.settings.max_body_bytes)
    return (await call.ctx.use.subscribing.upload_emote(call.principal, q.code, data)).to_dict()


@api.route(
    "DELETE",
    "/me/emotes/{emote_id}",
    summary="Delete one of my channel's emotes",
    tags=TAGS,
    responses={404: "no such emote"},
)
async def delete_emote(call: Call) -> None:
    await call.ctx.use.subscribing.delete_emote(call.principal, call.path["emote_id"])
