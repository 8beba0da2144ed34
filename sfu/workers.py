"""Forwarding in worker processes: the same narrow API as ``SfuService``, each stream served by one of N processes.

Python forwards on one core per process (the GIL), and the forwarding loop must not share its event loop with chat
and gifts. ``SfuWorkerPool`` starts N processes (``spawn``), each running an ``SfuService`` of its own; a stream's
publisher and all its viewers live in the same worker (its router is there), new streams go to the least loaded
worker. Calls travel over a ``multiprocessing`` pipe (pickled tuples); errors come back as the same ``HubError``
classes; events are re-delivered to this process's listeners, in order; each reply and event carries the worker's
stream state, so ``is_live`` and ``has_publisher`` answer without a round trip; stats are pushed every second.
Every peer connection's sockets belong to its worker, so media never crosses the pipe.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import itertools
import logging
import multiprocessing
import os
import secrets
import time
from collections import OrderedDict
from multiprocessing.connection import Connection
from typing import Any

from core import errors as core_errors
from core.errors import HubError
from sfu import aiortc_hooks, residence
from sfu import errors as sfu_errors
from sfu.dispatch import EventDispatcher, Listener
from sfu.errors import SessionNotFoundError, SfuUnavailableError, StreamNotLiveError, TranscodingFullError
from sfu.events import PublisherStopped, RelayStarted, RelayStopped, SessionClosed, SfuEvent
from sfu.recorder import RecordingSpec
from sfu.service import SfuService
from sfu.settings import SfuSettings
from sfu.thumbnail import KeyframeSnapshot

log = logging.getLogger(__name__)

#: Per stream: (live, has a publisher, has a relay).
StreamState = dict[str, tuple[bool, bool, bool]]

STATS_INTERVAL_S = 1.0
_CALLS = frozenset(
    (
        "publish",
        "subscribe",
        "close_session",
        "trickle",
        "set_layer",
        "keyframe",
        "set_ladder",
        "drop_publisher",
        "end_stream",
        "open_origin_pipe",
        "attach_relay",
        "detach_relay",
        "start_recording",
        "stop_recording",
    )
)
#: An internal relay feeding a worker whose last viewer of the stream left is torn down once that worker has had no
#: viewer of the stream for this long (a viewer joining meanwhile keeps it), so that churn does not re-pipe each time.
INTERNAL_RELAY_LINGER_S = 5.0
#: What taking in a publisher's media costs a worker, in viewers: an aiortc publisher's receive path (DTLS/SRTP, RTP
#: parse, jitter and NACK bookkeeping) is ~200 µs per packet where one viewer's forward is ~33 µs (docs/BENCHMARKS.md,
#: Relay: "Saturated"). Placement counts it, and one viewer per internal pipe a worker feeds (~37 µs per packet), so a
#: stream's root worker takes fewer viewers than the workers it pipes to and both run out of CPU together.
INGEST_COST_VIEWERS = 6
#: Closed sessions whose worker is remembered (per role), so that a late DELETE still reaches it (the worker decides).
ENDED_SESSIONS_KEPT = 4096


# -- the worker process ----------------------------------------------------------------------------------------


def worker_main(conn: Connection, settings: SfuSettings) -> None:
    """Entry point of a worker process."""
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(conn, settings))


def _state(service: SfuService) -> StreamState:
    return {
        stream: (service.is_live(stream), service.has_publisher(stream), service.has_relay(stream))
        for stream in service._routers
    }


_SUMMED = ("packets", "bytes", "nacks", "retransmits", "plis", "packets_lost")


def _compact(stats: dict[str, Any]) -> dict[str, Any]:
    """Per-viewer stats folded into one entry per (stream, kind): sums, and the worst RTT and loss. A report stays
    small whatever the audience, so that writing it never blocks the worker's forwarding loop on a full pipe."""
    folded: dict[tuple[str, str], dict[str, Any]] = {}
    for consumer in stats["consumers"]:
        key = (consumer["stream_id"], consumer["kind"])
        entry = folded.setdefault(
            key, {"stream_id": key[0], "kind": key[1], "rtt_s": None, "fraction_lost": 0.0, "viewers": 0}
        )
        entry["viewers"] += 1
        for name in _SUMMED:
            entry[name] = entry.get(name, 0) + consumer[name]
        if consumer["rtt_s"] is not None:
            entry["rtt_s"] = max(entry["rtt_s"] or 0.0, consumer["rtt_s"])
        entry["fraction_lost"] = max(entry["fraction_lost"], consumer["fraction_lost"])
    return {**stats, "consumers": list(folded.values())}


