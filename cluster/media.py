"""Any node serves any stream: the node's SFU wrapped with the placement registry and relays from the origin.

:class:`ClusterMedia` is an ``sfu.Sfu`` (the edges and ``app`` keep calling the one protocol) around this node's
own SFU:
- ``publish`` claims the stream's origin in the registry (taking it over from another node if the publisher moved)
  and tells every node; nodes relaying the stream re-pipe from the new origin at once.
- ``subscribe`` to a stream this node has no copy of asks the origin node for a pipe (a signed internal HTTP call,
  ``cluster.origin_client``) and attaches ONE relay via the SFU's relay API; every further viewer here fans out from
  that copy. A node at its viewer capacity refuses with :class:`NodeFullError` naming the least-loaded node with
  room (WHEP answers 307 there, the socket's ack carries its URL); the stream's viewer cap counts every node.
- ``end_stream`` here is announced to every node, which drops its copy (``cluster:ended``).
- A relay that stops for a reason other than the end (origin node died: ``origin_silent``; the origin moved) keeps
  its viewers through the SFU's reconnect grace while this node looks for the stream's origin in the registry and
  re-pipes from it as soon as there is one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cluster.errors import ClusterFullError, NodeFullError
from cluster.models import NodeLoad, Origin, least_loaded
from cluster.placement import Placement
from core.tasks import cancel_and_wait
from sfu import (
    AlreadyPublishingError,
    KeyframeSnapshot,
    PublisherStarted,
    PublisherStopped,
    RelayStopped,
    SessionClosed,
    Sfu,
    SfuEvent,
    SfuSettings,
    SfuUnavailableError,
    StreamNotLiveError,
    ViewerConnected,
)

log = logging.getLogger(__name__)

#: ``RelayStopped`` reasons after which the edge keeps no copy (the stream ended at its origin).
FINAL_RELAY_REASONS = frozenset(
    {"stream_ended", "ended", "unpublished", "publisher_gone", "publisher_left", "detached", "publisher_here"}
)
VIEWER = "viewer"
#: How long a viewer's request waits on the placement registry for a count before counting this node alone.
REGISTRY_WAIT_S = 0.5


def _origin_may_come_back(reason: str) -> bool:
    """A relay stopped for a reason after which the stream may continue from an origin (the origin's node died, or
    the publisher moved): not the stream's end, not a relay this node replaced or detached itself."""
    if reason == "replaced" or reason in FINAL_RELAY_REASONS:
        return False
    if reason.startswith("origin_closed:"):
        return reason.split(":", 1)[1] not in FINAL_RELAY_REASONS
    return True


class PipeSource(Protocol):
    """Asks an origin node for a relay offer (``cluster.origin_client.OriginClient`` over signed HTTP)."""

    async def open_pipe(self, origin: Origin) -> str: ...


