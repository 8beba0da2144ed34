"""Recordings: the use cases (start, stop, list, watch, delete, the auto-record preference) and the node's driver.

Who records: the node whose SFU holds the stream's publisher (``LocalRecorder`` is that SFU: ``SfuService`` or the
worker pool, never the cluster wrapper). A start asked on any node creates the recording's document; the node with
the publisher claims it and starts its SFU's recorder at once when it is the one asked, else within
``DRIVE_EVERY_S`` (each node's driver looks for running recordings of its streams), and also when a publisher
(re)connects here. A stop asked anywhere marks the document; the recording node stops (at once when asked there).
The SFU's events then tell this node's ``RecordingService`` each finished segment and the end, and the recording is
joined into one seekable file on the node that recorded it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Protocol

from app.access import RoomAccess
from app.policy import Action, Room, decide, require
from app.principal import Principal
from core.ids import StreamId, UserId
from core.tasks import cancel_and_wait
from recordings.errors import NotRecordingError, RecordingNotFoundError, RecordingQuotaExceededError
from recordings.models import Recording, RecordingState
from recordings.service import RecordingService
from recordings.storage import Located
from rooms.models import StreamStatus
from rooms.streams import StreamService
from sfu import PublisherStarted, PublisherStopped, SfuEvent
from sfu.events import RecordingSegmentClosed, RecordingStopped
from sfu.recorder import RecordingSpec

log = logging.getLogger(__name__)

#: Each node's driver checks the running recordings this often (claims, stops asked on other nodes, orphans).
DRIVE_EVERY_S = 2.0
#: A running recording of an ended stream that no node finished within this long is finished by any node.
ORPHAN_AFTER_S = 30.0
#: Retention is applied this often.
PURGE_EVERY_S = 3600.0


class LocalRecorder(Protocol):
    """This node's own SFU (``SfuService`` or ``SfuWorkerPool``)."""

    def has_publisher(self, stream_id: str) -> bool: ...

    async def start_recording(self, stream_id: str, spec: RecordingSpec) -> None: ...

    async def stop_recording(self, stream_id: str, recording_id: str) -> None: ...

    def recordings(self) -> dict[str, str]: ...


class Recordings:
    """The use cases both edges would share (HTTP only today)."""

    def __init__(self, access: RoomAccess, service: RecordingService, driver: RecordingDriver) -> None:
        self._access = access
        self._service = service
        self._driver = driver

    async def start(self, who: Principal | None, stream_id: StreamId) -> Recording:
        stream = await self._access.authorize(Action.RECORD_STREAM, stream_id, who)
        recording = await self._service.begin(stream.id, stream.owner_id, stream.title)
        await self._driver.kick(recording)
        return await self._service.get(recording.id)

    async def stop(self, who: Principal | None, stream_id: StreamId) -> Recording:
        await self._access.authorize(Action.STOP_RECORDING, stream_id, who)
        running = await self._service.store.running_of_stream(stream_id)
        if running is None:
            raise NotRecordingError("this stream is not being recorded")
        await self._driver.stop(running)
        return await self._service.get(running.id)

    async def _room(self, recording: Recording, who: Principal | None) -> Room:
        _, room = await self._access.room(StreamId(recording.stream_id), who, standing=False)
        return room

    async def get(self, who: Principal | None, recording_id: str) -> Recording:
        """Anyone may watch a ready recording; the unfinished ones are for the streamer and admins (others are told
        there is no such recording)."""
        require(Action.WATCH_RECORDING, who)
        recording = await self._service.get(recording_id)
        if recording.state is not RecordingState.PLAYABLE and (
            decide(Action.MANAGE_RECORDING, who, await self._room(recording, who)) is not None
        ):
            raise RecordingNotFoundError("no such recording")
        return recording

    async def media(self, who: Principal | None, recording_id: str) -> tuple[Recording, Located]:
        """Where the recording's joined file is: a local path (served with Range) or an URL to redirect to."""
        recording = await self.get(who, recording_id)
        located = await self._service.locate(recording)
        if located is None:
            raise RecordingNotFoundError("this recording has no playable file (yet)")
        return recording, located

    async def of_user(self, who: Principal | None, user_id: UserId) -> list[Recording]:
        """A streamer's recordings, newest first: ready ones for everyone; all (running, failed) for the streamer
        and admins."""
        require(Action.WATCH_RECORDING, who)
        own = decide(Action.MANAGE_RECORDING, who, Room(user_id, StreamStatus.ENDED)) is None
        return await self._service.list_of(user_id, unfinished=own)

    async def delete(self, who: Principal | None, recording_id: str) -> None:
        recording = await self._service.get(recording_id)
        require(Action.MANAGE_RECORDING, who, await self._room(recording, who))
        await self._service.delete(recording)

    async def auto_record(self, who: Principal | None) -> bool:
        require(Action.MANAGE_SELF, who)
        assert who is not None
        return await self._service.store.auto_record(who.user_id)

    async def set_auto_record(self, who: Principal | None, auto: bool) -> bool:
        require(Action.MANAGE_SELF, who)
        assert who is not None
        await self._service.store.set_auto_record(who.user_id, auto)
        return auto


