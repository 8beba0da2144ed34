"""``/cluster/nodes``: where a viewer may watch (every live node's public address, best first)."""

from __future__ import annotations

from typing import Any

from mobile_api.routing import Api, Call
from mobile_api.schemas import NodeListOut

api = Api()


@api.route(
    "GET",
    "/cluster/nodes",
    summary="The live nodes a viewer may watch on, best first (pages keep the list and move there when their node "
    "goes away)",
    tags=("media",),
    auth="none",
    response=NodeListOut,
)
async def live_nodes(call: Call) -> dict[str, Any]:
    return (await call.ctx.use.nodes.live(call.principal)).to_dict()
