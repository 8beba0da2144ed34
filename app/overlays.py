"""OBS overlays: browser-source pages (alerts, goal bar, chat box, top gifters) that read one stream's room.

The stream's owner gets the overlay links (``links``), rotates their key (``rotate``: every older link stops at once,
and overlays connected with one are dropped), and sends a test alert (``test_alert``: drawn by the overlays only,
marked ``test``, no money moves). An overlay connects to the socket with its key instead of a token
(``connect``): a guest-like, read-only connection bound to that one stream, which can only ``join`` it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from app.access import RoomAccess
from app.policy import Action, require
from app.principal import Principal
from core.clock import Clock
from core.errors import ForbiddenError, NotFoundError, UnavailableError
from core.ids import StreamId, new_id
from gifts.service import GiftService
from rooms.chat import ChatService
from rooms.notify import RoomNotifier
from rooms.overlays import OverlayBinding, OverlayKeys

#: The overlay pages, each served at ``/overlay/{kind}`` with the key in the URL's fragment (``#key=...``: the
#: fragment never reaches a server log or a Referer header).
OVERLAY_KINDS = ("alerts", "goal", "chat", "top")
#: Pushed to a stream's overlay connections when its key changes: each re-checks its own key, and the revoked
#: ones are told ``overlay:revoked`` and closed.
OVERLAY_CHANGED = "overlay:changed"
TEST_MESSAGE = "This is a test alert"


class InvalidOverlayConnectionError(ForbiddenError):
    code = "overlay_only"


def overlay_audience(stream_id: str) -> str:
    """The pseudo-user whose room every overlay connection of a stream joins (test alerts, key changes)."""
    return f"overlay.{stream_id}"


@dataclass(frozen=True, slots=True)
class OverlayLinks:
    stream_id: StreamId
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "key": self.key,
            "overlays": [
                {"kind": kind, "path": f"/overlay/{kind}#key={self.key}", "width": 1920, "height": 1080}
                for kind in OVERLAY_KINDS
            ],
        }


@dataclass(frozen=True, slots=True)
class OverlayState:
    """What an overlay draws first: the stream, its goal, its top gifters and the recent chat."""

    stream: dict[str, Any]
    goal: dict[str, Any] | None
    leaderboard: list[dict[str, Any]] | None
    recent_chat: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "goal": self.goal,
            "leaderboard": self.leaderboard,
            "recent_chat": self.recent_chat,
        }


class Overlays:
    def __init__(
        self,
        access: RoomAccess,
        keys: OverlayKeys,
        chat: ChatService,
        gifts: GiftService,
        notifier: RoomNotifier,
        clock: Clock,
    ) -> None:
        self._access = access
        self._keys = keys
        self._chat = chat
        self._gifts = gifts
        self._notifier = notifier
        self._clock = clock

    async def links(self, who: Principal | None, stream_id: StreamId) -> OverlayLinks:
        """The stream's overlay links (its owner only); the key is issued the first time."""
        stream = await self._access.authorize(Action.MANAGE_OVERLAYS, stream_id, who)
        return OverlayLinks(stream.id, await self._keys.current(stream.id, stream.owner_id))

    async def rotate(self, who: Principal | None, stream_id: StreamId) -> OverlayLinks:
        """New links; the old ones stop working at once, also for overlays already open."""
        stream = await self._access.authorize(Action.MANAGE_OVERLAYS, stream_id, who)
        key = await self._keys.rotate(stream.id, stream.owner_id)
        await self._notifier.to_user(overlay_audience(stream.id), OVERLAY_CHANGED, {"stream_id": stream.id})
        return OverlayLinks(stream.id, key)

    async def test_alert(self, who: Principal | None, stream_id: StreamId, gift_id: str | None) -> dict[str, Any]:
        """A ``gift:received`` for the stream's overlays only, marked ``test: true``: nothing is debited, no ledger
        transfer, no leaderboard or goal change, and viewers do not see it."""
        stream = await self._access.authorize(Action.MANAGE_OVERLAYS, stream_id, who)
        assert who is not None
        gifts = await self._gifts.catalogue.list(include_inactive=False)
        gift = next((g for g in gifts if g.id == gift_id), None) if gift_id else (gifts[0] if gifts else None)
        if gift is None:
            raise NotFoundError("no such gift in the catalogue", code="gift_not_found")
        alert = {
            "stream_id": stream.id,
            "transfer_id": f"test:{new_id()}",
            "sender": {"id": who.user_id, "nickname": who.nickname},
            "gift": gift.public(),
            "count": 1,
            "combo": 1,
            "effect": gift.effect.to_dict(),
            "at": self._clock.now().isoformat(),
            "message": TEST_MESSAGE,
            "test": True,
        }
        await self._notifier.to_user(overlay_audience(stream.id), "gift:received", alert)
        return alert

    async def connect(self, key: object) -> OverlayBinding:
        """The stream an overlay key opens (``invalid_overlay_key`` when revoked or unknown). The key is the
        authority here, as a WHIP session URL is: the policy has the action, and anyone holding a key may."""
        require(Action.WATCH_OVERLAY, None)
        return await self._keys.resolve(key)

    async def join(self, binding: OverlayBinding | None) -> OverlayState:
        """What the overlay draws first. Only an overlay connection may (``overlay_only``), and only while its key
        still holds."""
        require(Action.WATCH_OVERLAY, None)
        if binding is None:
            raise InvalidOverlayConnectionError("connect with an overlay key (auth: {overlay}) to join as an overlay")
        binding = await self._keys.resolve(binding.key)
        stream, _ = await self._access.room(binding.stream_id, None, standing=False)
        try:
            leaderboard: list[dict[str, Any]] | None = await self._gifts.live_leaderboard(stream.id)
        except UnavailableError:
            leaderboard = None
        goal = await self._gifts.goals.get(stream.id)
        return OverlayState(
            stream=stream.to_public(),
            goal=goal.to_dict() if goal is not None else None,
            leaderboard=leaderboard,
            recent_chat=await self._chat.recent(stream.id),
        )
