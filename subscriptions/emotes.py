"""A channel's subscriber emotes: the streamer uploads small images (PNG, WebP or GIF, checked by their bytes, within a
size and byte cap), each with a code; a subscriber's chat message that contains a code as a word shows the emote.

Images are stored in MongoDB with their bytes (``subs_emotes``), so every node serves them; an emote is immutable
(a new image is a new emote with a new id), which is what lets its URL be cached for a year.
"""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from typing import Any

from core.clock import Clock
from core.ids import new_id
from subscriptions.errors import BadEmoteError, EmoteLimitError, EmoteNotFoundError
from subscriptions.images import inspect_image
from subscriptions.settings import SubscriptionsSettings
from subscriptions.store import DuplicateEmoteError, SubscriptionStore

CODE = re.compile(r"^[A-Za-z][A-Za-z0-9]{2,24}$")
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]{2,24}")
EMOTES_PER_MESSAGE = 20
#: Chat resolves a subscriber's message against the channel's emotes through a per-node cache this fresh (an upload
#: or a delete on this node clears the channel's entry at once; on other nodes it shows within this).
CODES_CACHE_S = 2.0
CODES_CACHE_MAX = 10_000


@dataclass(frozen=True, slots=True)
class Emote:
    id: str
    channel_id: str
    code: str
    content_type: str
    width: int
    height: int

    @property
    def url(self) -> str:
        return f"/api/v1/emotes/{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "channel_id": self.channel_id,
            "code": self.code,
            "content_type": self.content_type,
            "width": self.width,
            "height": self.height,
            "url": self.url,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Emote:
        return cls(
            doc["_id"], doc["channel_id"], doc["code"], doc["content_type"], int(doc["width"]), int(doc["height"])
        )


@dataclass(frozen=True, slots=True)
class EmoteImage:
    emote: Emote
    data: bytes
    etag: str


class EmoteService:
    def __init__(self, store: SubscriptionStore, clock: Clock, settings: SubscriptionsSettings) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._codes: dict[str, tuple[float, dict[str, Emote]]] = {}

    async def upload(self, channel_id: str, code: str, data: bytes) -> Emote:
        if not CODE.match(code):
            raise BadEmoteError("an emote code is 3-25 letters and digits, starting with a letter", field="code")
        if len(data) > self._settings.emote_max_bytes:
            raise BadEmoteError(f"an emote image may be at most {self._settings.emote_max_bytes} bytes", field="image")
        info = inspect_image(data)
        cap = self._settings.emote_max_px
        if info.width > cap or info.height > cap:
            raise BadEmoteError(f"an emote image may be at most {cap}x{cap} pixels", field="image")
        if await self._store.count_emotes(channel_id) >= self._settings.emotes_per_channel:
            raise EmoteLimitError(f"a channel may have at most {self._settings.emotes_per_channel} emotes")
        emote = Emote(new_id(), channel_id, code, info.content_type, info.width, info.height)
        try:
            await self._store.insert_emote(
                {
                    "_id": emote.id,
                    "channel_id": channel_id,
                    "code": code,
                    "content_type": info.content_type,
                    "width": info.width,
                    "height": info.height,
                    "bytes": len(data),
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "data": data,
                    "created_at": self._clock.now(),
                }
            )
        except DuplicateEmoteError:
            raise BadEmoteError(f"this channel already has an emote {code!r}", code="emote_code_taken") from None
        self._codes.pop(channel_id, None)
        return emote

    async def of_channel(self, channel_id: str) -> list[Emote]:
        return [Emote.from_doc(d) for d in await self._store.emotes_of(channel_id)]

    async def image(self, emote_id: str) -> EmoteImage:
        doc = await self._store.get_emote(emote_id) if len(emote_id) <= 64 else None
        if doc is None:
            raise EmoteNotFoundError("no such emote")
        return EmoteImage(Emote.from_doc(doc), bytes(doc["data"]), f'"{doc["sha256"][:32]}"')

    async def delete(self, channel_id: str, emote_id: str) -> None:
        if not await self._store.delete_emote(channel_id, emote_id):
            raise EmoteNotFoundError("no such emote in your channel")
        self._codes.pop(channel_id, None)

    async def in_text(self, channel_id: str, text: str) -> tuple[tuple[str, str], ...]:
        """The channel's emotes a message uses, as (code, url), each once, in order of first use."""
        words = list(dict.fromkeys(_WORD.findall(text)))
        if not words:
            return ()
        by_code = await self._by_code(channel_id)
        found = [(w, by_code[w].url) for w in words if w in by_code]
        return tuple(found[:EMOTES_PER_MESSAGE])

    async def _by_code(self, channel_id: str) -> dict[str, Emote]:
        now = time.monotonic()
        hit = self._codes.get(channel_id)
        if hit is None or hit[0] <= now:
            if len(self._codes) >= CODES_CACHE_MAX:
                self._codes.clear()
            hit = (now + CODES_CACHE_S, {e.code: e for e in await self.of_channel(channel_id)})
            self._codes[channel_id] = hit
        return hit[1]