async def _serve(conn: Connection, settings: SfuSettings) -> None:
    # Everything imported so far lives as long as the worker: keep it out of the cyclic collector's full passes,
    # which would otherwise stall the forwarding loop more the more peers a worker serves.
    gc.freeze()
    aiortc_hooks.count_codec_objects()
    service = SfuService(settings)
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[Any] = asyncio.Queue()

    def readable() -> None:
        try:
            inbox.put_nowait(conn.recv())
        except (EOFError, OSError):
            loop.remove_reader(conn.fileno())
            inbox.put_nowait(("close",))  # the parent is gone

    def send(message: tuple[Any, ...]) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            conn.send(message)

    async def forward(event: SfuEvent) -> None:
        send(("event", event, _state(service)))

    async def call(request_id: int, method: str, args: tuple[Any, ...]) -> None:
        try:
            result = await getattr(service, method)(*args)
        except HubError as exc:
            send(("reply", request_id, False, (type(exc).__name__, exc.message, exc.code), _state(service)))
        except Exception as exc:
            log.exception("SFU worker call failed", extra={"method": method})
            send(
                (
                    "reply",
                    request_id,
                    False,
                    ("SfuUnavailableError", f"SFU worker error: {type(exc).__name__}", None),
                    {},
                )
            )
        else:
            send(("reply", request_id, True, result, _state(service)))

    async def push_stats() -> None:
        while True:
            await asyncio.sleep(STATS_INTERVAL_S)
            report = {
                **_compact(service.stats()),
                "codec_objects": aiortc_hooks.codec_objects(),
                # when the report was made and the worker's CPU seconds then (a busy worker's reports arrive late)
                "pushed_at": time.monotonic(),
                "cpu_s": time.process_time(),
            }
            send(("stats", report, _state(service)))

    service.add_listener(forward)
    loop.add_reader(conn.fileno(), readable)
    tasks: set[asyncio.Task[None]] = set()
    stats_task = asyncio.ensure_future(push_stats())
    send(("ready", os.getpid()))
    while True:
        message = await inbox.get()
        if message[0] == "call" and message[2] in _CALLS:
            task = asyncio.ensure_future(call(message[1], message[2], message[3]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        elif message[0] == "close":
            break
    stats_task.cancel()
    await service.close()
    with contextlib.suppress(ValueError, OSError):
        loop.remove_reader(conn.fileno())
    send(("closed",))


# -- the parent ------------------------------------------------------------------------------------------------


class _Worker:
    def __init__(self, index: int, process: Any, conn: Connection) -> None:
        self.index = index
        self.process = process
        self.conn = conn
        self.pid: int | None = None
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.state: StreamState = {}
        self.stats: dict[str, Any] = {}
        self.alive = True
        self.viewers = 0


def _error(name: str, message: str, code: str | None) -> HubError:
    cls = getattr(sfu_errors, name, None) or getattr(core_errors, name, None)
    if not (isinstance(cls, type) and issubclass(cls, HubError)):
        cls = SfuUnavailableError
    error = cls(message)
    if code is not None and code != error.code:
        error.code = code  # type: ignore[misc]
    return error


class SfuWorkerPool:
    """``SfuService``'s API, served by ``workers`` processes. Processes start on first use (an event loop runs)."""

    def __init__(
        self,
        settings: SfuSettings,
        workers: int,
        relay_linger_s: float = INTERNAL_RELAY_LINGER_S,
        ingest_cost_viewers: int = INGEST_COST_VIEWERS,
    ) -> None:
        if workers < 1:
            raise ValueError("a worker pool needs at least one worker")
        if not settings.relay_secret:  # the workers pipe to each other: one secret for all of them
            settings = dataclasses.replace(settings, relay_secret=secrets.token_urlsafe(32))
        self.settings = settings
        self._size = workers
        self._workers: list[_Worker] = []
        self._sessions: dict[str, _Worker] = {}
        self._session_streams: dict[str, str] = {}
        self._ended: dict[str, OrderedDict[str, tuple[_Worker, str]]] = {}
        self._viewers: dict[str, _Worker] = {}
        #: Per stream: the workers fed by an internal relay from the stream's root worker, and those relays' ids.
        self._internal: dict[str, dict[_Worker, str]] = {}
        self._internal_ids: set[str] = set()
        #: Per (stream, worker): viewers placed there (counted from the choice on); when that drops to 0 on a worker fed
        #: by an internal relay, since when (the relay is torn down ``relay_linger_s`` later), and the task doing it.
        self._stream_viewers: dict[tuple[str, _Worker], int] = {}
        self._idle_since: dict[tuple[str, _Worker], float] = {}
        self._unpipers: dict[tuple[str, _Worker], asyncio.Task[None]] = {}
        self._linger_s = relay_linger_s
        self._ingest_cost = ingest_cost_viewers
        self._locks: dict[str, asyncio.Lock] = {}
        self._dispatcher = EventDispatcher()
        self._ids = itertools.count(1)
        self._starting: asyncio.Lock | None = None
        self._closed = False
        #: Streams whose transcoded ladder runs in one of the workers (the node-wide cap counts them).
        self._ladders: set[str] = set()

    # -- API (as SfuService) ---------------------------------------------------------------------------------

    def add_listener(self, listener: Listener) -> None:
        self._dispatcher.add(listener)

    def is_live(self, stream_id: str) -> bool:
        return any(w.state.get(stream_id, (False, False, False))[0] for w in self._workers)

    def has_publisher(self, stream_id: str) -> bool:
        return any(w.state.get(stream_id, (False, False, False))[1] for w in self._workers)

    def has_relay(self, stream_id: str) -> bool:
        root = self._worker_of(stream_id)
        return root is not None and root.state[stream_id][2]

    async def publish(self, stream_id: str, offer_sdp: str, app_data: Any = None) -> tuple[str, str]:
        await self._start()
        alive = [w for w in self._workers if w.alive]
        if not alive:
            raise SfuUnavailableError("no SFU worker is running")
        worker = self._worker_of(stream_id) or min(alive, key=lambda w: (self._roots(w), w.viewers, w.index))
        session_id, answer = await self._call(worker, "publish", stream_id, offer_sdp, app_data)
        self._sessions[session_id] = worker
        self._session_streams[session_id] = stream_id
        return session_id, answer

    async def subscribe(
        self, stream_id: str, offer_sdp: str, app_data: Any = None, pending_keys: tuple[str, ...] = ()
    ) -> tuple[str, str]:
        """The viewer goes to the least-loaded worker; if that is not the stream's root worker, the root pipes one
        copy of the stream to it first (once: later viewers there share that copy)."""
        await self._start()
        root = self._worker_of(stream_id)
        if root is None:
            raise StreamNotLiveError("this stream is not live")
        worker = min(
            (w for w in self._workers if w.alive),
            key=lambda w: (self._load(w), stream_id not in w.state, w is not root, w.index),
        )
        worker.viewers += 1  # counted from the choice on, so that viewers joining together spread too
        self._count_viewer(stream_id, worker, 1)
        try:
            if worker is not root:
                try:
                    await self._pipe_to(stream_id, root, worker)
                except HubError:
                    log.warning("could not pipe a stream to another worker; the viewer joins its root worker")
                    worker.viewers -= 1
                    self._count_viewer(stream_id, worker, -1)
                    worker = root
                    worker.viewers += 1
                    self._count_viewer(stream_id, worker, 1)
            # Each worker bounds the viewers still connecting per client key on its own.
            session_id, answer = await self._call(worker, "subscribe", stream_id, offer_sdp, app_data, pending_keys)
        except BaseException:
            worker.viewers = max(0, worker.viewers - 1)
            self._count_viewer(stream_id, worker, -1)
            raise
        self._sessions[session_id] = worker
        self._session_streams[session_id] = stream_id
        self._viewers[session_id] = worker
        return session_id, answer

    async def open_origin_pipe(self, stream_id: str) -> str:
        await self._start()
        root = self._worker_of(stream_id)
        if root is None:
            raise StreamNotLiveError("this stream is not live")
        offer: str = await self._call(root, "open_origin_pipe", stream_id)
        return offer

    async def attach_relay(self, stream_id: str, offer: str, app_data: Any = None) -> str:
        await self._start()
        alive = [w for w in self._workers if w.alive]
        if not alive:
            raise SfuUnavailableError("no SFU worker is running")
        root = self._worker_of(stream_id) or min(alive, key=lambda w: (w.viewers, self._roots(w), w.index))
        relay_id: str = await self._call(root, "attach_relay", stream_id, offer, app_data)
        return relay_id

    async def detach_relay(self, stream_id: str, reason: str = "detached") -> None:
        root = self._worker_of(stream_id)
        if root is not None:
            await self._call(root, "detach_relay", stream_id, reason)

    async def close_session(self, session_id: str) -> None:
        worker = self._sessions.get(session_id)
        if worker is None:
            ended = self._ended_session(session_id)
            if ended is None or not ended[0].alive:
                raise SessionNotFoundError("no such session")
            worker = ended[0]
        await self._call(worker, "close_session", session_id)

    async def trickle(self, session_id: str, fragment: str) -> int:
        worker = self._sessions.get(session_id)
        if worker is None:
            raise SessionNotFoundError("no such session")
        added: int = await self._call(worker, "trickle", session_id, fragment)
        return added

    async def set_layer(self, session_id: str, preference: str, screen: tuple[int, int] | None = None) -> str | None:
        worker = self._sessions.get(session_id)
        if worker is None:
            raise SessionNotFoundError("no such session")
        chosen: str | None = await self._call(worker, "set_layer", session_id, preference, screen)
        return chosen

    async def keyframe(self, stream_id: str, min_width: int = 0) -> KeyframeSnapshot | None:
        """From the stream's root worker (the one its publisher is on): the payloads cross the pipe, a few times a
        minute per stream; decoding happens in the caller's process, never in a forwarding worker."""
        root = self._worker_of(stream_id)
        if root is None or not root.state[stream_id][1]:
            return None
        snap: KeyframeSnapshot | None = await self._call(root, "keyframe", stream_id, min_width)
        return snap

    async def set_ladder(self, stream_id: str, enabled: bool) -> bool:
        """On the stream's root worker (the ladder's thread lives there, next to the producer it reads). The node's
        cap counts the ladders of every worker."""
        root = self._worker_of(stream_id)
        if root is None or not root.state[stream_id][1]:
            raise StreamNotLiveError("this stream's publisher is not on this node")
        self._ladders = {s for s in self._ladders if self.has_publisher(s)}
        if enabled and stream_id not in self._ladders and len(self._ladders) >= self.settings.max_transcoded_streams:
            raise TranscodingFullError(
                f"this node transcodes {self.settings.max_transcoded_streams} streams already (the most it may)"
            )
        running: bool = await self._call(root, "set_ladder", stream_id, enabled)
        if running:
            self._ladders.add(stream_id)
        else:
            self._ladders.discard(stream_id)
        return running

    async def drop_publisher(self, session_id: str) -> None:
        worker = self._sessions.get(session_id)
        if worker is not None:
            await self._call(worker, "drop_publisher", session_id)

    async def end_stream(self, stream_id: str, reason: str = "ended") -> None:
        workers = [w for w in self._workers if w.alive and stream_id in w.state]
        workers.extend(w for w in self._internal.pop(stream_id, {}) if w.alive and w not in workers)
        await asyncio.gather(*(self._call(w, "end_stream", stream_id, reason) for w in workers), return_exceptions=True)

    async def start_recording(self, stream_id: str, spec: RecordingSpec) -> None:
        """The stream's root worker (where its publisher is) records; its events come back like any other."""
        root = self._worker_of(stream_id)
        if root is None or not root.alive:
            raise StreamNotLiveError("the stream has no publisher here")
        await self._call(root, "start_recording", stream_id, spec)

    async def stop_recording(self, stream_id: str, recording_id: str) -> None:
        root = self._worker_of(stream_id)
        if root is not None and root.alive:
            await self._call(root, "stop_recording", stream_id, recording_id)

    def recordings(self) -> dict[str, str]:
        return {
            entry["stream_id"]: entry["recording_id"]
            for w in self._workers
            if w.stats
            for entry in w.stats.get("recordings", ())
        }

    def session_stream(self, session_id: str) -> str:
        stream = self._session_streams.get(session_id)
        if stream is None:
            ended = self._ended_session(session_id)
            if ended is None:
                raise SessionNotFoundError("no such session")
            stream = ended[1]
        return stream

    def stats(self) -> dict[str, Any]:
        """Sums and lists over the workers' latest pushed stats (at most ``STATS_INTERVAL_S`` old). ``consumers`` holds
        one entry per stream and kind (sums; the worst RTT and loss), not one per viewer. The residence percentiles
        are the worst worker's (percentiles do not add up)."""
        reports = [w.stats for w in self._workers if w.stats]
        p50s = [r["residence_us_p50"] for r in reports if r.get("residence_us_p50") is not None]
        p99s = [r["residence_us_p99"] for r in reports if r.get("residence_us_p99") is not None]
        return {
            "streams": sum(r["streams"] for r in reports),
            "publishers": sum(r["publishers"] for r in reports),
            "viewers": sum(r["viewers"] for r in reports),
            "routers": [router for r in reports for router in r["routers"]],
            "consumers": [consumer for r in reports for consumer in r["consumers"]],
            "residence_us_p50": max(p50s) if p50s else None,
            "residence_us_p99": max(p99s) if p99s else None,
            "residence_histogram": residence.merge([r.get("residence_histogram") for r in reports]),
            "recordings": [entry for r in reports for entry in r.get("recordings", ())],
            "recording_dropped_packets": sum(r.get("recording_dropped_packets", 0) for r in reports),
            "workers": [
                {
                    "index": w.index,
                    "pid": w.pid,
                    "streams": self._roots(w),
                    "relayed_streams": len(w.state) - self._roots(w),
                    "viewers": w.viewers,
                    "load": self._load(w),
                    "codec_objects": w.stats.get("codec_objects"),
                }
                for w in self._workers
            ],
        }

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._unpipers.values()):
            task.cancel()
        for worker in self._workers:
            with contextlib.suppress(OSError, BrokenPipeError):
                worker.conn.send(("close",))
        for worker in self._workers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(worker.closed), timeout=10)
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(worker.conn.fileno())
            await asyncio.get_running_loop().run_in_executor(None, worker.process.join, 5)
            if worker.process.is_alive():
                worker.process.terminate()
            worker.conn.close()
        await self._dispatcher.close()

    # -- internals -------------------------------------------------------------------------------------------

    def _load(self, worker: _Worker) -> int:
        """The worker's forwarding work in viewers: its viewers, ``ingest_cost_viewers`` per publisher it takes in, one
        per internal pipe it feeds (relays in from other nodes cost about a viewer each: a pipe receive)."""
        publishers = sum(1 for _, has_publisher, _ in worker.state.values() if has_publisher)
        relays_in = sum(1 for _, _, has_relay in worker.state.values() if has_relay)
        pipes_out = sum(len(self._internal.get(s, {})) for s in worker.state if worker not in self._internal.get(s, {}))
        return worker.viewers + self._ingest_cost * publishers + relays_in + pipes_out

    def _roots(self, worker: _Worker) -> int:
        """Streams whose root (publisher, or relay from another node) is on ``worker``."""
        return sum(1 for stream in worker.state if worker not in self._internal.get(stream, {}))

    def _ended_session(self, session_id: str) -> tuple[_Worker, str] | None:
        return next((kept[session_id] for kept in self._ended.values() if session_id in kept), None)

    def _worker_of(self, stream_id: str) -> _Worker | None:
        """The stream's root worker: the one holding its publisher (or its relay from another node), not one fed by
        an internal relay."""
        internal = self._internal.get(stream_id, {})
        return next((w for w in self._workers if stream_id in w.state and w not in internal), None)

    async def _pipe_to(self, stream_id: str, root: _Worker, worker: _Worker) -> None:
        lock = self._locks.setdefault(stream_id, asyncio.Lock())
        async with lock:
            internal = self._internal.setdefault(stream_id, {})
            if worker in internal and worker.state.get(stream_id, (False, False, False))[2]:
                return  # already fed
            offer = await self._call(root, "open_origin_pipe", stream_id)
            relay_id = await self._call(worker, "attach_relay", stream_id, offer, None)
            old = internal.get(worker)
            if old is not None:
                self._internal_ids.discard(old)
            internal[worker] = relay_id
            self._internal_ids.add(relay_id)

    def _count_viewer(self, stream_id: str, worker: _Worker, delta: int) -> None:
        """Track the stream's viewers on ``worker``; the last one leaving a worker fed by an internal relay starts the
        linger after which that relay is torn down."""
        key = (stream_id, worker)
        count = max(0, self._stream_viewers.get(key, 0) + delta)
        if count:
            self._stream_viewers[key] = count
            self._idle_since.pop(key, None)
            return
        self._stream_viewers.pop(key, None)
        if self._closed or worker not in self._internal.get(stream_id, {}):
            return
        self._idle_since[key] = time.monotonic()
        if key not in self._unpipers:
            self._unpipers[key] = asyncio.ensure_future(self._unpipe_when_idle(stream_id, worker))

    async def _unpipe_when_idle(self, stream_id: str, worker: _Worker) -> None:
        """End ``worker``'s relayed copy of the stream once it has had no viewer of it for ``relay_linger_s``: its
        pipe says goodbye and the root worker closes its end (one viewer's worth of forwarding less there)."""
        key = (stream_id, worker)
        try:
            while True:
                since = self._idle_since.get(key)
                if since is None:
                    return  # a viewer came back
                wait = since + self._linger_s - time.monotonic()
                if wait <= 0:
                    break
                await asyncio.sleep(wait)
            async with self._locks.setdefault(stream_id, asyncio.Lock()):  # not while a viewer is being piped here
                if (
                    self._idle_since.pop(key, None) is None
                    or self._stream_viewers.get(key)
                    or worker not in self._internal.get(stream_id, {})
                    or not worker.alive
                ):
                    return
                await self._call(worker, "end_stream", stream_id, "no_viewers")
                # the worker's RelayStopped (internal: not re-emitted) may come before or after this reply
                self._internal.get(stream_id, {}).pop(worker, None)
            log.info("internal relay torn down", extra={"stream": stream_id, "worker": worker.index})
        except HubError:
            log.warning("could not tear down an idle internal relay", exc_info=True)
        finally:
            if self._unpipers.get(key) is asyncio.current_task():
                del self._unpipers[key]

    async def _start(self) -> None:
        if self._closed:
            raise SfuUnavailableError("the SFU is shutting down")
        if self._workers:
            return
        if self._starting is None:
            self._starting = asyncio.Lock()
        async with self._starting:
            if self._workers:
                return
            context = multiprocessing.get_context("spawn")
            loop = asyncio.get_running_loop()
            workers = []
            for index in range(self._size):
                parent, child = context.Pipe()
                process = context.Process(
                    target=worker_main, args=(child, self.settings), name=f"sfu-worker-{index}", daemon=True
                )
                process.start()
                child.close()
                worker = _Worker(index, process, parent)
                loop.add_reader(parent.fileno(), self._readable, worker)
                workers.append(worker)
            await asyncio.wait_for(asyncio.gather(*(w.ready for w in workers)), timeout=60)
            self._workers = workers

    async def _call(self, worker: _Worker, method: str, *args: Any) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        worker.pending[request_id] = future
        try:
            worker.conn.send(("call", request_id, method, args))
        except (OSError, BrokenPipeError):
            worker.pending.pop(request_id, None)
            raise SfuUnavailableError("the SFU worker is gone") from None
        return await future

    def _readable(self, worker: _Worker) -> None:
        try:
            message = worker.conn.recv()
        except (EOFError, OSError):
            asyncio.get_running_loop().remove_reader(worker.conn.fileno())
            self._worker_gone(worker)
            return
        kind = message[0]
        if kind == "reply":
            _, request_id, ok, payload, state = message
            worker.state = state
            future = worker.pending.pop(request_id, None)
            if future is not None and not future.done():
                if ok:
                    future.set_result(payload)
                else:
                    future.set_exception(_error(*payload))
        elif kind == "event":
            _, event, state = message
            worker.state = state
            if isinstance(event, SessionClosed):
                self._sessions.pop(event.session_id, None)
                self._session_streams.pop(event.session_id, None)
                kept = self._ended.setdefault(event.role, OrderedDict())
                kept[event.session_id] = (worker, event.stream_id)
                while len(kept) > ENDED_SESSIONS_KEPT:
                    kept.popitem(last=False)
                if self._viewers.pop(event.session_id, None) is not None:
                    worker.viewers = max(0, worker.viewers - 1)
                    self._count_viewer(event.stream_id, worker, -1)
            elif isinstance(event, (RelayStarted, RelayStopped)) and event.relay_id in self._internal_ids:
                if isinstance(event, RelayStopped):  # a worker's internal relay is gone: a new viewer re-pipes
                    self._internal_ids.discard(event.relay_id)
                    internal = self._internal.get(event.stream_id, {})
                    if internal.get(worker) == event.relay_id:
                        del internal[worker]
                return  # internal plumbing: not the edges' business
            elif isinstance(event, PublisherStopped) and worker not in self._internal.get(event.stream_id, {}):
                self._end_internal(event.stream_id, event.reason)
            self._emit(event)
        elif kind == "stats":
            _, worker.stats, worker.state = message
        elif kind == "ready":
            worker.pid = message[1]
            if not worker.ready.done():
                worker.ready.set_result(None)
        elif kind == "closed" and not worker.closed.done():
            worker.closed.set_result(None)

    def _end_internal(self, stream_id: str, reason: str) -> None:
        """The stream ended on its root worker: end the copies other workers hold (their pipes also said so)."""
        for other in self._internal.pop(stream_id, {}):
            if other.alive:
                with contextlib.suppress(OSError, BrokenPipeError):
                    other.conn.send(("call", next(self._ids), "end_stream", (stream_id, reason)))
        self._locks.pop(stream_id, None)

    def _worker_gone(self, worker: _Worker) -> None:
        worker.alive = False
        worker.state = {}
        worker.viewers = 0
        for internal in self._internal.values():
            internal.pop(worker, None)
        for future in worker.pending.values():
            if not future.done():
                future.set_exception(SfuUnavailableError("the SFU worker is gone"))
        worker.pending.clear()
        if not worker.closed.done():
            worker.closed.set_result(None)
        if not self._closed:
            log.error("SFU worker %d exited", worker.index)

    def _emit(self, event: SfuEvent) -> None:
        self._dispatcher.emit(event)
