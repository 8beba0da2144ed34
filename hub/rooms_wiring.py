"""Wiring for rooms and signaling: chat, moderation, presence, the Socket.IO servers and the cross-node fan-out.

Kept apart from ``hub/wiring.py`` so that file stays a readable list; ``Hub`` calls ``RoomsWiring`` once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from prometheus_client.registry import CollectorRegistry

from accounts.service import AccountService
from app.principal import Identity
from app.use_cases import UseCases
from core.clock import Clock
from core.events import EventBus, TopGiftersChanged
from core.ratelimit import InProcessRateLimiter, Rate, RateLimiter
from hub.dependency_errors import translate_dependency_error
from hub.redis_breaker import GuardedRateLimiter, RedisBreaker, guarded
from hub.redis_client import connect, link_client, node_client
from hub.redis_ratelimit import RedisRateLimiter
from rooms.chat import ChatLimits, ChatService
from rooms.live_state import InProcessLiveState, LiveState, RecentWrittenBehind, ResilientLiveState
from rooms.moderation import ModerationService
from rooms.presence import PresenceService, PresenceTiming
from rooms.settings import RoomsSettings
from rooms.store_chat import ChatStore
from rooms.store_redis import RedisLiveState
from rooms.streams import StreamService
from signaling.events import Deps
from signaling.fanout import RoomFanout
from signaling.keys import STREAM_ROOM
from signaling.metrics import FanoutCollector, SignalingMetrics
from signaling.server import Origins, Signaling
from signaling.store_redis import RedisRoomLink, ShardedRoomLink

log = logging.getLogger(__name__)


class RoomsWiring:
    """Chat, moderation, presence and the fan-out; ``serve`` then builds the Socket.IO edge over the use cases."""

    def __init__(
        self,
        settings: RoomsSettings,
        *,
        node_id: str,
        redis_url: str | None,
        redis_cluster: bool = False,
        cors_origins: tuple[str, ...],
        db: Any,
        clock: Clock,
        events: EventBus,
        registry: CollectorRegistry,
        accounts: AccountService,
        streams: StreamService,
        limiter: RateLimiter,
        redis_breaker: RedisBreaker | None,
    ) -> None:
        self._cors_origins = cors_origins
        self._events = events
        self._registry = registry
        live: LiveState = InProcessLiveState()
        self._recent_writer: RecentWrittenBehind | None = None
        link_factory = None
        # Rooms get their own Redis pool that waits for a free connection instead of failing: a thousand viewers
        # leaving at once must not exhaust the hub's pool (redis-py raises MaxConnectionsError past 100).
        self.redis: Any = None
        if redis_url:
            self.redis = connect(redis_url, cluster=redis_cluster, pooled_wait=True)
            redis = self.redis
            url = redis_url
            assert redis_breaker is not None  # the hub builds one whenever Redis is configured
            breaker = redis_breaker  # short deadlines, then this node's own state while Redis does not answer
            # A message's ack does not wait for the recent-chat cache: written right after, in order (live_state.py).
            self._recent_writer = RecentWrittenBehind(ResilientLiveState(guarded(RedisLiveState(redis), breaker)))
            live = self._recent_writer
            limiter = GuardedRateLimiter(RedisRateLimiter(redis), InProcessRateLimiter(clock), breaker)

            def link_factory(node_channel: str, on_message: Any) -> RedisRoomLink | ShardedRoomLink:
                if redis_cluster:  # shard channels, each on the master owning the room's slot
                    return ShardedRoomLink(redis, node_channel, on_message, node_client)
                return RedisRoomLink(link_client(url), node_channel, on_message, owns_client=True)

        self.fanout = RoomFanout(node_id, link_factory)
        self.chat_store = ChatStore(db)
        self.chat = ChatService(
            self.chat_store,
            live,
            streams,
            accounts,
            limiter,
            clock,
            ChatLimits(rate=Rate(settings.chat_burst, settings.chat_per_second)),
            notifier=self.fanout,
        )
        self.moderation = ModerationService(self.chat_store, self.chat, streams, accounts, limiter, clock, events)
        self.presence = PresenceService(
            live,
            streams,
            limiter,
            clock,
            PresenceTiming(viewers_interval_s=settings.viewers_interval_s, likes_interval_s=settings.likes_interval_s),
            notifier=self.fanout,
        )
        if redis_url and redis_breaker is not None:
            # Viewers who joined while Redis was away were counted on this node only: write them back at once.
            redis_breaker.on_recover(self.presence.heartbeat)
        registry.register(FanoutCollector(self.fanout))
        events.subscribe(TopGiftersChanged, self._top_gifters)
        self.fanout.on_room_event(self._room_changed, frozenset({"room:settings", "stream:ended"}))

    def serve(
        self, identity: Identity, use: UseCases, allowed_origin: Callable[[str], bool] | None = None
    ) -> Signaling:
        """The Socket.IO edge over the use cases (built once they exist); ``Hub`` starts and stops it.

        With ``HUB_CORS_ORIGINS`` set, connections are checked against ``allowed_origin`` (the configured origins
        and the cluster's nodes: a viewer page moves its socket to another node), else against the list."""
        origins: Origins = list(self._cors_origins)
        if origins and allowed_origin is not None:
            origins = allowed_origin
        signaling = Signaling(
            identity,
            Deps(use=use, translate=translate_dependency_error),
            self.fanout,
            SignalingMetrics(self._registry),
            cors_origins=origins,
        )
        signaling.subscribe(self._events)
        return signaling

    def _room_changed(self, room: str, event: str) -> None:
        if room.startswith(STREAM_ROOM):
            self.chat.forget_room(room[len(STREAM_ROOM) :])

    async def _top_gifters(self, event: TopGiftersChanged) -> None:
        await self.chat.set_top_gifters(event.stream_id, event.user_ids)

    async def start(self) -> None:
        await self.chat_store.create_indexes()
        self.presence.start()

    async def close(self) -> None:
        await self.presence.close()
        if self._recent_writer is not None:
            await self._recent_writer.close()
        if self.redis is not None:
            await self.redis.aclose()
