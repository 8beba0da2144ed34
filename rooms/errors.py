from __future__ import annotations

from core.errors import ConflictError, NotFoundError


class StreamNotFoundError(NotFoundError):
    code = "stream_not_found"


class StreamEndedError(ConflictError):
    code = "stream_ended"