class RecordingDriver:
    """This node's part: start/stop its SFU's recorders, store what they report, finish, purge."""

    def __init__(self, local: LocalRecorder, service: RecordingService, streams: StreamService) -> None:
        self._local = local
        self._service = service
        self._streams = streams
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._finishing: set[asyncio.Task[None]] = set()
        self._events: asyncio.Queue[SfuEvent | None] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._next_purge = 0.0
        #: Recordings this node stopped because a segment used the quota up.
        self.quota_stops = 0

    # -- starting and stopping -------------------------------------------------------------------------------

    async def kick(self, recording: Recording) -> None:
        """A recording was created: start it here if the publisher is here, else let the publisher's node claim it."""
        if self._local.has_publisher(recording.stream_id):
            await self._start_here(recording)
        self._wake.set()

    async def _start_here(self, recording: Recording) -> None:
        if self._local.recordings().get(recording.stream_id) == recording.id:
            return
        if not await self._service.store.claim(recording.id, self._service.node_id):
            return  # another node holds it
        first = max((s.index for s in recording.segments), default=-1) + 1
        settings = self._service.settings
        spec = RecordingSpec(
            recording.id,
            self._service.directory(recording.id),
            segment_s=settings.segment_s,
            queue_packets=settings.queue_packets,
            first_index=first,
        )
        try:
            await self._local.start_recording(recording.stream_id, spec)
        except Exception:
            log.warning("could not start a recording here", extra={"recording": recording.id}, exc_info=True)
            await self._service.store.release(recording.id, self._service.node_id)

    async def stop(self, recording: Recording) -> None:
        await self._service.store.request_stop(recording.id, "stopped")
        if self._local.recordings().get(recording.stream_id) == recording.id:
            await self._local.stop_recording(recording.stream_id, recording.id)
        elif not recording.node_id:
            # Nobody records it right now (the publisher is away): it ends here, with the segments it has.
            await self._finish(recording.id, "stopped", 0)
        self._wake.set()

    # -- the SFU's events ------------------------------------------------------------------------------------

    async def on_sfu_event(self, event: SfuEvent) -> None:
        """The SFU's event delivery calls this: the events are queued for the driver's own task, so a segment's
        upload to S3 or a database round trip never holds up the SFU's other listeners (the stream lifecycle)."""
        if isinstance(event, RecordingSegmentClosed | RecordingStopped | PublisherStarted | PublisherStopped):
            self._events.put_nowait(event)

    async def _consume(self) -> None:
        while True:
            event = await self._events.get()
            if event is None:
                return
            try:
                await self.handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("a recording event failed", extra={"stream": event.stream_id})

    async def handle(self, event: SfuEvent) -> None:
        if isinstance(event, RecordingSegmentClosed):
            room = await self._service.segment_closed(
                event.recording_id,
                event.index,
                event.path,
                event.start_s,
                event.duration_s,
                event.size_bytes,
                event.video_frames,
                event.audio_frames,
            )
            if not room:
                self.quota_stops += 1
                log.info("recording quota used up: stopping", extra={"recording": event.recording_id})
                await self._service.store.request_stop(event.recording_id, RecordingQuotaExceededError.code)
                self._stop_later(event.stream_id, event.recording_id)
        elif isinstance(event, RecordingStopped):
            asked = await self._service.store.stop_reason(event.recording_id)
            self._finish_later(event.recording_id, asked or event.reason, event.dropped_packets)
        elif isinstance(event, PublisherStarted):
            await self._resume_or_auto(event.stream_id)
        elif isinstance(event, PublisherStopped):
            self._wake.set()

    async def _resume_or_auto(self, stream_id: str) -> None:
        running = await self._service.store.running_of_stream(stream_id)
        if running is not None:
            await self._start_here(running)
            return
        try:
            stream = await self._streams.get(StreamId(stream_id))
        except Exception:
            return
        if await self._service.store.auto_record(stream.owner_id):
            try:
                recording = await self._service.begin(stream.id, stream.owner_id, stream.title)
            except Exception as exc:
                log.info("auto-recording not started: %s", exc, extra={"stream": stream_id})
                return
            await self._start_here(recording)

    def _stop_later(self, stream_id: str, recording_id: str) -> None:
        task = asyncio.ensure_future(self._local.stop_recording(stream_id, recording_id))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    def _finish_later(self, recording_id: str, reason: str, dropped: int) -> None:
        task = asyncio.ensure_future(self._finish(recording_id, reason, dropped))
        self._finishing.add(task)
        task.add_done_callback(self._finishing.discard)

    async def _finish(self, recording_id: str, reason: str, dropped: int, *, resume: bool = False) -> None:
        try:
            await self._service.finish(recording_id, reason, dropped, resume=resume)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("finishing a recording failed", extra={"recording": recording_id})

    # -- the periodic check ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="recording-driver")
            self._consumer = asyncio.create_task(self._consume(), name="recording-events")

    async def close(self) -> None:
        """After the SFU closed: its recorders' last events are handled (segments stored, recordings joined)."""
        await cancel_and_wait(self._task)
        self._task = None
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            self._events.put_nowait(None)
            await asyncio.wait({consumer}, timeout=15)
            await cancel_and_wait(consumer)
        if self._finishing:
            await asyncio.wait(set(self._finishing), timeout=10)

    async def _run(self) -> None:
        node = self._service.node_id
        for stale in await self._service.store.running_on(node):
            # This node stopped (or crashed) while recording: its finished segments stay; whichever node has the
            # publisher continues the recording, or it is finished as an orphan.
            await self._service.store.release(stale.id, node)
        for stuck in await self._service.store.stuck_finishing(node):
            await self._finish(stuck.id, stuck.stop_reason or "stopped", stuck.dropped_packets, resume=True)
        while True:
            try:
                await self.drive()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("recording driver check failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), DRIVE_EVERY_S)

    async def drive(self) -> None:
        """One pass: stop the recorders here that were asked to stop (on another node), claim running recordings
        nobody holds whose publisher is here, finish orphans (an ended stream nobody records), apply retention.
        A recording this node holds is finished by its recorder's own ``RecordingStopped``, never here (its last
        segment may still be on its way)."""
        node = self._service.node_id
        local = self._local.recordings()
        for recording in await self._service.store.running():
            asked = await self._service.store.stop_reason(recording.id)
            if local.get(recording.stream_id) == recording.id:
                if asked:
                    await self._local.stop_recording(recording.stream_id, recording.id)
                continue
            if recording.node_id == node:
                continue
            if not recording.node_id and self._local.has_publisher(recording.stream_id):
                if asked:
                    await self._finish(recording.id, asked, 0)
                else:
                    await self._start_here(recording)
                continue
            try:
                stream = await self._streams.get(StreamId(recording.stream_id))
            except Exception:
                stream = None
            ended = stream is None or stream.status is StreamStatus.ENDED
            ended_at = stream.ended_at if stream is not None else None
            if ended and (
                not recording.node_id
                or ended_at is None
                or (self._service.now() - ended_at).total_seconds() > ORPHAN_AFTER_S
            ):
                await self._finish(recording.id, asked or "stream_ended", 0)
        if time.monotonic() >= self._next_purge:
            self._next_purge = time.monotonic() + PURGE_EVERY_S
            deleted = await self._service.purge_expired()
            if deleted:
                log.info("recordings past their retention deleted: %d", deleted)
