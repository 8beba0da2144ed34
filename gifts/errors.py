"""Gift errors with stable codes."""

from __future__ import annotations

from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError


class GiftNotFoundError(NotFoundError):
    code = "gift_not_found"


class SelfGiftError(InvalidInputError):
    code = "self_gift"


class UserBlockedError(ForbiddenError):
    code = "user_blocked"


class StreamNotLiveError(ConflictError):
    code = "stream_not_live"


class DailySpendCapError(ForbiddenError):
    code = "daily_spend_cap"


class CatalogueVersionError(ConflictError):
    code = "gift_version_conflict"
