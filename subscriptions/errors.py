"""Subscription errors: stable codes the edges show to clients."""

from __future__ import annotations

from core.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError


class UnknownTierError(InvalidInputError):
    code = "unknown_tier"


class AlreadySubscribedError(ConflictError):
    code = "already_subscribed"


class NotSubscribedError(NotFoundError):
    code = "not_subscribed"


class SelfSubscriptionError(ForbiddenError):
    code = "self_subscription"


class ChannelNotFoundError(NotFoundError):
    code = "channel_not_found"


class BadEmoteError(InvalidInputError):
    code = "bad_emote"


class EmoteLimitError(ConflictError):
    code = "emote_limit"


class EmoteNotFoundError(NotFoundError):
    code = "emote_not_found"
