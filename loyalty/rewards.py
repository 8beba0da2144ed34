"""Rewards a streamer defines and viewers redeem with the channel's points; the streamer's request queue.

Redeeming (``redeem:{channel}:{viewer}:{client key}`` names both the redemption and its debit entry, so a retried
request is answered from what is stored and never pays twice):
1. the cooldowns are claimed first, each with one conditional update (the reward's ``next_at`` for everyone, a
   per-viewer document for the viewer): of concurrent redemptions on any node one wins a cooldown;
2. the redemption is recorded ``paying``;
3. the debit entry is applied by the points ledger, guarded by the balance: concurrent redemptions never overspend;
4. ``unfulfilled`` (in the queue) when paid; ``rejected`` (and the cooldowns handed back) when the points were short.
A crash between the steps leaves ``paying``; the reconciler settles it from the entry (voiding an entry that was
never inserted). Switching a reward off or deleting it refunds what waits in the queue for it. A refund moves
``unfulfilled`` → ``refunding`` (one winner against "done" and other refunds), applies
the credit entry ``refund:{redemption}`` (once, whatever retries) and ends ``refunded``.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from core.clock import Clock, as_utc
from core.errors import InvalidInputError
from core.ids import new_id
from loyalty.errors import (
    InsufficientPointsError,
    RedemptionNotFoundError,
    RedemptionStateError,
    RewardCooldownError,
    RewardDisabledError,
    RewardNotFoundError,
    TooManyRewardsError,
)
from loyalty.ledger import PointsLedger
from loyalty.models import EntryKind, EntrySpec, EntryState, Redemption, RedemptionStatus, Reward, RewardKind
from loyalty.settings import DEFAULTS, LoyaltySettings
from loyalty.store import DuplicateEntryError, RewardStore

log = logging.getLogger(__name__)

TITLE_MAX = 45
PROMPT_MAX = 200
TEXT_MAX = 300
COST_MAX = 10_000_000
COOLDOWN_MAX_S = 7 * 24 * 3600
_SOUND = re.compile(r"^[a-z0-9_-]{1,40}$")
_KEY = re.compile(r"^[A-Za-z0-9_.:-]{8,80}$")
#: Redemptions refunded per sweep when a reward is switched off (more than a queue holds in practice).
REFUND_BATCH = 1000
EDITABLE = frozenset({"title", "cost", "enabled", "cooldown_s", "user_cooldown_s", "prompt", "sound"})


def _check(fields: dict[str, Any], kind: RewardKind) -> None:
    title = fields.get("title")
    if title is not None and not 1 <= len(str(title).strip()) <= TITLE_MAX:
        raise InvalidInputError(f"a title has 1 to {TITLE_MAX} characters", field="title")
    cost = fields.get("cost")
    if cost is not None and not 1 <= int(cost) <= COST_MAX:
        raise InvalidInputError(f"a cost is 1 to {COST_MAX} points", field="cost")
    for name in ("cooldown_s", "user_cooldown_s"):
        value = fields.get(name)
        if value is not None and not 0 <= int(value) <= COOLDOWN_MAX_S:
            raise InvalidInputError(f"{name} is 0 to {COOLDOWN_MAX_S} s", field=name)
    prompt = fields.get("prompt")
    if prompt is not None and len(str(prompt)) > PROMPT_MAX:
        raise InvalidInputError(f"a prompt has at most {PROMPT_MAX} characters", field="prompt")
    sound = fields.get("sound")
    if kind is RewardKind.SOUND and sound is not None and not _SOUND.match(str(sound)):
        raise InvalidInputError("a sound alert names a sound: a-z, 0-9, _ and -", field="sound")


class RewardService:
    def __init__(
        self, store: RewardStore, ledger: PointsLedger, clock: Clock, settings: LoyaltySettings = DEFAULTS
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._clock = clock
        self._s = settings

    @property
    def ledger(self) -> PointsLedger:
        return self._ledger

    # Rewards (the streamer's)
    async def create(
        self,
        channel: str,
        kind: RewardKind,
        title: str,
        cost: int,
        *,
        prompt: str = "",
        sound: str = "",
        cooldown_s: int = 0,
        user_cooldown_s: int = 0,
        enabled: bool = True,
    ) -> Reward:
        fields: dict[str, Any] = {
            "title": title.strip(),
            "cost": cost,
            "prompt": prompt,
            "sound": sound or ("chime" if kind is RewardKind.SOUND else ""),
            "cooldown_s": cooldown_s,
            "user_cooldown_s": user_cooldown_s,
            "enabled": enabled,
        }
        _check(fields, kind)
        if await self._store.count_rewards(channel) >= self._s.max_rewards:
            raise TooManyRewardsError(f"a channel has at most {self._s.max_rewards} rewards")
        now = self._clock.now()
        doc = {"_id": f"rw_{new_id()}", "channel": channel, "kind": kind.value, "next_at": None, "created_at": now}
        doc.update(fields, updated_at=now)
        await self._store.insert_reward(doc)
        return Reward.from_doc(doc)

    async def update(self, channel: str, reward_id: str, changes: dict[str, Any]) -> Reward:
        reward = await self.get(channel, reward_id)
        fields = {k: v for k, v in changes.items() if k in EDITABLE and v is not None}
        if "title" in fields:
            fields["title"] = str(fields["title"]).strip()
        _check(fields, reward.kind)
        fields["updated_at"] = self._clock.now()
        doc = await self._store.update_reward(reward_id, channel, fields)
        if doc is None:
            raise RewardNotFoundError("no such reward in this channel")
        if not doc.get("enabled", True):  # switched off: what waits in the queue for it gets its points back
            await self.refund_waiting(channel, reward_id, channel)
        return Reward.from_doc(doc)

    async def delete(self, channel: str, reward_id: str, by: str) -> int:
        """Delete a reward (switched off and hidden; its past redemptions keep their record) and refund, once each,
        the redemptions still waiting for it; how many were refunded."""
        await self.get(channel, reward_id)
        fields = {"enabled": False, "deleted": True, "updated_at": self._clock.now()}
        if await self._store.update_reward(reward_id, channel, fields) is None:
            raise RewardNotFoundError("no such reward in this channel")
        return await self.refund_waiting(channel, reward_id, by)

    async def refund_waiting(self, channel: str, reward_id: str, by: str) -> int:
        """Refund every redemption of a switched-off reward still in the queue (a redemption being paid for right now
        is settled first); each refund happens once (``unfulfilled → refunding`` has one winner). A redemption whose
        payment another node is still making refunds itself when it finds the reward off (``redeem``)."""
        count = 0
        for doc in await self._store.waiting_for(reward_id, limit=REFUND_BATCH):
            if doc["channel"] != channel:
                continue
            if doc["status"] == RedemptionStatus.PAYING.value:
                doc = await self._settle_paying(doc, wait=True) or doc
            if doc["status"] != RedemptionStatus.UNFULFILLED.value:
                continue
            claimed = await self._store.move_redemption(
                doc["_id"], RedemptionStatus.UNFULFILLED, RedemptionStatus.REFUNDING, self._clock.now(), decided_by=by
            )
            if claimed is not None:
                await self._finish_refund(claimed)
                count += 1
        return count

    async def get(self, channel: str, reward_id: str) -> Reward:
        doc = await self._store.get_reward(reward_id)
        if doc is None or doc["channel"] != channel or doc.get("deleted"):
            raise RewardNotFoundError("no such reward in this channel")
        return Reward.from_doc(doc)

    async def rewards(self, channel: str, *, include_disabled: bool) -> list[Reward]:
        return [Reward.from_doc(d) for d in await self._store.rewards_of(channel, enabled_only=not include_disabled)]

    # Redeeming (the viewer's)
    async def redeem(
        self,
        channel: str,
        viewer: str,
        nickname: str,
        reward_id: str,
        key: str,
        *,
        text: str = "",
        stream_id: str = "",
    ) -> Redemption:
        if not _KEY.match(key):
            raise InvalidInputError("an idempotency key has 8 to 80 of A-Z a-z 0-9 _ . : -", field="idempotency_key")
        rid = f"redeem:{channel}:{viewer}:{key}"
        existing = await self._store.get_redemption(rid)
        if existing is not None:
            return await self._replay(existing, reward_id)
        reward = await self.get(channel, reward_id)
        if not reward.enabled:
            raise RewardDisabledError("this reward is switched off")
        text = text.strip()
        if reward.kind.needs_text and not text:
            raise InvalidInputError("this reward needs a text", field="text")
        if len(text) > TEXT_MAX:
            raise InvalidInputError(f"a text has at most {TEXT_MAX} characters", field="text")
        now = self._clock.now()
        claims = await self._claim_cooldowns(reward, viewer, now)
        doc = {
            "_id": rid,
            "channel": channel,
            "viewer": viewer,
            "viewer_nickname": nickname,
            "reward_id": reward.id,
            "reward_kind": reward.kind.value,
            "title": reward.title,
            "cost": reward.cost,
            "text": text if reward.kind.needs_text else "",
            "sound": reward.sound,
            "status": RedemptionStatus.PAYING.value,
            "stream_id": stream_id,
            "created_at": now,
            "updated_at": now,
        }
        try:
            await self._store.insert_redemption(doc)
        except DuplicateEntryError:  # the same key, concurrently: that request pays; this one reports it
            await self._release(reward, viewer, claims, now)
            again = await self._store.get_redemption(rid)
            assert again is not None
            return await self._replay(again, reward_id)
        entry = await self._ledger.execute(
            EntrySpec(rid, EntryKind.REDEEM, channel, viewer, -reward.cost, refs={"reward_id": reward.id})
        )
        if entry.state is EntryState.REJECTED:
            await self._store.move_redemption(rid, RedemptionStatus.PAYING, RedemptionStatus.REJECTED, now)
            await self._release(reward, viewer, claims, now)
            balance = await self._ledger.balance(channel, viewer)
            raise InsufficientPointsError("not enough points for this reward", cost=reward.cost, balance=balance)
        moved = await self._store.move_redemption(rid, RedemptionStatus.PAYING, RedemptionStatus.UNFULFILLED, now)
        if moved is None:
            moved = await self._store.get_redemption(rid)
        assert moved is not None
        current = await self._store.get_reward(reward.id)
        if current is None or not current.get("enabled", True):
            # Switched off (or deleted) while this was being paid for: the streamer's sweep may have missed it.
            claimed = await self._store.move_redemption(
                rid, RedemptionStatus.UNFULFILLED, RedemptionStatus.REFUNDING, now, decided_by="auto"
            )
            if claimed is not None:
                await self._finish_refund(claimed)
            raise RewardDisabledError("this reward is switched off")
        return Redemption.from_doc(moved)

    async def _claim_cooldowns(
        self, reward: Reward, viewer: str, now: datetime
    ) -> tuple[datetime | None, datetime | None]:
        global_until = user_until = None
        if reward.cooldown_s:
            global_until = now + timedelta(seconds=reward.cooldown_s)
            if not await self._store.claim_global_cooldown(reward.id, now, global_until):
                current = await self._store.get_reward(reward.id)
                if current is None or not current.get("enabled", True):
                    raise RewardDisabledError("this reward is switched off")
                wait = (as_utc(current["next_at"]) - now).total_seconds() if current.get("next_at") else 1.0
                raise RewardCooldownError("this reward is cooling down", retry_after_s=max(wait, 0.001))
        if reward.user_cooldown_s:
            user_until = now + timedelta(seconds=reward.user_cooldown_s)
            running = await self._store.claim_user_cooldown(f"{reward.id}:{viewer}", now, user_until)
            if running is not None:
                if global_until is not None:
                    await self._store.release_global_cooldown(reward.id, global_until, now)
                wait = (as_utc(running) - now).total_seconds()
                raise RewardCooldownError("you redeemed this reward a moment ago", retry_after_s=max(wait, 0.001))
        return global_until, user_until

    async def _release(
        self, reward: Reward, viewer: str, claims: tuple[datetime | None, datetime | None], now: datetime
    ) -> None:
        global_until, user_until = claims
        if global_until is not None:
            await self._store.release_global_cooldown(reward.id, global_until, now)
        if user_until is not None:
            await self._store.release_user_cooldown(f"{reward.id}:{viewer}", user_until, now)

    async def _replay(self, doc: dict[str, Any], reward_id: str) -> Redemption:
        if doc["reward_id"] != reward_id:
            raise InvalidInputError("this idempotency key was used for another reward", field="idempotency_key")
        if doc["status"] == RedemptionStatus.PAYING.value:
            doc = await self._settle_paying(doc, wait=True) or doc
        if doc["status"] == RedemptionStatus.REJECTED.value:
            raise InsufficientPointsError("not enough points for this reward", cost=int(doc["cost"]))
        return Redemption.from_doc(doc)

    async def _settle_paying(self, doc: dict[str, Any], *, wait: bool) -> dict[str, Any] | None:
        """Finish a redemption left ``paying`` from its debit entry (voided if it was never inserted)."""
        rid = doc["_id"]
        entry = await self._ledger.get(rid)
        if entry is None and not wait:
            entry = await self._ledger.void(rid, EntryKind.REDEEM, doc["channel"], doc["viewer"], -int(doc["cost"]))
        if entry is None or entry.state is EntryState.PENDING:
            return None
        now = self._clock.now()
        to = RedemptionStatus.UNFULFILLED if entry.applied else RedemptionStatus.REJECTED
        moved = await self._store.move_redemption(rid, RedemptionStatus.PAYING, to, now)
        return moved or await self._store.get_redemption(rid)

    # The queue (the streamer's and moderators')
    async def queue(self, channel: str, statuses: list[RedemptionStatus], *, limit: int) -> list[Redemption]:
        oldest_first = statuses == [RedemptionStatus.UNFULFILLED]  # the open queue: first come, first served
        docs = await self._store.queue(channel, statuses, limit=limit, newest_first=not oldest_first)
        return [Redemption.from_doc(d) for d in docs]

    async def _of_channel(self, channel: str, rid: str) -> dict[str, Any]:
        doc = await self._store.get_redemption(rid)
        if doc is None or doc["channel"] != channel:
            raise RedemptionNotFoundError("no such redemption in this channel")
        return doc

    async def fulfil(self, channel: str, rid: str, by: str) -> Redemption:
        await self._of_channel(channel, rid)
        moved = await self._store.move_redemption(
            rid, RedemptionStatus.UNFULFILLED, RedemptionStatus.FULFILLED, self._clock.now(), decided_by=by
        )
        if moved is None:
            raise RedemptionStateError("this redemption is not waiting any more")
        return Redemption.from_doc(moved)

    async def refund(self, channel: str, rid: str, by: str) -> Redemption:
        """Give the points back (once): the redemption must still be waiting."""
        await self._of_channel(channel, rid)
        claimed = await self._store.move_redemption(
            rid, RedemptionStatus.UNFULFILLED, RedemptionStatus.REFUNDING, self._clock.now(), decided_by=by
        )
        if claimed is None:
            raise RedemptionStateError("this redemption is not waiting any more")
        return await self._finish_refund(claimed)

    async def _finish_refund(self, doc: dict[str, Any]) -> Redemption:
        rid = doc["_id"]
        await self._ledger.execute(
            EntrySpec(
                f"refund:{rid}",
                EntryKind.REFUND,
                doc["channel"],
                doc["viewer"],
                int(doc["cost"]),
                refs={"redemption_id": rid, "reward_id": doc["reward_id"]},
            )
        )
        moved = await self._store.move_redemption(
            rid, RedemptionStatus.REFUNDING, RedemptionStatus.REFUNDED, self._clock.now()
        )
        final = moved or await self._store.get_redemption(rid)
        assert final is not None
        return Redemption.from_doc(final)

    async def delivered(self, rid: str) -> Redemption | None:
        """A highlight or sound redemption was delivered: it leaves the queue as fulfilled."""
        moved = await self._store.move_redemption(
            rid, RedemptionStatus.UNFULFILLED, RedemptionStatus.FULFILLED, self._clock.now(), decided_by="auto"
        )
        return Redemption.from_doc(moved) if moved else None

    async def count_redeemed(self, viewer: str) -> int:
        return await self._store.count_redemptions(viewer)

    async def reconcile_once(self, *, ignore_leases: bool = False, limit: int = 200) -> int:
        """Finish redemptions a crash left ``paying`` or ``refunding`` (older than the lease)."""
        before = self._clock.now() - (timedelta(0) if ignore_leases else timedelta(seconds=self._s.lease_s))
        if ignore_leases:
            before += timedelta(microseconds=1)
        count = 0
        for doc in await self._store.stuck([RedemptionStatus.PAYING], before, limit=limit):
            if await self._settle_paying(doc, wait=False) is not None:
                count += 1
        for doc in await self._store.stuck([RedemptionStatus.REFUNDING], before, limit=limit):
            await self._finish_refund(doc)
            count += 1
        return count
