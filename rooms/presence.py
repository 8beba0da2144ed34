"""Presence and likes: viewers counted once across nodes, peak kept, likes aggregated and sent a few times a second.

Each node tracks its own connections (refcounted per viewer key: a user id, or ``g:{connection}`` for a guest) and
refreshes their expiry in the shared ``LiveState``; a node that dies stops refreshing, so its viewers age out.
Counts and like totals are read from the shared state and sent to the room's members on this node only, so every
member gets one update per tick whatever the number of nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from core.clock import Clock
from core.errors import InvalidInputError, RateLimitedError, UnauthenticatedError, UnavailableError
from core.ids import StreamId
from core.ratelimit import Rate, RateLimiter
from core.tasks import cancel_and_wait
from rooms.live_state import LiveState
from rooms.notify import NullNotifier, RoomNotifier
from rooms.settings import DEFAULTS
from rooms.streams import StreamService

log = logging.getLogger(__name__)

LIKES_PER_SEND_MAX = 100


@dataclass
class _Removals:
    keys: dict[str, float]  # viewer key -> the expiry this node wrote for it
    written: asyncio.Future[None]  # done once these are removed (or given up on)


@dataclass(frozen=True, slots=True)
class PresenceTiming:
    viewers_interval_s: float = DEFAULTS.viewers_interval_s  # at most one viewers:count per member per interval
    likes_interval_s: float = DEFAULTS.likes_interval_s  # at most one likes:update per member per interval
    heartbeat_s: float = 10.0
    expiry_s: float = 30.0  # a viewer not refreshed for this long (its node died) is no longer counted


class PresenceService:
    def __init__(
        self,
        live: LiveState,
        streams: StreamService,
        limiter: RateLimiter,
        clock: Clock,
        timing: PresenceTiming | None = None,
        notifier: RoomNotifier | None = None,
        like_rate: Rate = Rate(burst=30, per_second=15.0),
        join_rate: Rate = Rate(burst=20, per_second=2.0),
    ) -> None:
        self._live = live
        self._streams = streams
        self._limiter = limiter
        self._clock = clock
        self.timing = timing or PresenceTiming()
        self.notifier: RoomNotifier = notifier or NullNotifier()
        self._like_rate = like_rate
        self._join_rate = join_rate
        self._local: defaultdict[str, Counter[str]] = defaultdict(Counter)
        # The expiry this node last wrote per stream and viewer key (its leave removes the viewer only if no other
        # node wrote one since: the viewer may be connected there now).
        self._written: defaultdict[str, dict[str, float]] = defaultdict(dict)
        self._pending_likes: Counter[str] = Counter()
        self._last_count: dict[str, int] = {}
        self._last_likes: dict[str, int] = {}
        self._peak: dict[str, int] = {}
        self._tasks: list[asyncio.Task[None]] = []
        # Leaves of a stream waiting for the removal in flight (see _remove), and the streams with one in flight.
        self._leaving: dict[str, _Removals] = {}
        self._removing: set[str] = set()

    def _expiry(self) -> float:
        return self._clock.now().timestamp() + self.timing.expiry_s

    async def allow_join(self, viewer_key: str) -> None:
        """Joining is cheap for one person and costly in bulk (shared state writes): limit it per viewer."""
        wait = await self._limiter.hit(f"join:{viewer_key}", self._join_rate)
        if wait:
            raise RateLimitedError("you are joining rooms too fast", retry_after_s=wait)

    async def join(self, stream_id: str, viewer_key: str) -> int:
        """Count a connection in; returns the viewer count."""
        room = self._local[stream_id]
        room[viewer_key] += 1
        if room[viewer_key] == 1:  # first connection of this viewer on this node
            expires = self._expiry()
            self._written[stream_id][viewer_key] = expires
            await self._live.touch_viewers(stream_id, [viewer_key], expires)
        return await self.count(stream_id)

    async def leave(self, stream_id: str, viewer_key: str) -> None:
        room = self._local.get(stream_id)
        if room is None or viewer_key not in room:
            return
        room[viewer_key] -= 1
        if room[viewer_key] > 0:
            return
        del room[viewer_key]
        written = self._written.get(stream_id, {}).pop(viewer_key, None)
        if not room and self._local.get(stream_id) is room:
            del self._local[stream_id]
            self._written.pop(stream_id, None)
        if written is not None:
            await self._remove(stream_id, viewer_key, written)

    async def _remove(self, stream_id: str, viewer_key: str, written: float) -> None:
        """Take a viewer out of the shared state once its last connection here left. A stream's leaves are written
        together: while one removal is on its way, the viewers leaving meanwhile wait for the next, one round trip
        for all of them. (One call each took a pooled connection each: when 2,500 viewers of a room left one node
        at once, the pool ran out or the breaker's deadline passed, and the breaker opened.)"""
        batch = self._leaving.get(stream_id)
        if batch is None:
            batch = self._leaving[stream_id] = _Removals({}, asyncio.get_running_loop().create_future())
        batch.keys[viewer_key] = written
        if stream_id in self._removing:
            await asyncio.shield(batch.written)  # the removal in flight writes this batch next
            return
        self._removing.add(stream_id)
        try:
            while (batch := self._leaving.pop(stream_id, None)) is not None:
                try:
                    await self._live.remove_viewers(stream_id, list(batch.keys.items()))
                finally:
                    if not batch.written.done():
                        batch.written.set_result(None)
        finally:
            self._removing.discard(stream_id)
            left = self._leaving.pop(stream_id, None)  # only if the loop was cancelled or failed: those viewers'
            if left is not None and not left.written.done():  # entries expire with their heartbeat instead
                left.written.set_result(None)

    def local_rooms(self) -> list[str]:
        """The streams with at least one member connected to this node."""
        return [stream_id for stream_id, members in self._local.items() if members]

    def local_viewers(self, stream_id: str) -> list[str]:
        """The viewer keys of the stream's members connected to this node."""
        return list(self._local.get(stream_id, ()))

    async def count(self, stream_id: str) -> int:
        try:
            return await self._live.count_viewers(stream_id, self._clock.now().timestamp())
        except UnavailableError:  # shared state away: the best this node knows
            return max(self._last_count.get(stream_id, 0), len(self._local.get(stream_id, ())))

    async def viewers(self, stream_id: str, limit: int = 100) -> list[str]:
        """Viewer keys (user ids; ``g:...`` for guests) of the stream, up to ``limit``."""
        return await self._live.list_viewers(stream_id, self._clock.now().timestamp(), limit)

    async def like(self, stream_id: StreamId, user_id: str | None, count: int) -> None:
        if user_id is None:
            raise UnauthenticatedError("log in to like")
        if not 1 <= count <= LIKES_PER_SEND_MAX:
            raise InvalidInputError(f"count must be 1 to {LIKES_PER_SEND_MAX}", field="count")
        wait = await self._limiter.hit(f"like:{user_id}", self._like_rate)
        if wait:
            raise RateLimitedError("slow down", retry_after_s=wait)
        if stream_id not in self._local and stream_id not in self._pending_likes:
            await self._streams.get(stream_id)  # an unknown stream is an error, not a silent counter
        self._pending_likes[stream_id] += count

    async def likes(self, stream_id: str) -> int:
        try:
            total = await self._live.likes(stream_id)
        except UnavailableError:
            total = self._last_likes.get(stream_id, 0)
        return total + self._pending_likes.get(stream_id, 0)

    # Background work
    def start(self) -> None:
        if self._tasks:
            return
        self._tasks = [
            asyncio.create_task(self._every(self.timing.likes_interval_s, self.flush_likes), name="rooms-likes"),
            asyncio.create_task(self._every(self.timing.viewers_interval_s, self.send_counts), name="rooms-viewers"),
            asyncio.create_task(self._every(self.timing.heartbeat_s, self.heartbeat), name="rooms-heartbeat"),
        ]

    async def close(self) -> None:
        tasks, self._tasks = self._tasks, []
        await cancel_and_wait(*tasks)
        with contextlib.suppress(Exception):
            await self.flush_likes()

    async def _every(self, interval: float, step: Callable[[], Awaitable[None]]) -> None:
        failing = False
        while True:
            await asyncio.sleep(interval)
            try:
                await step()
                if failing:
                    log.info("presence: %s works again", step.__name__)
                failing = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis or the database away: keep ticking, try again next time
                if not failing:
                    log.warning("presence: %s failed (%s); retrying every tick", step.__name__, type(exc).__name__)
                failing = True

    async def heartbeat(self) -> None:
        expires = self._expiry()
        for stream_id, room in list(self._local.items()):
            members = list(room)
            await self._live.touch_viewers(stream_id, members, expires)
            written = self._written[stream_id]
            for key in members:
                if key in room:  # (still here after the write)
                    written[key] = expires

    async def flush_likes(self) -> None:
        pending, self._pending_likes = self._pending_likes, Counter()
        for stream_id, n in pending.items():
            try:
                await self._live.add_likes(stream_id, n)
                await self._streams.record_stats(StreamId(stream_id), inc={"likes": n})
            except asyncio.CancelledError:
                self._pending_likes[stream_id] += n
                raise
            except Exception:
                self._pending_likes[stream_id] += n  # keep them for the next tick
                raise
        for stream_id in list(self._local):
            total = await self._live.likes(stream_id)
            if self._last_likes.get(stream_id) != total:
                self._last_likes[stream_id] = total
                await self.notifier.to_room_local(stream_id, "likes:update", {"stream_id": stream_id, "total": total})
        self._forget_gone(self._last_likes)

    async def send_counts(self) -> None:
        for stream_id in list(self._local):
            count = await self.count(stream_id)
            if self._last_count.get(stream_id) != count:
                self._last_count[stream_id] = count
                await self.notifier.to_room_local(stream_id, "viewers:count", {"stream_id": stream_id, "count": count})
            if count > self._peak.get(stream_id, 0):
                self._peak[stream_id] = count
                await self._streams.record_stats(StreamId(stream_id), peak_viewers=count)
        self._forget_gone(self._last_count)
        self._forget_gone(self._peak)

    def _forget_gone(self, table: dict[str, int]) -> None:
        for stream_id in [s for s in table if s not in self._local]:
            del table[stream_id]
