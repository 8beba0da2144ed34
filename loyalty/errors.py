"""Loyalty errors: stable codes the edges show to clients."""

from __future__ import annotations

from core.errors import ConflictError, NotFoundError, RateLimitedError


class InsufficientPointsError(ConflictError):
    code = "insufficient_points"


class RewardNotFoundError(NotFoundError):
    code = "reward_not_found"


class RewardDisabledError(ConflictError):
    code = "reward_disabled"


class RewardCooldownError(RateLimitedError):
    """The reward (for everyone, or for this viewer) is cooling down; ``retry_after_s`` says how long."""

    code = "reward_cooldown"


class RedemptionNotFoundError(NotFoundError):
    code = "redemption_not_found"


class RedemptionStateError(ConflictError):
    """Done or refunded already (a redemption is decided once)."""

    code = "redemption_decided"


class EntryInProgressError(ConflictError):
    code = "points_entry_in_progress"


class TooManyRewardsError(ConflictError):
    code = "too_many_rewards"
