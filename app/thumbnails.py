"""Directory thumbnails: the node holding a stream's publisher makes its picture every few seconds; every node serves
it from the database.

``ThumbnailMaker`` is a background task of each node. It follows the SFU's events to know which streams have their
publisher here (``PublisherStarted``/``PublisherStopped``; a stream whose publisher moved to another node stops
being ours and that node's maker takes over at its own ``PublisherStarted``). For each such stream, once per
``thumbnail_interval_s``, it asks the SFU for the latest cached keyframe picture (``Sfu.keyframe``: references to RTP
payloads, nothing decoded in the SFU, and nothing at all when the keyframe did not change since the last picture),
then depayloads, decodes, scales and encodes it in ONE thread of its own (``sfu.render_thumbnail``), off the event
loop and off every forwarding path: one decode per stream per interval, whatever the audience. The picture is stored
with a version (``rooms.thumbnails``).

``Thumbnails`` is the use case the HTTP edge serves it through (anyone may read it, as the directory).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from app.policy import Action, require
from app.principal import Principal
from core.errors import NotFoundError
from core.tasks import cancel_and_wait
from rooms.settings import RoomsSettings
from rooms.thumbnails import Thumbnail, ThumbnailService
from sfu import (
    KeyframeSnapshot,
    PublisherStarted,
    PublisherStopped,
    RenderedThumbnail,
    Sfu,
    SfuEvent,
    ThumbnailError,
    render_thumbnail,
)

log = logging.getLogger(__name__)

#: A stream without a picture yet is tried this often (its first keyframe may not be complete at the first try).
FIRST_TRY_EVERY_S = 1.0


class ThumbnailNotFoundError(NotFoundError):
    code = "thumbnail_not_found"


class Thumbnails:
    def __init__(self, thumbnails: ThumbnailService, interval_s: float) -> None:
        self._thumbnails = thumbnails
        #: How long a cache may keep a picture before it asks again: the time until a new one may exist.
        self.max_age_s = max(1, int(interval_s))

    async def image(self, who: Principal | None, stream_id: str) -> Thumbnail:
        """The stream's latest picture (anyone may see it, as the directory); 404 before the first one."""
        require(Action.BROWSE_STREAMS, who)
        thumb = await self._thumbnails.get(stream_id)
        if thumb is None:
            raise ThumbnailNotFoundError("this stream has no thumbnail (yet)")
        return thumb


@dataclass(slots=True)
class _Tracked:
    next_at: float = 0.0
    last_timestamp: int | None = None
    made: int = 0


class ThumbnailMaker:
    def __init__(self, sfu: Sfu, thumbnails: ThumbnailService, settings: RoomsSettings) -> None:
        self._sfu = sfu
        self._thumbnails = thumbnails
        self._settings = settings
        self._streams: dict[str, _Tracked] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        #: One thread: thumbnails of all streams take turns and never take more than one core.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="thumbnails")
        #: Pictures made, and the CPU time their rendering took (thread time: depayload, decode, scale, encode).
        self.made = 0
        self.failed = 0
        self.render_cpu_s = 0.0
        sfu.add_listener(self._on_sfu_event)

    @property
    def enabled(self) -> bool:
        return self._settings.thumbnail_interval_s > 0

    async def _on_sfu_event(self, event: SfuEvent) -> None:
        if isinstance(event, PublisherStarted):
            self._streams.setdefault(event.stream_id, _Tracked())
            self._wake.set()
        elif isinstance(event, PublisherStopped):
            self._streams.pop(event.stream_id, None)

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="thumbnail-maker")

    async def close(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self) -> None:
        while True:
            now = time.monotonic()
            due = [s for s, t in self._streams.items() if t.next_at <= now]
            for stream_id in due:
                try:
                    await self.make(stream_id)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("thumbnail failed", extra={"stream": stream_id})
            nexts = [t.next_at for t in self._streams.values()]
            delay = max(0.05, min(nexts, default=now + 60.0) - time.monotonic())
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)

    async def make(self, stream_id: str) -> int | None:
        """One attempt at the stream's picture; its new version, or None (publisher not here, no complete keyframe
        cached, or the keyframe is the one already pictured)."""
        tracked = self._streams.setdefault(stream_id, _Tracked())
        settings = self._settings
        tracked.next_at = time.monotonic() + (settings.thumbnail_interval_s if tracked.made else FIRST_TRY_EVERY_S)
        if not self._sfu.has_publisher(stream_id):
            self._streams.pop(stream_id, None)  # not ours (any more): the node holding the publisher makes it
            return None
        snap = await self._sfu.keyframe(stream_id, settings.thumbnail_width)
        if snap is None or snap.rtp_timestamp == tracked.last_timestamp:
            return None
        loop = asyncio.get_running_loop()
        try:
            rendered, cpu_s = await loop.run_in_executor(self._executor, self._render, snap)
        except ThumbnailError as exc:
            self.failed += 1
            log.info("no thumbnail from this keyframe: %s", exc, extra={"stream": stream_id})
            return None
        self.render_cpu_s += cpu_s
        self.made += 1
        tracked.made += 1
        tracked.last_timestamp = snap.rtp_timestamp
        return await self._thumbnails.save(
            stream_id, rendered.image, rendered.content_type, rendered.width, rendered.height
        )

    def _render(self, snap: KeyframeSnapshot) -> tuple[RenderedThumbnail, float]:
        started = time.thread_time()
        settings = self._settings
        rendered = render_thumbnail(
            snap, width=settings.thumbnail_width, fmt=settings.thumbnail_format, quality=settings.thumbnail_quality
        )
        return rendered, time.thread_time() - started
