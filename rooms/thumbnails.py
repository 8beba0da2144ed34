"""Stream thumbnails as the directory serves them: the latest still picture of each live stream, kept in the
database so that every node serves it, whichever node made it (the node holding the publisher, see
``app/thumbnails.py``). A picture has a version that counts up; its HTTP entity tag is built from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from core.clock import Clock
from rooms.store_thumbnails import ThumbnailStore


@dataclass(frozen=True, slots=True)
class Thumbnail:
    stream_id: str
    image: bytes
    content_type: str
    width: int
    height: int
    version: int
    taken_at: datetime

    @property
    def etag(self) -> str:
        """A strong entity tag (RFC 9110 section 8.8.3): the same bytes for as long as the version holds."""
        return f'"{self.stream_id}.{self.version}"'


class ThumbnailService:
    def __init__(self, store: ThumbnailStore, clock: Clock, node_id: str) -> None:
        self._store = store
        self._clock = clock
        self._node = node_id

    async def save(self, stream_id: str, image: bytes, content_type: str, width: int, height: int) -> int:
        """Store a new picture for the stream; returns its version."""
        return await self._store.put(stream_id, image, content_type, width, height, self._clock.now(), self._node)

    async def get(self, stream_id: str) -> Thumbnail | None:
        doc = await self._store.get(stream_id)
        if doc is None:
            return None
        return Thumbnail(
            stream_id,
            bytes(doc["image"]),
            str(doc["content_type"]),
            int(doc["width"]),
            int(doc["height"]),
            int(doc["version"]),
            doc["taken_at"],
        )

    async def versions(self, stream_ids: list[str]) -> dict[str, int]:
        return await self._store.versions(stream_ids)

    async def forget(self, stream_id: str) -> None:
        """The stream ended: its picture goes (the directory lists live streams only)."""
        await self._store.delete(stream_id)
