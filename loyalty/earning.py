"""Earning channel points: watch time, chatting, following, each with an hourly cap per viewer and channel.

Watch time is node-independent. Time is cut into buckets of ``watch_interval_s`` aligned to the clock; a viewer seen
present (the cluster-wide presence: every node's viewers, as the rooms' shared state has them) in a live stream
during a bucket earns ``watch_points`` once for that (channel, viewer, bucket): the entry's id is
``watch:{channel}:{viewer}:{bucket}``. Every node samples the rooms it has members in, about twice per bucket, and
all of them may credit the same viewer: the id makes every repeat a no-op. So a viewer who reconnects, or moves to
another node, in the middle of a bucket earns it once, and a bucket in which they were present at a sample is never
lost because one node restarted.

A chat message earns once per message id, a follow once per (follower, channel) ever (a re-follow finds the entry
there already). Caps hold under concurrency on any number of nodes: the cap counter lives on the viewer's account
document and moves in the same conditional update as the balance (``PointsStore.apply_credit``).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Protocol

from core.clock import Clock
from core.tasks import cancel_and_wait
from loyalty.ledger import CAPPED, PointsLedger
from loyalty.models import Cap, EntryKind, EntrySpec, PointsEntry
from loyalty.settings import DEFAULTS, LoyaltySettings

log = logging.getLogger(__name__)

#: Viewers credited concurrently by one sampling pass.
CREDIT_CONCURRENCY = 16


class PresenceSource(Protocol):
    """The seam ``hub`` fills from the rooms: the live streams this node has members in, and their viewers."""

    async def live_rooms(self) -> list[tuple[str, str]]:
        """(stream id, channel = the streamer's user id) of live streams with members on this node."""

    async def viewers(self, stream_id: str) -> list[str]:
        """The stream's viewer keys on every node (user ids; guests are ``g:...`` and earn nothing)."""


class Earning:
    def __init__(
        self,
        ledger: PointsLedger,
        clock: Clock,
        settings: LoyaltySettings = DEFAULTS,
        presence: PresenceSource | None = None,
    ) -> None:
        self._ledger = ledger
        self._clock = clock
        self._s = settings
        self._presence = presence
        self._task: asyncio.Task[None] | None = None
        # (kind, channel, viewer) whose hourly cap this node saw reached, by clock hour: skipped without a database
        # round trip until the hour changes (the cap itself is enforced by the ledger, on every node).
        self._capped: set[tuple[str, str, str]] = set()
        self._capped_hour = -1

    def _known_capped(self, kind: EntryKind, channel: str, viewer: str) -> bool:
        hour = int(self._clock.now().timestamp()) // 3600
        if hour != self._capped_hour:
            self._capped.clear()
            self._capped_hour = hour
        return (kind.value, channel, viewer) in self._capped

    def _remember(self, entry: PointsEntry) -> PointsEntry:
        if entry.error == CAPPED and len(self._capped) < 100_000:
            self._capped.add((entry.kind.value, entry.channel, entry.viewer))
        return entry

    def bucket(self, at: datetime | None = None) -> int:
        return int((at or self._clock.now()).timestamp()) // self._s.watch_interval_s

    def _cap(self, kind: EntryKind, limit: int) -> Cap:
        return Cap(kind.value, int(self._clock.now().timestamp()) // 3600, limit)

    async def watch(self, channel: str, viewer: str, stream_id: str, bucket: int | None = None) -> PointsEntry | None:
        """Credit one watch bucket (the current one by default); None when there is nothing to earn."""
        if viewer == channel or viewer.startswith("g:") or self._s.watch_points <= 0:
            return None
        b = self.bucket() if bucket is None else bucket
        entry = await self._ledger.execute(
            EntrySpec(
                f"watch:{channel}:{viewer}:{b}",
                EntryKind.WATCH,
                channel,
                viewer,
                self._s.watch_points,
                cap=self._cap(EntryKind.WATCH, self._s.watch_cap_per_hour),
                refs={"stream_id": stream_id, "bucket": b},
            )
        )
        day = self._clock.now().date().isoformat()
        await self._ledger.store.count_watch_bucket(viewer, day, str(b), self._s.watch_interval_s)
        return entry

    async def chat(self, channel: str, viewer: str, message_id: str, stream_id: str) -> PointsEntry | None:
        if viewer == channel or self._s.chat_points <= 0 or self._known_capped(EntryKind.CHAT, channel, viewer):
            return None
        entry = await self._ledger.execute(
            EntrySpec(
                f"chat:{message_id}",
                EntryKind.CHAT,
                channel,
                viewer,
                self._s.chat_points,
                cap=self._cap(EntryKind.CHAT, self._s.chat_cap_per_hour),
                refs={"stream_id": stream_id},
            )
        )
        return self._remember(entry)

    async def follow(self, channel: str, viewer: str) -> PointsEntry | None:
        """Once per (viewer, channel), ever: unfollowing and following again earns nothing more."""
        if viewer == channel or self._s.follow_points <= 0:
            return None
        return await self._ledger.execute(
            EntrySpec(
                f"follow:{channel}:{viewer}",
                EntryKind.FOLLOW,
                channel,
                viewer,
                self._s.follow_points,
                cap=self._cap(EntryKind.FOLLOW, self._s.follow_cap_per_hour),
            )
        )

    async def sample_once(self) -> int:
        """Credit the current bucket to every signed-in viewer present in a live room this node has members in;
        returns how many viewers were sampled."""
        if self._presence is None:
            return 0
        bucket = self.bucket()
        sampled = 0
        for stream_id, channel in await self._presence.live_rooms():
            viewers = [v for v in await self._presence.viewers(stream_id) if v != channel and not v.startswith("g:")]
            for i in range(0, len(viewers), CREDIT_CONCURRENCY):
                chunk = viewers[i : i + CREDIT_CONCURRENCY]
                results = await asyncio.gather(
                    *(self.watch(channel, v, stream_id, bucket) for v in chunk), return_exceptions=True
                )
                for viewer, result in zip(chunk, results, strict=True):
                    if isinstance(result, asyncio.CancelledError):
                        raise result
                    if isinstance(result, BaseException):
                        log.warning("watch points for %s in %s failed: %r", viewer, channel, result)
            sampled += len(viewers)
        return sampled

    def start(self) -> None:
        if self._task is None and self._presence is not None:
            self._task = asyncio.create_task(self._loop(), name="loyalty-watch")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    async def _loop(self) -> None:
        period = max(self._s.watch_interval_s / 2, 0.5)  # at least one sample in every bucket
        while True:
            await asyncio.sleep(period)
            try:
                await self.sample_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("watch points sampling failed; retrying next period")
