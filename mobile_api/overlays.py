"""OBS overlays of a stream (its owner): the overlay links, a new key (the old links stop), a test alert."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from core.ids import StreamId
from mobile_api.routing import Api, Body, Call
from mobile_api.schemas import OverlayLinksOut, TestAlertOut

api = Api()


class TestAlertBody(Body):
    gift_id: str | None = Field(default=None, max_length=40, description="the gift to show; the cheapest if absent")


@api.route(
    "GET",
    "/streams/{stream_id}/overlays",
    summary="The stream's overlay links for OBS browser sources (owner); the key is issued on first use",
    tags=("overlays",),
    response=OverlayLinksOut,
    responses={403: "not your stream", 404: "no such stream"},
)
async def overlay_links(call: Call) -> dict[str, Any]:
    links = await call.ctx.use.overlays.links(call.principal, StreamId(call.path["stream_id"]))
    return links.to_dict()


@api.route(
    "POST",
    "/streams/{stream_id}/overlays/rotate",
    summary="A new overlay key: every older overlay link stops working, open overlays are disconnected",
    tags=("overlays",),
    response=OverlayLinksOut,
    responses={403: "not your stream", 404: "no such stream"},
)
async def rotate_overlay_key(call: Call) -> dict[str, Any]:
    links = await call.ctx.use.overlays.rotate(call.principal, StreamId(call.path["stream_id"]))
    return links.to_dict()


@api.route(
    "POST",
    "/streams/{stream_id}/overlays/test-alert",
    summary="Show a test gift alert on the stream's overlays only (marked test; no money moves)",
    tags=("overlays",),
    body=TestAlertBody,
    response=TestAlertOut,
    responses={403: "not your stream", 404: "no such stream or gift"},
)
async def send_test_alert(call: Call) -> dict[str, Any]:
    b = call.body_as(TestAlertBody)
    alert = await call.ctx.use.overlays.test_alert(call.principal, StreamId(call.path["stream_id"]), b.gift_id)
    return {"alert": alert}