class ClusterMedia:
    def __init__(
        self,
        sfu: Sfu,
        placement: Placement,
        pipes: PipeSource,
        *,
        node_id: str,
        url: str,
        node_capacity: int,
        max_viewers_per_stream: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local = sfu
        self.settings: SfuSettings = sfu.settings
        self.placement = placement
        self._pipes = pipes
        self.node_id = node_id
        self.url = url
        self.node_capacity = node_capacity
        self.max_viewers_per_stream = max_viewers_per_stream
        self._clock = clock
        self._viewers: dict[str, str] = {}  # viewer session id -> stream id (WebRTC and WHEP alike)
        # The connected ones: only they hold viewer slots (a session still connecting holds none; the SFU bounds
        # those per client and closes them after its pending timeout).
        self._connected: dict[str, str] = {}
        self._attaching: dict[str, asyncio.Lock] = {}
        self._relayed_from: dict[str, Origin] = {}  # stream id -> the origin this node's relay pipes from
        self._repipes: dict[str, asyncio.Task[None]] = {}
        self._listeners: list[Callable[[SfuEvent], Awaitable[None]]] = []
        self._cpu_mark = (time.monotonic(), time.process_time())
        self._cpu = 0.0
        self.relays_attached = 0
        self._draining = False
        self._handed_over: set[str] = set()  # streams whose end this stopping node leaves to the nodes relaying them
        self._moved_away: set[str] = set()  # streams another node claimed the origin of (their publisher moved)
        sfu.add_listener(self._on_event)
        placement.on_ended(self._ended_elsewhere)
        placement.on_origin_moved(self.origin_moved)

    # -- load, for the registry ---------------------------------------------------------------------------------

    def load(self) -> NodeLoad:
        """This node's load: viewer sessions here (all streams and per stream), capacity, CPU since the last call."""
        now, cpu = time.monotonic(), time.process_time()
        then, cpu_then = self._cpu_mark
        if now - then >= 0.5:
            self._cpu = max(0.0, (cpu - cpu_then) / (now - then))
            self._cpu_mark = (now, cpu)
        per_stream: dict[str, int] = {}
        for stream_id in self._connected.values():
            per_stream[stream_id] = per_stream.get(stream_id, 0) + 1
        stats = self.local.stats()
        return NodeLoad(
            self.node_id,
            self.url,
            viewers=len(self._connected),
            capacity=self.node_capacity,
            cpu=round(self._cpu, 3),
            streams=int(stats.get("streams", 0)),
            workers=len(stats.get("workers", ())),
            stream_viewers=tuple(sorted(per_stream.items())),
        )

    # -- the Sfu protocol ---------------------------------------------------------------------------------------

    def add_listener(self, listener: Callable[[SfuEvent], Awaitable[None]]) -> None:
        self._listeners.append(listener)

    def is_live(self, stream_id: str) -> bool:
        return self.local.is_live(stream_id)

    def has_publisher(self, stream_id: str) -> bool:
        return self.local.has_publisher(stream_id)

    def has_relay(self, stream_id: str) -> bool:
        return self.local.has_relay(stream_id)

    async def publish(self, stream_id: str, offer_sdp: str, app_data: Any = None) -> tuple[str, str]:
        session_id, answer = await self.local.publish(stream_id, offer_sdp, app_data)
        self._stop_repipe(stream_id)
        self._relayed_from.pop(stream_id, None)
        self._moved_away.discard(stream_id)
        await self.placement.claim_origin(stream_id)
        return session_id, answer

    async def subscribe(
        self, stream_id: str, offer_sdp: str, app_data: Any = None, pending_keys: tuple[str, ...] = ()
    ) -> tuple[str, str]:
        await self._check_room(stream_id)
        if not self.local.is_live(stream_id):
            with contextlib.suppress(StreamNotLiveError):
                # Not live anywhere: the local SFU answers as on one node (a bad offer 400, else 404).
                await self._attach(stream_id)
        session_id, answer = await self.local.subscribe(stream_id, offer_sdp, app_data, pending_keys)
        self._viewers[session_id] = stream_id
        return session_id, answer

    async def close_session(self, session_id: str) -> None:
        try:
            await self.local.close_session(session_id)
        finally:
            self._viewers.pop(session_id, None)
            self._connected.pop(session_id, None)

    async def trickle(self, session_id: str, fragment: str) -> int:
        return await self.local.trickle(session_id, fragment)

    async def set_layer(self, session_id: str, preference: str, screen: tuple[int, int] | None = None) -> str | None:
        return await self.local.set_layer(session_id, preference, screen)

    async def keyframe(self, stream_id: str, min_width: int = 0) -> KeyframeSnapshot | None:
        """Only the node holding the publisher answers: it makes the stream's thumbnail (a relaying node says None)."""
        return await self.local.keyframe(stream_id, min_width)

    async def set_ladder(self, stream_id: str, enabled: bool) -> bool:
        """The ladder runs where the publisher is (its layers reach other nodes through the relay pipes)."""
        return await self.local.set_ladder(stream_id, enabled)

    async def drop_publisher(self, session_id: str) -> None:
        await self.local.drop_publisher(session_id)

    async def end_stream(self, stream_id: str, reason: str = "ended") -> None:
        """The stream ended on this node: end it here and on every other node."""
        await self._end_here(stream_id, reason)
        try:
            await self.placement.announce_ended(stream_id)
        except Exception as exc:  # the other nodes' copies still end when their relays hear the origin close
            log.warning("could not announce the end of stream %s: %s", stream_id, type(exc).__name__)

    async def open_origin_pipe(self, stream_id: str) -> str:
        return await self.local.open_origin_pipe(stream_id)

    async def attach_relay(self, stream_id: str, offer: str, app_data: Any = None) -> str:
        return await self.local.attach_relay(stream_id, offer, app_data)

    async def detach_relay(self, stream_id: str, reason: str = "detached") -> None:
        await self.local.detach_relay(stream_id, reason)

    def session_stream(self, session_id: str) -> str:
        return self.local.session_stream(session_id)

    def stats(self) -> dict[str, Any]:
        return self.local.stats()

    async def drain(self) -> None:
        """This node is stopping. Streams it is the origin of and that other nodes relay are NOT ended by its
        shutdown (as if it had died): their edges keep the viewers through the grace, re-pipe when the publisher
        reconnects anywhere, and end the stream if it does not. Nor are streams whose publisher already came back
        on another node (the registry names it, or told us so). Streams nobody relays end here as on one node."""
        self._draining = True
        for router in self.local.stats().get("routers", []):
            stream_id = str(router["stream_id"])
            live_here = router.get("publishing", True) is not False or bool(router.get("in_grace"))
            if router.get("pipes") and live_here:
                # (A socket publisher is already in its grace here: stopping closed its connection first.)
                self._handed_over.add(stream_id)
            elif await self.publisher_elsewhere(stream_id):
                # The publisher already came back on another node (a studio whose socket this stopping node closed
                # moves and publishes again at once); that node's relay from here is gone, but the stream is not.
                self._handed_over.add(stream_id)
        self._handed_over |= self._moved_away

    async def close(self) -> None:
        repipes, self._repipes = list(self._repipes.values()), {}
        await cancel_and_wait(*repipes)
        await self.local.close()

    # -- viewers go where there is room --------------------------------------------------------------------------

    async def _check_room(self, stream_id: str) -> None:
        if len(self._connected) >= self.node_capacity:
            elsewhere = least_loaded(await self.placement.nodes(), exclude=frozenset({self.node_id}))
            if elsewhere is None:
                raise ClusterFullError("every node is at its viewer capacity")
            raise NodeFullError(
                f"this node is full; watch on {elsewhere.node_id}", url=elsewhere.url, node_id=elsewhere.node_id
            )
        try:
            viewers = await asyncio.wait_for(self.placement.stream_viewers(stream_id), REGISTRY_WAIT_S)
        except Exception as exc:
            # The registry is unreachable: count this node's viewers only (the SFU still caps them per node).
            log.warning("cluster-wide viewer count unavailable (%s); counting this node only", type(exc).__name__)
            viewers = sum(1 for s in self._viewers.values() if s == stream_id)
        if viewers >= self.max_viewers_per_stream:
            raise SfuUnavailableError("this stream has as many viewers as it can take", code="stream_full")

    # -- relays ------------------------------------------------------------------------------------------------

    async def _attach(self, stream_id: str, *, replace: bool = False) -> Origin:
        """Pull one copy of the stream from its origin (once per node, however many viewers arrive at once)."""
        lock = self._attaching.setdefault(stream_id, asyncio.Lock())
        async with lock:
            if self.local.is_live(stream_id) and not replace:
                origin = self._relayed_from.get(stream_id)
                if origin is not None or self.local.has_publisher(stream_id):
                    return origin or Origin(stream_id, self.node_id, self.url, 0)
            origin = await self.placement.origin(stream_id)
            if origin is None or origin.node_id == self.node_id:
                raise StreamNotLiveError("the stream is not live")
            offer = await self._pipes.open_pipe(origin)
            await self.local.attach_relay(stream_id, offer, {"origin": origin.node_id, "epoch": origin.epoch})
            self._relayed_from[stream_id] = origin
            self.relays_attached += 1
            log.info("relaying stream %s from %s (epoch %s)", stream_id, origin.node_id, origin.epoch)
            return origin

    def _start_repipe(self, stream_id: str, *, not_from: Origin | None) -> None:
        if stream_id in self._repipes and not self._repipes[stream_id].done():
            return
        self._repipes[stream_id] = asyncio.create_task(
            self._repipe(stream_id, not_from), name=f"repipe-{self.node_id}-{stream_id}"
        )

    def _stop_repipe(self, stream_id: str) -> None:
        task = self._repipes.pop(stream_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _repipe(self, stream_id: str, not_from: Origin | None) -> None:
        """Viewers here are waiting out the grace: re-pipe from the stream's origin as soon as the registry names
        one other than the one that went away (or the same node with a newer epoch)."""
        deadline = self._clock() + self.settings.reconnect_grace_s
        try:
            while self._clock() < deadline and self._waiting_for_origin(stream_id):
                try:
                    origin = await self.placement.origin(stream_id)
                    if origin is not None and origin.node_id != self.node_id and origin != not_from:
                        await self._attach(stream_id, replace=True)
                        return
                    if origin is not None and origin.node_id == self.node_id:
                        return  # the publisher reconnected here
                except (StreamNotLiveError, AlreadyPublishingError):
                    pass
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.info("re-pipe of stream %s not yet possible: %s", stream_id, type(exc).__name__)
                await asyncio.sleep(0.2)
            if self._draining:
                # This node is stopping: its relays stop with it, which says nothing about the publisher (the
                # other nodes and the publisher's node decide the stream's end; see ``drain``).
                return
            if not self.local.has_publisher(stream_id):
                # The grace ran out with no origin anywhere: for the lifecycle here the publisher has stopped
                # (it ends the stream unless the publisher is elsewhere after all).
                await self._emit(PublisherStopped(stream_id, "", None, "origin_gone"))
        finally:
            if self._repipes.get(stream_id) is asyncio.current_task():
                del self._repipes[stream_id]

    async def publisher_elsewhere(self, stream_id: str) -> bool:
        """The stream's publisher is on another node now (it reconnected there): a publisher that stopped here
        does not end the stream (``app``'s lifecycle asks this through its ``PublisherPresence`` seam)."""
        try:
            origin = await self.placement.origin(stream_id)
        except Exception:
            return False
        return origin is not None and origin.node_id != self.node_id

    async def elsewhere(self, stream_id: str) -> bool:
        """``app.lifecycle.PublisherPresence``: the stream's publisher is connected to another node."""
        return await self.publisher_elsewhere(stream_id)

    def _waiting_for_origin(self, stream_id: str) -> bool:
        return self.local.is_live(stream_id) and not self.local.has_publisher(stream_id)

    async def origin_moved(self, stream_id: str) -> None:
        """Another node claimed the stream's origin (its publisher reconnected there): if this node has a copy,
        pull it from the new origin now rather than when the old pipe falls silent."""
        self._moved_away.add(stream_id)
        if self.local.is_live(stream_id) and not self.local.has_publisher(stream_id):
            self._start_repipe(stream_id, not_from=self._relayed_from.get(stream_id))

    async def _ended_elsewhere(self, stream_id: str) -> None:
        await self._end_here(stream_id, "stream_ended")

    async def _end_here(self, stream_id: str, reason: str) -> None:
        self._moved_away.discard(stream_id)
        self._stop_repipe(stream_id)
        self._relayed_from.pop(stream_id, None)
        with contextlib.suppress(Exception):
            await self.placement.release_origin(stream_id)
        await self.local.end_stream(stream_id, reason)

    async def _on_event(self, event: SfuEvent) -> None:
        if isinstance(event, SessionClosed) and event.role == VIEWER:
            self._viewers.pop(event.session_id, None)
            self._connected.pop(event.session_id, None)
        elif isinstance(event, ViewerConnected) and event.session_id in self._viewers:
            self._connected[event.session_id] = self._viewers[event.session_id]
        elif isinstance(event, RelayStopped) and _origin_may_come_back(event.reason) and not self._draining:
            # (A stopping node's own relays stop with it: nothing here waits for the origin any more.)
            self._start_repipe(event.stream_id, not_from=self._relayed_from.get(event.stream_id))
        elif isinstance(event, PublisherStarted):
            self._stop_repipe(event.stream_id)
        publisher_gone = isinstance(event, PublisherStopped) or (
            isinstance(event, SessionClosed) and event.role != VIEWER
        )
        if (
            publisher_gone
            and self._draining
            and (event.stream_id in self._handed_over or event.stream_id in self._moved_away)
        ):
            log.info("stopping: stream %s is left to the other nodes", event.stream_id)
            return  # left to the nodes relaying it or now publishing it (see ``drain``)
        await self._emit(event)

    async def _emit(self, event: SfuEvent) -> None:
        for listener in list(self._listeners):
            try:
                await listener(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("SFU event listener failed")
