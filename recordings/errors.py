"""Recordings' errors (stable codes)."""

from __future__ import annotations

from core.errors import ConflictError, NotFoundError


class RecordingNotFoundError(NotFoundError):
    code = "recording_not_found"


class RecordingQuotaExceededError(ConflictError):
    code = "recording_quota_exceeded"


class AlreadyRecordingError(ConflictError):
    code = "already_recording"


class NotRecordingError(ConflictError):
    code = "not_recording"
