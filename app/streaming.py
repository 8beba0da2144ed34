"""Going live, watching and ending, for both edges: publishing by stream key (WHIP) or by a signed-in owner
(``rtc:publish``), watching (WHEP, ``rtc:subscribe``), going live, ending. The key stands for its owner: the owner's
account is read fresh and goes through the same policy, so a suspended streamer's keys publish nothing. The
lifecycle itself (live, grace, resumed, ended) is ``app.lifecycle.StreamLifecycle``.

WHIP and WHEP sessions are addressed by URL after the POST (``DELETE``, ``PATCH``): the session URL is the
capability, so those calls take the stream and session ids and check only that the session belongs to the stream."""

from __future__ import annotations

from typing import Any

from app.access import RoomAccess
from app.lifecycle import Published, StreamLifecycle
from app.policy import Action, require
from app.principal import Identity, Principal
from core.errors import ForbiddenError, UnauthenticatedError
from core.ids import StreamId
from rooms.errors import StreamEndedError, StreamNotFoundError
from rooms.models import Stream
from rooms.presence import PresenceService
from rooms.streams import StreamService
from sfu import SessionClosed, SessionNotFoundError, Sfu, SfuEvent, StreamNotLiveError


class GoingLive:
    def __init__(
        self,
        access: RoomAccess,
        streams: StreamService,
        identity: Identity,
        lifecycle: StreamLifecycle,
        sfu: Sfu,
        presence: PresenceService | None = None,
    ) -> None:
        self._access = access
        self._streams = streams
        self._identity = identity
        self._lifecycle = lifecycle
        self._sfu = sfu
        # WHEP viewers join no Socket.IO room: each session counts in the room's presence (``whep:{session}``)
        # until the SFU closes it, so the directory's and the room's viewer counts include them.
        self._presence = presence
        self._whep: dict[str, str] = {}  # session id -> stream id
        sfu.add_listener(self._on_sfu_event)

    async def publish_with_key(self, stream_id: StreamId, stream_key: str, offer_sdp: str) -> Published:
        """WHIP: the stream key proves the owner sent it; the owner must still be allowed to publish."""
        try:
            stream = await self._streams.authorize_publisher(stream_id, stream_key)
        except ForbiddenError:
            raise UnauthenticatedError("wrong stream key", code="invalid_stream_key") from None
        owner = await self._identity.user(stream.owner_id)
        stream, room = await self._access.room(stream.id, owner)
        require(Action.PUBLISH, owner, room)
        return await self._lifecycle.publish(stream, offer_sdp)

    async def publish(self, who: Principal | None, stream_id: StreamId, offer_sdp: str) -> Published:
        """``rtc:publish``: the signed-in owner of a stream that has not ended, not suspended."""
        stream = await self._access.authorize(Action.PUBLISH, stream_id, who)
        return await self._lifecycle.publish(stream, offer_sdp)

    async def publisher_disconnected(self, stream_id: StreamId, session_id: str) -> None:
        await self._lifecycle.publisher_disconnected(stream_id, session_id)

    async def stop_publishing(self, session_id: str) -> None:
        await self._lifecycle.stop_publishing(session_id)

    async def watch(
        self,
        who: Principal | None,
        stream_id: StreamId,
        offer_sdp: str,
        client: str,
        *,
        address: str = "",
        layer: str = "auto",
    ) -> tuple[str, str]:
        """``rtc:subscribe`` and WHEP: (session id, answer SDP). Guests may watch; suspended accounts may not.
        ``client`` (a socket id, or WHEP's address) and ``address`` each may have only a few viewer sessions still
        connecting (``HUB_SFU_MAX_PENDING_PER_CLIENT``). ``layer``: the simulcast preference to start with
        (auto/high/medium/low; the edge has checked it)."""
        stream = await self._access.authorize(Action.WATCH, stream_id, who)
        app_data = {"stream_id": stream.id, "user_id": who.user_id if who else None, "client": client}
        keys = (f"client:{client}", f"address:{address}") if address and address != client else (f"client:{client}",)
        session_id, answer = await self._sfu.subscribe(stream.id, offer_sdp, app_data, keys)
        if layer != "auto":
            await self._sfu.set_layer(session_id, layer)
        return session_id, answer

    async def choose_layer(
        self, stream_id: StreamId, session_id: str, layer: str, screen: tuple[int, int] | None = None
    ) -> str | None:
        """A viewer's simulcast choice (WHEP ``POST .../layer``, ``rtc:layer``): the session must belong to the
        stream. Returns the rid of the layer it will get (None for a single-layer stream)."""
        return await self._sfu.set_layer(self.session_of(stream_id, session_id), layer, screen)

    async def watch_live(
        self, who: Principal | None, stream_id: StreamId, offer_sdp: str, client: str, *, layer: str = "auto"
    ) -> tuple[str, str]:
        """WHEP: as ``watch``, except that a stream that does not exist or has ended is ``stream_not_live`` (404),
        after the offer is read, so a malformed offer is ``invalid_sdp`` (400) whatever the stream id."""
        try:
            session_id, answer = await self.watch(who, stream_id, offer_sdp, client, layer=layer)
        except StreamNotFoundError:
            # Nothing to authorize: the SFU still reads the offer first and, well-formed, finds no router.
            await self._sfu.subscribe(stream_id, offer_sdp, {"client": client})
            raise StreamNotLiveError("this stream is not live") from None
        except StreamEndedError:
            raise StreamNotLiveError("this stream is not live") from None
        if self._presence is not None:
            self._whep[session_id] = stream_id
            await self._presence.join(stream_id, f"whep:{session_id}")
        return session_id, answer

    async def _on_sfu_event(self, event: SfuEvent) -> None:
        if isinstance(event, SessionClosed) and self._presence is not None:
            stream_id = self._whep.pop(event.session_id, None)
            if stream_id is not None:
                await self._presence.leave(stream_id, f"whep:{event.session_id}")

    async def stop_watching(self, session_id: str) -> None:
        await self._sfu.close_session(session_id)

    @property
    def ice_servers(self) -> tuple[dict[str, Any], ...]:
        """The STUN/TURN servers clients are told about (WHIP/WHEP ``Link`` headers)."""
        return self._sfu.settings.ice_servers

    def session_of(self, stream_id: StreamId, session_id: str) -> str:
        """``session_id`` if that session (open, or closed not long ago) belongs to ``stream_id``; else
        ``session_not_found``."""
        try:
            if self._sfu.session_stream(session_id) != stream_id:
                raise SessionNotFoundError("no such session")
        except SessionNotFoundError:
            raise SessionNotFoundError("no such session") from None
        return session_id

    async def hang_up(self, stream_id: StreamId, session_id: str) -> None:
        """WHIP/WHEP ``DELETE``: the session ends whatever its peer's state; a publisher's stream ends at once."""
        await self._sfu.close_session(self.session_of(stream_id, session_id))

    async def trickle(self, stream_id: StreamId, session_id: str, fragment: str) -> None:
        """WHIP/WHEP ``PATCH``: the client's trickled ICE candidates (an RFC 8840 fragment) for the session."""
        await self._sfu.trickle(self.session_of(stream_id, session_id), fragment)

    async def go_live(self, who: Principal | None, stream_id: StreamId) -> Stream:
        await self._access.authorize(Action.GO_LIVE, stream_id, who)
        return await self._streams.go_live(stream_id)

    async def end(self, who: Principal | None, stream_id: StreamId) -> Stream:
        stream = await self._access.authorize(Action.END_STREAM, stream_id, who)
        assert who is not None
        reason = "ended_by_owner" if who.user_id == stream.owner_id else "ended_by_staff"
        return await self._lifecycle.end(stream_id, reason)
