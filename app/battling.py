"""PK battles: invite another live streamer, answer, leave, ask for a random opponent, read a room's battle.

Every step is the streamer's own (``Action.PK_BATTLE``: the stream's owner, signed in, not suspended, not banned in
the channel, the stream not ended). What the policy cannot see is checked here, for both streamers: each stream is
live, the two are different people, neither account is suspended and neither is banned or timed out in the other's
channel (``battle_not_allowed``). The battle's invariants (one at a time, timers, scores) are ``battles.service``'s.
"""

from __future__ import annotations

from typing import Any

from accounts.service import AccountService
from app.access import RoomAccess
from app.policy import Action
from app.principal import Principal
from battles.errors import BattleNotAllowedError, NotInBattleError, SelfBattleError, StreamerNotLiveError
from battles.models import Battle, Side
from battles.service import BattleService
from core.clock import Clock
from core.ids import StreamId, UserId
from rooms.chat import ChatService
from rooms.models import Stream, StreamStatus
from rooms.streams import StreamService


class Battling:
    def __init__(
        self,
        access: RoomAccess,
        streams: StreamService,
        chat: ChatService,
        accounts: AccountService,
        battles: BattleService,
        clock: Clock,
    ) -> None:
        self._access = access
        self._streams = streams
        self._chat = chat
        self._accounts = accounts
        self._battles = battles
        self._clock = clock

    def _public(self, battle: Battle | None) -> dict[str, Any] | None:
        return battle.public(self._clock.now()) if battle else None

    async def _mine(self, who: Principal | None, stream_id: StreamId) -> tuple[Principal, Stream]:
        stream = await self._access.authorize(Action.PK_BATTLE, stream_id, who)
        assert who is not None
        if stream.status is not StreamStatus.LIVE:
            raise StreamerNotLiveError("go live first")
        return who, stream

    async def _pair(self, mine: Stream, theirs: Stream) -> tuple[Side, Side]:
        """Both sides, if these two streamers may battle now."""
        if theirs.status is not StreamStatus.LIVE:
            raise StreamerNotLiveError("that streamer is not live", stream_id=theirs.id)
        if theirs.owner_id == mine.owner_id:
            raise SelfBattleError("pick another streamer's stream")
        users = await self._accounts.get_users([UserId(mine.owner_id), UserId(theirs.owner_id)])
        me, them = users.get(UserId(mine.owner_id)), users.get(UserId(theirs.owner_id))
        if me is None or them is None or me.suspended or them.suspended:
            raise BattleNotAllowedError("this streamer cannot battle now")
        if await self._chat.restriction(theirs, mine.owner_id) or await self._chat.restriction(mine, theirs.owner_id):
            raise BattleNotAllowedError("one of you is banned or timed out in the other's channel")
        return Side(me.id, mine.id, me.nickname), Side(them.id, theirs.id, them.nickname)

    async def invite(self, who: Principal | None, stream_id: StreamId, opponent_stream_id: StreamId) -> dict[str, Any]:
        _, mine = await self._mine(who, stream_id)
        theirs = await self._streams.get(opponent_stream_id, moderators=False)
        a, b = await self._pair(mine, theirs)
        return {"battle": self._public(await self._battles.invite(a, b))}

    async def _own_side(self, who: Principal | None, stream_id: StreamId, battle_id: str) -> tuple[Battle, Stream]:
        """The battle and the caller's stream in it: the caller must own ``stream_id`` (the policy) and that stream
        must be one of the battle's sides."""
        stream = await self._access.authorize(Action.PK_BATTLE, stream_id, who)
        battle = await self._battles.get(battle_id)
        if battle.side_of_stream(stream.id) is None:
            raise NotInBattleError("this stream is not in that battle")
        return battle, stream

    async def accept(self, who: Principal | None, stream_id: StreamId, battle_id: str) -> dict[str, Any]:
        battle, mine = await self._own_side(who, stream_id, battle_id)
        assert who is not None
        if battle.side_of_stream(mine.id) != "b":
            raise NotInBattleError("only the invited streamer can answer")
        if mine.status is not StreamStatus.LIVE:
            raise StreamerNotLiveError("go live first")
        theirs = await self._streams.get(StreamId(battle.a.stream_id), moderators=False)
        await self._pair(mine, theirs)  # still both live and allowed
        return {"battle": self._public(await self._battles.accept(battle_id, who.user_id))}

    async def decline(self, who: Principal | None, stream_id: StreamId, battle_id: str) -> dict[str, Any]:
        await self._own_side(who, stream_id, battle_id)
        assert who is not None
        return {"battle": self._public(await self._battles.decline(battle_id, who.user_id))}

    async def cancel(self, who: Principal | None, stream_id: StreamId, battle_id: str) -> dict[str, Any]:
        await self._own_side(who, stream_id, battle_id)
        assert who is not None
        return {"battle": self._public(await self._battles.cancel(battle_id, who.user_id))}

    async def quit(self, who: Principal | None, stream_id: StreamId, battle_id: str) -> dict[str, Any]:
        await self._own_side(who, stream_id, battle_id)
        assert who is not None
        return {"battle": self._public(await self._battles.quit(battle_id, who.user_id))}

    async def match(self, who: Principal | None, stream_id: StreamId) -> dict[str, Any]:
        """A battle with a random opted-in live streamer at once, or ``queued`` until one asks."""
        _, mine = await self._mine(who, stream_id)

        async def eligible(other: Side) -> bool:
            try:
                theirs = await self._streams.get(StreamId(other.stream_id), moderators=False)
                await self._pair(mine, theirs)
            except (StreamerNotLiveError, SelfBattleError, BattleNotAllowedError):
                return False
            return True

        me = Side(mine.owner_id, mine.id, who.nickname if who else None)
        battle = await self._battles.match(me, eligible)
        return {"battle": self._public(battle), "queued": battle is None}

    async def cancel_match(self, who: Principal | None, stream_id: StreamId) -> dict[str, Any]:
        await self._access.authorize(Action.PK_BATTLE, stream_id, who)
        assert who is not None
        return {"removed": await self._battles.cancel_match(who.user_id)}

    async def state(self, who: Principal | None, stream_id: StreamId) -> dict[str, Any]:
        """The room's invitation or battle (after-period included), or null: for pages joining mid-battle."""
        await self._access.authorize(Action.READ_ROOM, stream_id, who)
        return {"battle": self._public(await self._battles.current(stream_id))}

    async def tag(self, stream: Stream) -> tuple[str, str] | None:
        """(battle id, side) a gift to ``stream`` counts for now (the gift use case stamps it on the transfer)."""
        if stream.status is not StreamStatus.LIVE:
            return None
        return await self._battles.tag(stream.owner_id, stream.id)
