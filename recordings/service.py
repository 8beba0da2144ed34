"""Recordings' rules: one running recording per stream, quotas, segments as they finish, joining, retention.

The media plane writes the files; ``app/recording.py`` drives it and calls this service with what happened.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import datetime, timedelta

from core.clock import Clock
from core.ids import new_id
from recordings import remux
from recordings.errors import AlreadyRecordingError, RecordingNotFoundError, RecordingQuotaExceededError
from recordings.models import Recording, RecordingState, Segment
from recordings.settings import RecordingsSettings
from recordings.storage import Located, Storage
from recordings.store import RecordingStore

log = logging.getLogger(__name__)

MEDIA_TYPES = {".webm": "video/webm", ".mp4": "video/mp4"}


class RecordingService:
    def __init__(
        self, store: RecordingStore, storage: Storage, settings: RecordingsSettings, clock: Clock, node_id: str
    ) -> None:
        self.store = store
        self.storage = storage
        self.settings = settings
        self._clock = clock
        self.node_id = node_id
        self.joined = 0
        self.deleted = 0

    def now(self) -> datetime:
        return self._clock.now()

    # -- starting and quotas ---------------------------------------------------------------------------------

    async def quota_left(self, streamer_id: str) -> int:
        """Bytes the streamer may still record (the smaller of their quota and the platform's); <= 0: none."""
        mine = await self.store.bytes_used(streamer_id)
        everyone = await self.store.bytes_used()
        return min(
            self.settings.quota_bytes_per_streamer - mine,
            self.settings.quota_bytes_total - everyone,
        )

    async def begin(self, stream_id: str, streamer_id: str, title: str, *, node_id: str = "") -> Recording:
        """A new running recording of the stream (refused while one runs, or with no quota left)."""
        if await self.store.running_of_stream(stream_id) is not None:
            raise AlreadyRecordingError("this stream is being recorded already")
        if await self.quota_left(streamer_id) <= 0:
            raise RecordingQuotaExceededError(
                "the recordings quota is used up: delete recordings first",
                quota_bytes=self.settings.quota_bytes_per_streamer,
            )
        recording = Recording(
            id=new_id(),
            stream_id=stream_id,
            streamer_id=streamer_id,
            title=title,
            state=RecordingState.RECORDING,
            node_id=node_id,
            started_at=self._clock.now(),
        )
        await self.store.insert(recording)
        return recording

    def directory(self, recording_id: str) -> str:
        """Where the recording node writes this recording's segment files."""
        return self.storage.scratch(recording_id)

    async def get(self, recording_id: str) -> Recording:
        recording = await self.store.get(recording_id)
        if recording is None:
            raise RecordingNotFoundError("no such recording")
        return recording

    # -- while recording -------------------------------------------------------------------------------------

    async def segment_closed(
        self,
        recording_id: str,
        index: int,
        path: str,
        start_s: float,
        duration_s: float,
        size_bytes: int,
        video_frames: int,
        audio_frames: int,
    ) -> bool:
        """Store a finished segment (uploaded at once when the store is S3) and record it. True while the
        streamer's quota still has room, False when this segment used it up (the caller stops the recording)."""
        recording = await self.get(recording_id)
        key = f"{recording_id}/{os.path.basename(path)}"
        await self.storage.put(key, path)
        segment = Segment(index, key, start_s, duration_s, size_bytes, video_frames, audio_frames)
        await self.store.add_segment(recording_id, segment, MEDIA_TYPES.get(os.path.splitext(path)[1], "video/webm"))
        return await self.quota_left(recording.streamer_id) > 0

    # -- finishing -------------------------------------------------------------------------------------------

    async def finish(
        self, recording_id: str, reason: str, dropped_packets: int = 0, *, resume: bool = False
    ) -> Recording:
        """Stopped (asked, the stream ended, quota, error): join the finished segments into one seekable file, then
        delete the segment files. Once: only the caller that moves it from recording to finishing joins it
        (``resume``: a node that died while joining joins again at start-up)."""
        won = await self.store.mark_finishing(recording_id, self._clock.now(), reason, dropped_packets)
        recording = await self.get(recording_id)
        if recording.state is not RecordingState.FINISHING or not (won or resume):
            return recording
        segments = recording.segments
        if not segments:
            await self.store.mark_failed(recording_id, reason if reason != "stopped" else "empty")
            return await self.get(recording_id)
        ext = os.path.splitext(segments[0].key)[1]
        scratch = self.storage.scratch(recording_id)
        os.makedirs(scratch, exist_ok=True)
        paths: list[str] = []
        for segment in segments:
            local = os.path.join(scratch, os.path.basename(segment.key))
            if await self.storage.fetch(segment.key, local):
                paths.append(local)
            else:
                log.warning("a recording segment is missing", extra={"recording": recording_id, "key": segment.key})
        if not paths:
            await self.store.mark_failed(recording_id, "segments_missing")
            return await self.get(recording_id)
        media_key = f"{recording_id}/{recording_id}{ext}"
        final = os.path.join(scratch, f"{recording_id}{ext}")
        try:
            duration, size = await asyncio.to_thread(_join, paths, final)
        except Exception:
            log.exception("joining a recording failed", extra={"recording": recording_id})
            await self.store.mark_failed(recording_id, "join_failed")
            return await self.get(recording_id)
        await self.storage.put(media_key, final)
        await self.store.mark_ready(recording_id, media_key, size, duration)
        for segment in segments:
            await self.storage.delete(segment.key)
        local_leftovers = paths if self.storage.kind == "local" else [*paths, final]
        await asyncio.to_thread(_unlink, local_leftovers, scratch)
        self.joined += 1
        return await self.get(recording_id)

    # -- reading and deleting --------------------------------------------------------------------------------

    async def list_of(self, streamer_id: str, *, unfinished: bool, limit: int = 50) -> list[Recording]:
        states = tuple(RecordingState) if unfinished else (RecordingState.PLAYABLE,)
        return await self.store.of_streamer(streamer_id, states, limit)

    async def locate(self, recording: Recording) -> Located | None:
        if recording.state is not RecordingState.PLAYABLE or recording.media_key is None:
            return None
        return await self.storage.locate(recording.media_key)

    async def delete(self, recording: Recording) -> None:
        if recording.state is RecordingState.RECORDING:
            raise AlreadyRecordingError("stop the recording before deleting it")
        for key in [s.key for s in recording.segments] + ([recording.media_key] if recording.media_key else []):
            await self.storage.delete(key)
        await self.store.delete(recording.id)
        self.deleted += 1

    async def purge_expired(self, batch: int = 100) -> int:
        """Delete finished recordings older than the retention, oldest first. Returns how many."""
        if self.settings.retention_days <= 0:
            return 0
        before = self._clock.now() - timedelta(days=self.settings.retention_days)
        count = 0
        while True:
            expired = await self.store.finished_before(before, batch)
            for recording in expired:
                await self.delete(recording)
                count += 1
            if len(expired) < batch:
                return count


def _join(paths: list[str], final: str) -> tuple[float, int]:
    """Join into a temporary name, then rename: a crash while joining leaves no half file under the final name."""
    partial = final + ".joining"
    _, _, duration = remux.join(paths, partial, "mp4" if final.endswith(".mp4") else "webm")
    os.replace(partial, final)
    return duration, os.path.getsize(final)


def _unlink(paths: list[str], directory: str) -> None:
    """Delete local copies the store no longer needs (with S3, the recording node's disk is only scratch)."""
    for path in paths:
        if os.path.exists(path):
            os.unlink(path)
    if os.path.isdir(directory) and not os.listdir(directory):
        os.rmdir(directory)
