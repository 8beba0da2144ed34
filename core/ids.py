"""Typed identifiers. Every id is an opaque string; the types keep them from being mixed up."""

from __future__ import annotations

import secrets
from typing import NewType

UserId = NewType("UserId", str)
StreamId = NewType("StreamId", str)
MessageId = NewType("MessageId", str)
GiftId = NewType("GiftId", str)
TransferId = NewType("TransferId", str)
AccountId = NewType("AccountId", str)


def new_id() -> str:
    """A random 24-hex-character id, the same length as a MongoDB ObjectId."""
    return secrets.token_hex(12)
