"""Overlay keys: the secret in a stream's OBS browser-source URLs (alerts, goal bar, chat box, top gifters).

Not the stream key (which publishes) and not a user's token (which acts for a person): an overlay key only lets a
page *read* one stream's room. Each stream has at most one active key; rotating issues a new one and revokes every
older one, so a leaked URL is cut off by rotating (there is no separate "revoke": rotate is revoke). Keys are
random (``secrets``), compared by lookup of the whole value, and shown only to the stream's owner.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from core.clock import Clock
from core.errors import ForbiddenError
from core.ids import StreamId, UserId
from rooms.store_overlays import OverlayKeyStore

KEY_PREFIX = "ovl_"
_KEY = re.compile(r"^ovl_[A-Za-z0-9_-]{32}$")


class InvalidOverlayKeyError(ForbiddenError):
    code = "invalid_overlay_key"


@dataclass(frozen=True, slots=True)
class OverlayBinding:
    """What an overlay connection may see: one stream's room, for as long as its key is not revoked."""

    key: str
    stream_id: StreamId
    owner_id: UserId


def new_overlay_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(24)  # 24 bytes → 32 URL-safe characters


class OverlayKeys:
    def __init__(self, store: OverlayKeyStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def current(self, stream_id: StreamId, owner_id: UserId) -> str:
        """The stream's active key; one is issued the first time it is asked for."""
        doc = await self._store.active_for(stream_id)
        if doc is not None:
            return str(doc["_id"])
        return await self.rotate(stream_id, owner_id)

    async def rotate(self, stream_id: StreamId, owner_id: UserId) -> str:
        """A new key; every older key of the stream stops working (connected overlays are told by the caller)."""
        key = new_overlay_key()
        now = self._clock.now()
        await self._store.insert(key, stream_id, owner_id, now)
        await self._store.revoke_all(stream_id, now, keep=key)
        return key

    async def resolve(self, key: object) -> OverlayBinding:
        """The stream a key opens, or ``invalid_overlay_key`` (unknown, malformed or revoked)."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise InvalidOverlayKeyError("this overlay link is not valid")
        doc = await self._store.get(key)
        if doc is None or doc.get("revoked_at") is not None:
            raise InvalidOverlayKeyError("this overlay link was revoked or never existed")
        return OverlayBinding(key, StreamId(doc["stream_id"]), UserId(doc["owner_id"]))
