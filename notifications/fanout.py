"""The go-live fan-out: followers hear that a streamer went live, off the go-live path, in batches, resumably.

- **Enqueue** (on the go-live path): ``StreamStarted`` — published once per stream, by the node whose
  ``created → live`` update won — becomes ONE job document (``notify_jobs``, id ``live:{stream}``) and wakes this
  node's worker. Nothing else happens on that path, whatever the follower count.
- **Claim.** A worker takes the oldest unfinished job whose lease ran out and holds it for ``lease_s``; every node
  runs one, and also polls every ``poll_s``, so a job whose node died is taken over when its lease runs out.
- **Steps.** The job walks the streamer's followers in id order, ``batch_size`` at a time: drop those who muted the
  streamer, write their notifications (ids are deterministic: a repeated step writes nothing twice), tell each of
  them over the socket (``notification:new`` to the user's room, every node), send Web Push to their subscriptions,
  then record the last follower done as the cursor and renew the lease. A crash repeats at most the step in flight:
  in-app events carry the notification id and Web Push a ``Topic`` derived from it, so clients and push services
  de-duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from accounts.service import AccountService
from core.clock import Clock
from core.errors import NotFoundError
from core.events import StreamStarted
from core.ids import UserId
from notifications.models import FanoutJob, GoLive, NotificationKind, PushSubscription
from notifications.push import PushOutcome, WebPushSender, topic_for
from notifications.settings import NotificationsSettings
from notifications.store import NotificationStore

log = logging.getLogger(__name__)

EVENT = "notification:new"
PURGE_EVERY_S = 3600.0
WAKE_DELAY_S = 0.05
YIELD_EVERY = 64


class UserNotifier(Protocol):
    """Every connection of one user, on every node (``signaling``'s fan-out implements it)."""

    async def to_user(self, user_id: str, event: str, payload: dict[str, Any]) -> None: ...


@dataclass(frozen=True, slots=True)
class StepCounts:
    notified: int = 0
    pushed: int = 0
    push_failed: int = 0
    muted: int = 0


class GoLiveFanout:
    def __init__(
        self,
        store: NotificationStore,
        accounts: AccountService,
        notifier: UserNotifier,
        clock: Clock,
        settings: NotificationsSettings,
        *,
        owner: str,
        pusher: WebPushSender | None = None,
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._notifier = notifier
        self._clock = clock
        self._settings = settings
        self._owner = owner
        self._pusher = pusher
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._current: str | None = None
        self.totals: Counter[str] = Counter()

    # The go-live path: one write.
    async def stream_started(self, event: StreamStarted) -> None:
        fields = {"kind": NotificationKind.LIVE.value, "stream_id": event.stream_id, "streamer_id": event.owner_id}
        fields["title"] = event.title
        if await self._store.enqueue_job(f"live:{event.stream_id}", fields, event.at):
            self._wake.set()

    # The worker
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="notify-fanout")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._current is not None:  # hand the job back at once instead of after the lease
            with contextlib.suppress(Exception):
                await self._store.release_job(self._current, self._owner)
            self._current = None

    async def _run(self) -> None:
        purged_at = float("-inf")
        while True:
            try:
                if self._clock.monotonic() - purged_at >= PURGE_EVERY_S:
                    purged_at = self._clock.monotonic()
                    await self.purge()
                while await self.run_once():
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("go-live fan-out failed; retrying")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._settings.poll_s)
                # Woken by a go-live on this node: let its request finish and answer before the fan-out takes turns
                # on the event loop.
                await asyncio.sleep(WAKE_DELAY_S)

    async def purge(self) -> int:
        """Delete notifications older than the retention (``HUB_NOTIFY_RETENTION_DAYS``)."""
        cutoff = self._clock.now() - timedelta(days=self._settings.retention_days)
        return await self._store.purge_notifications(cutoff)

    async def run_once(self) -> bool:
        """Claim one job and carry it to its end (or until its lease is lost); False when there was none."""
        doc = await self._store.claim_job(self._owner, self._clock.now(), self._settings.lease_s)
        if doc is None:
            return False
        job = FanoutJob.from_doc(doc)
        self._current = job.id
        try:
            await self._carry(job, doc.get("streamer_name"))
        finally:
            self._current = None
        return True

    async def _carry(self, job: FanoutJob, streamer_name: str | None) -> None:
        event = job.event
        if not streamer_name:
            try:
                streamer_name = (await self._accounts.get_user(UserId(event.streamer_id))).nickname
            except NotFoundError:
                streamer_name = ""
        event = GoLive(event.stream_id, event.streamer_id, streamer_name, event.title, event.at)
        after = UserId(job.cursor) if job.cursor is not None else None
        size = self._settings.batch_size
        batch: list[str] = []
        async with contextlib.aclosing(self._accounts.iter_followers(UserId(event.streamer_id), after)) as walk:
            async for follower in walk:
                batch.append(follower)
                if len(batch) == size:
                    if not await self._advance(job, event, batch):
                        return
                    batch = []
        if batch and not await self._advance(job, event, batch):
            return
        await self._store.finish_job(job.id, self._owner, self._clock.now())

    async def _advance(self, job: FanoutJob, event: GoLive, followers: list[str]) -> bool:
        """One step, then the cursor and a renewed lease in one conditional write; False if the lease was lost."""
        counts = await self.step(event, followers)
        held = await self._store.advance_job(
            job.id,
            self._owner,
            followers[-1],
            self._clock.now(),
            self._settings.lease_s,
            {"notified": counts.notified, "pushed": counts.pushed, "push_failed": counts.push_failed},
        )
        if not held:
            log.warning("go-live fan-out %s: lease lost; another node continues", job.id)
        return held

    async def step(self, event: GoLive, followers: list[str]) -> StepCounts:
        """Notify one batch of followers (in-app and Web Push); safe to repeat."""
        muted = await self._store.who_muted(event.streamer_id, followers)
        targets = [u for u in followers if u not in muted]
        docs = [
            {
                "_id": event.notification_id(u),
                "user_id": u,
                "kind": NotificationKind.LIVE.value,
                "at": event.at,
                "read": False,
                "stream_id": event.stream_id,
                "actor_id": event.streamer_id,
                "actor_name": event.streamer_name,
                "title": event.title,
            }
            for u in targets
        ]
        await self._store.insert_notifications(docs)
        for i, u in enumerate(targets):
            await self._notifier.to_user(u, EVENT, _public(docs[i]))
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
        pushed = failed = 0
        if self._pusher is not None and targets:
            subs = [PushSubscription.from_doc(d) for d in await self._store.subscriptions_of(targets)]
            outcomes = await asyncio.gather(*(self._push(event, s) for s in subs))
            pushed = sum(1 for o in outcomes if o is PushOutcome.SENT)
            failed = len(outcomes) - pushed
        counts = StepCounts(len(targets), pushed, failed, len(muted))
        self.totals.update(notified=counts.notified, pushed=pushed, push_failed=failed, muted=counts.muted)
        return counts

    async def _push(self, event: GoLive, sub: PushSubscription) -> PushOutcome:
        assert self._pusher is not None
        note_id = event.notification_id(sub.user_id)
        payload = {
            "id": note_id,
            "kind": NotificationKind.LIVE.value,
            "title": f"{event.streamer_name or 'Someone you follow'} is live",
            "body": event.title,
            "stream_id": event.stream_id,
            "url": f"/watch/{event.stream_id}",
        }
        outcome = await self._pusher.send(sub.info(), payload, topic_for(note_id))
        if outcome is PushOutcome.GONE:
            await self._store.delete_subscription(sub.id)
            self.totals.update(subscriptions_removed=1)
        return outcome


def _public(doc: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "kind": doc["kind"],
        "at": doc["at"].isoformat(),
        "read": False,
        "stream_id": doc["stream_id"],
        "actor_id": doc["actor_id"],
        "actor_name": doc["actor_name"],
        "title": doc["title"],
    }
