"""What the moderator console shows of a stream's media on the node answering (issue 13): the layers arriving, each
viewer's layer, preference, bandwidth estimate (and where it comes from) and layer switches, and the relay pipes
with the layers they carry. Read from the SFU's own stats; nothing is stored.

Per node: a viewer appears on the node its media session is on (the console's node may hold only some of them; the
answer names the ``relay`` when this node pulls the stream from another). With ``HUB_SFU_WORKERS`` > 0 the workers
report consumers summed per stream, so ``viewers`` is empty there and ``viewers_summed`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.access import RoomAccess
from app.policy import Action
from app.principal import Principal
from core.ids import StreamId
from sfu import Sfu

#: At most this many viewers are listed (the busiest node of a big stream holds thousands).
MAX_VIEWERS = 200


@dataclass(frozen=True, slots=True)
class StreamMedia:
    stream_id: str
    layers: list[dict[str, Any]] = field(default_factory=list)
    viewers: list[dict[str, Any]] = field(default_factory=list)
    viewers_total: int = 0
    viewers_summed: bool = False
    pipes: list[dict[str, Any]] = field(default_factory=list)
    relay: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "layers": self.layers,
            "viewers": self.viewers,
            "viewers_total": self.viewers_total,
            "viewers_summed": self.viewers_summed,
            "pipes": self.pipes,
            "relay": self.relay,
        }


def _estimator(consumer: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    if consumer.get("bwe"):
        return "transport_cc", consumer["bwe"]
    if consumer.get("report_bwe"):
        return "receiver_reports", consumer["report_bwe"]
    return None, None


def _viewer(consumer: dict[str, Any]) -> dict[str, Any]:
    source, details = _estimator(consumer)
    return {
        "session_id": consumer.get("session_id"),
        "layer": consumer.get("layer"),
        "preference": consumer.get("preference"),
        "paused": bool(consumer.get("paused")),
        "switches": consumer.get("switches", 0),
        "estimate_bps": consumer.get("estimate_bps"),
        "estimator": source,
        "estimator_state": details,
        "fraction_lost": consumer.get("fraction_lost"),
        "rtt_s": consumer.get("rtt_s"),
    }


class MediaStats:
    def __init__(self, access: RoomAccess, sfu: Sfu) -> None:
        self._access = access
        self._sfu = sfu

    async def of_stream(self, who: Principal | None, stream_id: StreamId) -> StreamMedia:
        """The room's moderators (owner, moderators, staff) only; 404 for no such stream."""
        await self._access.authorize(Action.READ_MODERATION, stream_id, who)
        stats = self._sfu.stats()
        router = next((r for r in stats.get("routers", []) if r.get("stream_id") == stream_id), None)
        if router is None:
            return StreamMedia(stream_id)
        layers = [
            {k: p.get(k) for k in ("rid", "width", "height", "bitrate_bps", "switches_in", "consumers")}
            for p in router.get("producers", [])
            if p.get("kind") == "video"
        ]
        summed = bool(stats.get("workers"))
        videos = [c for c in stats.get("consumers", []) if c.get("stream_id") == stream_id and c.get("kind") == "video"]
        viewers = [] if summed else [_viewer(c) for c in videos[:MAX_VIEWERS]]
        pipes = [
            {"id": p.get("id"), "connected": p.get("connected"), "tracks": p.get("tracks", [])}
            for p in router.get("pipes", [])
        ]
        relay = router.get("relay")
        return StreamMedia(
            stream_id,
            layers,
            viewers,
            router.get("consumers", 0) if summed else len(videos),
            summed,
            pipes,
            None
            if relay is None
            else {k: relay.get(k) for k in ("origin", "received", "demand", "layers_added", "layers_dropped")},
        )
