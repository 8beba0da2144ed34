"""Opaque cursors for ``?cursor=&limit=`` pagination: URL-safe base64 of a small JSON list."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidInputError

MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"items": self.items, "next_cursor": self.next_cursor}


def encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def _bad_cursor() -> InvalidInputError:
    return InvalidInputError("cursor is not valid", field="cursor")


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The cursor's values: exactly ``arity`` strings or integers (a client may send anything here, so nothing else
    gets through to a query: no objects, lists, nulls, booleans or floats)."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise _bad_cursor() from None
    if not isinstance(values, list) or len(values) != arity:
        raise _bad_cursor()
    if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
        raise _bad_cursor()
    return values


#: Cursor times outside these bounds cannot come from a page the server made.
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(9000, 1, 1, tzinfo=UTC)


def decode_time_cursor(cursor: str) -> tuple[datetime, str]:
    """A ``[time, id]`` cursor as a timezone-aware UTC time and an id; the time may be ISO 8601 text or epoch
    milliseconds. Anything else is ``invalid_input`` on ``cursor``."""
    when, last_id = decode_cursor(cursor, 2)
    if not isinstance(last_id, str):
        raise _bad_cursor()
    try:
        if isinstance(when, int):
            at = datetime.fromtimestamp(when / 1000, UTC)
        else:
            at = datetime.fromisoformat(when)
            at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        raise _bad_cursor() from None
    if not _EARLIEST <= at < _LATEST:
        raise _bad_cursor()
    return at, last_id


def clamp_limit(limit: int | None, default: int = 20) -> int:
    if limit is None:
        return default
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_LIMIT}", field="limit")
    return limit
