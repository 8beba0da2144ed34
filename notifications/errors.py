from __future__ import annotations

from core.errors import NotFoundError


class PushUnavailableError(NotFoundError):
    """Web Push is not configured on this hub (no VAPID key)."""

    code = "push_unavailable"
