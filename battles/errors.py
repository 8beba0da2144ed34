"""Battle errors with stable codes (docs/protocol.md, PK battles)."""

from __future__ import annotations

from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError


class BattleNotFoundError(NotFoundError):
    code = "battle_not_found"


class BattleStateError(ConflictError):
    """The battle is not in a state that allows this (accepting an expired invitation, quitting a closed battle)."""

    code = "battle_state"


class StreamerBusyError(ConflictError):
    """One of the two streamers is already in a battle or an open invitation (one at a time)."""

    code = "streamer_busy"


class StreamerNotLiveError(ConflictError):
    code = "streamer_not_live"


class SelfBattleError(InvalidInputError):
    code = "self_battle"


class BattleNotAllowedError(ForbiddenError):
    """A suspended streamer, or one banned or timed out in the other's channel."""

    code = "battle_not_allowed"


class NotInBattleError(ForbiddenError):
    """The caller is not the streamer this step belongs to (only the invited side accepts, ...)."""

    code = "not_in_battle"
