"""Socket.IO PK battle events (docs/protocol.md, "PK battles"): a streamer invites, answers, leaves or asks for a
random opponent; anyone in a room reads its battle (``pk:state``). The ``pk:*`` room events come from
``battles.service`` through the room fan-out."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.requests import ObjectId
from core.ids import StreamId
from signaling.events import EventContext, Payload, handler


class OnStream(Payload):
    stream_id: str = Field(max_length=64)


class Invite(OnStream):
    opponent_stream_id: ObjectId


class OnBattle(OnStream):
    battle_id: ObjectId


@handler("pk:invite", schema=Invite, auth=True)
async def pk_invite(ctx: EventContext, body: Invite) -> dict[str, Any]:
    return await ctx.use.battling.invite(ctx.principal, StreamId(body.stream_id), StreamId(body.opponent_stream_id))


@handler("pk:accept", schema=OnBattle, auth=True)
async def pk_accept(ctx: EventContext, body: OnBattle) -> dict[str, Any]:
    return await ctx.use.battling.accept(ctx.principal, StreamId(body.stream_id), body.battle_id)


@handler("pk:decline", schema=OnBattle, auth=True)
async def pk_decline(ctx: EventContext, body: OnBattle) -> dict[str, Any]:
    return await ctx.use.battling.decline(ctx.principal, StreamId(body.stream_id), body.battle_id)


@handler("pk:cancel", schema=OnBattle, auth=True)
async def pk_cancel(ctx: EventContext, body: OnBattle) -> dict[str, Any]:
    return await ctx.use.battling.cancel(ctx.principal, StreamId(body.stream_id), body.battle_id)


@handler("pk:quit", schema=OnBattle, auth=True)
async def pk_quit(ctx: EventContext, body: OnBattle) -> dict[str, Any]:
    return await ctx.use.battling.quit(ctx.principal, StreamId(body.stream_id), body.battle_id)


@handler("pk:match", schema=OnStream, auth=True)
async def pk_match(ctx: EventContext, body: OnStream) -> dict[str, Any]:
    return await ctx.use.battling.match(ctx.principal, StreamId(body.stream_id))


@handler("pk:match_cancel", schema=OnStream, auth=True)
async def pk_match_cancel(ctx: EventContext, body: OnStream) -> dict[str, Any]:
    return await ctx.use.battling.cancel_match(ctx.principal, StreamId(body.stream_id))


@handler("pk:state", schema=OnStream)
async def pk_state(ctx: EventContext, body: OnStream) -> dict[str, Any]:
    return await ctx.use.battling.state(ctx.principal, StreamId(body.stream_id))
