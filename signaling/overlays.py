"""Socket.IO events of OBS overlays: ``overlay:join`` (the connection's stream, whose key it connected with). An
overlay connection sends nothing else (``signaling.server.OVERLAY_EVENTS``); it hears the stream's room events and
the test alerts sent to the stream's overlays."""

from __future__ import annotations

from typing import Any

from signaling.events import EventContext, Payload, handler
from signaling.keys import stream_room


class OverlayJoin(Payload):
    """No fields: the stream is the one the overlay key opens."""


@handler("overlay:join", schema=OverlayJoin)
async def overlay_join(ctx: EventContext, body: OverlayJoin) -> dict[str, Any]:
    state = await ctx.use.overlays.join(ctx.conn.overlay)
    assert ctx.conn.overlay is not None  # join refused anything else
    await ctx.enter(stream_room(ctx.conn.overlay.stream_id))  # not a viewer: overlays are not counted
    return state.to_dict()
