"""Wiring for rooms and signaling: chat, moderation, presence, the Socket.IO servers and the cross-node fan-out.

Kept apart from ``hub/wiring.py`` so that file stays a readable list; ``Hub`` calls ``RoomsWiring`` once.
"""

from __future__ import annotations

import logging
from typing import Any

import redis.asyncio as aioredis

from app.access import RoomAccess
from app.chatting import Chatting
from app.gifting import Gifting
from app.moderating import Moderating
from app.principal import Identity
from app.streaming import GoingLive
from app.use_cases import UseCases
from core.errors import ErrorTranslator
from core.events import TopGiftersChanged
from core.ratelimit import InProcessRateLimiter, Rate, RateLimiter
from hub.dependency_errors import translate_dependency_error
from hub.redis_breaker import GuardedRateLimiter, guarded
from hub.redis_ratelimit import RedisRateLimiter
from rooms.chat import ChatLimits, ChatService
from rooms.live_state import InProcessLiveState, LiveState, ResilientLiveState
from rooms.moderation import ModerationService
from rooms.presence import PresenceService, PresenceTiming
from rooms.store_chat import ChatStore
from rooms.store_redis import RedisLiveState
from rooms.streams import StreamService
from signaling.events import Services
from signaling.fanout import RoomFanout
from signaling.keys import STREAM_ROOM
from signaling.metrics import FanoutCollector, SignalingMetrics
from signaling.server import Signaling
from signaling.store_redis import RedisRoomLink

log = logging.getLogger(__name__)


class RoomsWiring:
    def __init__(self, hub: Any, streams: StreamService, identity: Identity) -> None:
        s = hub.settings
        live: LiveState = InProcessLiveState()
        limiter: RateLimiter = hub.limiter
        link_factory = None
        # Rooms get their own Redis pool that waits for a free connection instead of failing: a thousand viewers
        # leaving at once must not exhaust the hub's pool (redis-py raises MaxConnectionsError past 100).
        self.redis: Any = None
        if s.redis_url:
            self.redis = aioredis.Redis(
                connection_pool=aioredis.BlockingConnectionPool.from_url(
                    s.redis_url,
                    max_connections=64,
                    timeout=5,
                    socket_timeout=5,
                    socket_connect_timeout=2,
                    health_check_interval=10,
                )
            )
            redis = self.redis
            breaker = hub.redis_breaker  # short deadlines, then this node's own state while Redis does not answer
            live = ResilientLiveState(guarded(RedisLiveState(redis), breaker))
            limiter = GuardedRateLimiter(RedisRateLimiter(redis), InProcessRateLimiter(hub.clock), breaker)

            def link_factory(node_channel: str, on_message: Any) -> RedisRoomLink:
                return RedisRoomLink(redis, node_channel, on_message)

        self.fanout = RoomFanout(s.node_id, link_factory)
        self.chat_store = ChatStore(hub.db)
        self.chat = ChatService(
            self.chat_store,
            live,
            streams,
            hub.accounts,
            limiter,
            hub.clock,
            ChatLimits(rate=Rate(s.chat_burst, s.chat_per_second)),
            notifier=self.fanout,
        )
        self.moderation = ModerationService(
            self.chat_store, self.chat, streams, hub.accounts, limiter, hub.clock, hub.events
        )
        self.presence = PresenceService(
            live,
            streams,
            limiter,
            hub.clock,
            PresenceTiming(viewers_interval_s=s.viewers_interval_s, likes_interval_s=s.likes_interval_s),
            notifier=self.fanout,
        )
        if s.redis_url and hub.redis_breaker is not None:
            # Viewers who joined while Redis was away were counted on this node only: write them back at once.
            hub.redis_breaker.on_recover(self.presence.heartbeat)
        services = Services()
        services.provide(StreamService, streams)
        services.provide(ErrorTranslator, translate_dependency_error)
        services.provide(ChatService, self.chat)
        services.provide(ModerationService, self.moderation)
        services.provide(PresenceService, self.presence)
        self.services = services
        self.signaling = Signaling(
            identity,
            services,
            self.fanout,
            SignalingMetrics(hub.metrics.registry),
            cors_origins=list(s.cors_origins) or [],
        )
        self.signaling.subscribe(hub.events)
        hub.metrics.registry.register(FanoutCollector(self.fanout))
        hub.events.subscribe(TopGiftersChanged, self._top_gifters)
        self.fanout.on_room_event(self._room_changed, frozenset({"room:settings", "stream:ended"}))

    def provide_use_cases(self, use: UseCases) -> None:
        for kind, impl in (
            (RoomAccess, use.access),
            (GoingLive, use.going_live),
            (Chatting, use.chatting),
            (Moderating, use.moderating),
            (Gifting, use.gifting),
        ):
            self.services.provide(kind, impl)

    def _room_changed(self, room: str, event: str) -> None:
        if room.startswith(STREAM_ROOM):
            self.chat.forget_room(room[len(STREAM_ROOM) :])

    async def _top_gifters(self, event: TopGiftersChanged) -> None:
        await self.chat.set_top_gifters(event.stream_id, event.user_ids)

    async def start(self) -> None:
        await self.chat_store.create_indexes()
        self.signaling.start()
        self.presence.start()

    async def close(self) -> None:
        await self.presence.close()
        await self.signaling.close()
        if self.redis is not None:
            await self.redis.aclose()
