"""Wiring for channel points: the points ledger, earning (watch time sampled from the rooms' cluster-wide presence),
rewards, the points reconciler and the audit ``hub wallet verify`` adds to the coins ledger's."""

from __future__ import annotations

from typing import Any

from core.clock import Clock
from core.errors import HubError
from core.ids import StreamId
from loyalty.earning import Earning
from loyalty.ledger import PointsLedger
from loyalty.reconciler import PointsReconciler
from loyalty.rewards import RewardService
from loyalty.settings import LoyaltySettings
from loyalty.store import PointsStore, RewardStore
from loyalty.verify import PointsAudit
from rooms.models import StreamStatus
from rooms.presence import PresenceService
from rooms.streams import StreamService


class RoomsPresence:
    """``loyalty.earning.PresenceSource`` from the rooms: this node's live rooms, each one's viewers on every node."""

    def __init__(self, presence: PresenceService, streams: StreamService, *, max_viewers: int = 100_000) -> None:
        self._presence = presence
        self._streams = streams
        self._max = max_viewers

    async def live_rooms(self) -> list[tuple[str, str]]:
        rooms: list[tuple[str, str]] = []
        for stream_id in self._presence.local_rooms():
            try:
                stream = await self._streams.get(StreamId(stream_id), moderators=False)
            except HubError:
                continue
            if stream.status is StreamStatus.LIVE:
                rooms.append((stream.id, stream.owner_id))
        return rooms

    async def viewers(self, stream_id: str) -> list[str]:
        """The shared set (every node's viewers), plus this node's own members: a viewer who just left another node
        is dropped from the shared set by that node until this node's next presence heartbeat writes them back."""
        shared = await self._presence.viewers(stream_id, self._max)
        return list(dict.fromkeys([*shared, *self._presence.local_viewers(stream_id)]))


class LoyaltyWiring:
    def __init__(
        self,
        settings: LoyaltySettings,
        *,
        node_id: str,
        db: Any,
        clock: Clock,
        presence: PresenceService,
        streams: StreamService,
    ) -> None:
        self.settings = settings
        self.store = PointsStore(db)
        self.reward_store = RewardStore(db)
        self.ledger = PointsLedger(self.store, clock, node_id=node_id, lease_s=settings.lease_s)
        self.earning = Earning(self.ledger, clock, settings, RoomsPresence(presence, streams))
        self.rewards = RewardService(self.reward_store, self.ledger, clock, settings)
        self.reconciler = PointsReconciler(self.ledger, self.rewards, interval_s=settings.reconcile_interval_s)
        self.audit = PointsAudit(self.store, self.reconciler.run_once)

    async def start(self) -> None:
        await self.store.create_indexes()
        await self.reward_store.create_indexes()
        self.earning.start()
        self.reconciler.start()

    async def close(self) -> None:
        await self.earning.close()
        await self.reconciler.close()
