"""Wiring: the only place that builds clients and services.

``Hub(settings)`` constructs everything without I/O; ``await hub.start()`` creates indexes and starts
background work; ``await hub.close()`` stops it. With no ``HUB_REDIS_URL`` the node runs alone with
in-process state; with no ``HUB_MONGO_URL`` the stores run on the in-process MongoDB stand-in.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import AsyncMongoClient

from accounts.audit import AdminAudit
from accounts.passwords import PasswordHasher
from accounts.service import AccountService
from accounts.store import AccountStore
from accounts.store_audit import AdminAuditStore
from accounts.tokens import AccessTokenCodec
from app.principal import Identity
from app.recording import RecordingDriver
from app.thumbnails import ThumbnailMaker
from core.clock import Clock, SystemClock
from core.events import InProcessEventBus, StreamEnded, StreamStarted
from core.ratelimit import InProcessRateLimiter, RateLimiter
from hub.app_wiring import build_use_cases
from hub.battles_wiring import BattlesWiring
from hub.cluster_wiring import ClusterWiring
from hub.loyalty_wiring import LoyaltyWiring
from hub.metrics import HubMetrics
from hub.money_wiring import MoneyWiring
from hub.mongo_standin import StandInClient
from hub.redis_breaker import GuardedRateLimiter, RedisBreaker
from hub.redis_ratelimit import RedisRateLimiter
from hub.rooms_wiring import RoomsWiring
from hub.settings import Settings
from hub.sfu_wiring import SfuWiring
from hub.subs_wiring import SubsWiring
from hub.thumbnail_metrics import ThumbnailCollector
from mobile_api.context import ApiContext
from notifications.fanout import GoLiveFanout
from notifications.push import WebPushSender
from notifications.service import NotificationService
from notifications.store import NotificationStore
from recordings.service import RecordingService
from recordings.settings import RecordingsSettings
from recordings.storage import LocalStorage, Storage
from recordings.storage_s3 import S3Storage
from recordings.store import RecordingStore
from rooms.overlays import OverlayKeys
from rooms.store import StreamStore
from rooms.store_overlays import OverlayKeyStore
from rooms.store_thumbnails import ThumbnailStore
from rooms.streams import StreamService
from rooms.thumbnails import ThumbnailService

log = logging.getLogger(__name__)


def build_recording_storage(settings: RecordingsSettings) -> Storage:
    """Local disk unless ``HUB_RECORDINGS_STORAGE=s3`` (segments are written locally first either way)."""
    if settings.storage == "s3":
        return S3Storage(
            settings.directory,
            settings.s3_bucket,
            endpoint=settings.s3_endpoint,
            region=settings.s3_region,
            access_key=settings.s3_access_key,
            secret_key=settings.s3_secret_key,
        )
    return LocalStorage(settings.directory)


class Hub:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, mongo_client: Any = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.metrics = HubMetrics()
        self.events = InProcessEventBus()
        self._owns_mongo = mongo_client is None
        if mongo_client is not None:
            self.mongo: Any = mongo_client
        elif settings.mongo_url:
            self.mongo = AsyncMongoClient(settings.mongo_url, tz_aware=True, serverSelectionTimeoutMS=5000)
        else:
            self.mongo = StandInClient()
        self.db: Any = self.mongo[settings.mongo_db]
        self.redis: Any = None
        self.redis_breaker: RedisBreaker | None = None
        limiter: RateLimiter
        if settings.redis_url:
            from hub.redis_client import connect

            # One Redis, or a Redis Cluster (HUB_REDIS_CLUSTER).
            self.redis = connect(settings.redis_url, cluster=settings.redis_cluster)
            # Hot-path calls (limits, presence, live state) go through one breaker per node: a hung Redis costs one
            # short deadline, then per-node fallbacks until a background probe hears Redis again.
            self.redis_breaker = RedisBreaker(
                self._ping_all,
                call_timeout_s=settings.redis_call_timeout_s,
                probe_interval_s=settings.redis_probe_interval_s,
                registry=self.metrics.registry,
            )
            limiter = GuardedRateLimiter(
                RedisRateLimiter(self.redis), InProcessRateLimiter(self.clock), self.redis_breaker
            )
        else:
            limiter = InProcessRateLimiter(self.clock)
        self.limiter = limiter

        self.account_store = AccountStore(self.db)
        accounts = settings.accounts
        self.passwords = PasswordHasher(
            accounts.bcrypt_rounds,
            hash_workers=accounts.password_hash_workers,
            verify_workers=accounts.password_verify_workers,
        )
        self.accounts = AccountService(
            self.account_store,
            self.passwords,
            AccessTokenCodec(accounts.jwt_secret, accounts.access_token_ttl_s, accounts.jwt_leeway_s),
            self.clock,
            limiter,
            accounts.login_limits(),
            accounts.refresh_token_ttl_s,
            admin_emails=frozenset(accounts.admin_emails),
        )
        self.identity = Identity(self.accounts)
        self.stream_store = StreamStore(self.db)
        self.overlay_store = OverlayKeyStore(self.db)
        self.admin_audit_store = AdminAuditStore(self.db)
        self.streams = StreamService(self.stream_store, self.clock, self.events)
        self.cluster = ClusterWiring(
            settings.cluster,
            node_id=settings.node_id,
            public_url=settings.public_url,
            max_viewers_per_stream=settings.sfu.max_viewers_per_stream,
            redis=self.redis,
            cors_origins=settings.cors_origins,  # sockets from every node's pages are let in too
        )
        self.sfu_wiring = SfuWiring(settings.sfu, self.metrics.registry, self.cluster)
        self.sfu = self.sfu_wiring.sfu

        self.rooms = RoomsWiring(
            settings.rooms,
            node_id=settings.node_id,
            redis_url=settings.redis_url,
            redis_cluster=settings.redis_cluster,
            cors_origins=settings.cors_origins,
            db=self.db,
            clock=self.clock,
            events=self.events,
            registry=self.metrics.registry,
            accounts=self.accounts,
            streams=self.streams,
            limiter=limiter,
            redis_breaker=self.redis_breaker,
        )
        self.chat = self.rooms.chat
        self.moderation = self.rooms.moderation
        self.presence = self.rooms.presence
        self.broadcaster = self.rooms.fanout  # RoomBroadcaster: await hub.broadcaster.emit(stream_id, event, payload)
        self.money = MoneyWiring(
            settings.wallet,
            settings.gifts,
            node_id=settings.node_id,
            public_url=settings.public_url,
            db=self.db,
            clock=self.clock,
            events=self.events,
            accounts=self.accounts,
            streams=self.streams,
            limiter=limiter,
            redis=self.redis,
            redis_breaker=self.redis_breaker,
            broadcaster=self.broadcaster,
            message_screen=self.chat.screen_gift_message,
        )
        self.wallet = self.money.wallet
        self.gifts = self.money.gifts
        self.battles = BattlesWiring(
            settings.battles,
            db=self.db,
            clock=self.clock,
            events=self.events,
            wallet=self.wallet,
            notifier=self.broadcaster,
        )
        self.subs = SubsWiring(
            settings.subscriptions,
            settings.wallet,
            bean_hold_s=settings.gifts.bean_hold_s,
            public_url=settings.public_url,
            db=self.db,
            clock=self.clock,
            events=self.events,
            wallet=self.money.wallet,
            webhooks=self.money.webhooks,
            accounts=self.accounts,
            streams=self.streams,
            broadcaster=self.broadcaster,
        )
        # Channel points: a ledger of their own (nothing converts coins into points), watch time from presence.
        self.loyalty = LoyaltyWiring(
            settings.loyalty,
            node_id=settings.node_id,
            db=self.db,
            clock=self.clock,
            presence=self.presence,
            streams=self.streams,
        )
        self.notification_store = NotificationStore(self.db)
        notify = settings.notifications
        self.notifications = NotificationService(self.notification_store, self.accounts, self.clock, notify)
        self.pusher = (
            WebPushSender(
                notify.vapid_private_key,
                notify.vapid_subject,
                ttl_s=notify.push_ttl_s,
                timeout_s=notify.push_timeout_s,
                concurrency=notify.push_concurrency,
            )
            if notify.vapid_private_key
            else None
        )
        # Go-live notifications: StreamStarted (once per stream, on the node that marked it live) enqueues one job;
        # each node's worker fans jobs out to followers, in-app over the socket fan-out and by Web Push.
        self.golive_fanout = GoLiveFanout(
            self.notification_store,
            self.accounts,
            self.rooms.fanout,
            self.clock,
            notify,
            owner=settings.node_id,
            pusher=self.pusher,
        )
        self.events.subscribe(StreamStarted, self.golive_fanout.stream_started)
        # Directory thumbnails: made here for the streams whose publisher is on this node, served by every node.
        self.thumbnails = ThumbnailService(ThumbnailStore(self.db), self.clock, settings.node_id)
        self.thumbnail_maker = ThumbnailMaker(self.sfu, self.thumbnails, settings.rooms)
        self.metrics.registry.register(ThumbnailCollector(self.thumbnail_maker))
        self.events.subscribe(StreamEnded, self._forget_thumbnail)
        # Recordings: written by this node's own SFU for the streams whose publisher is here; listed and served by
        # every node (files on local disk: this node's directory; on S3: any node).
        self.recording_store = RecordingStore(self.db)
        self.recording_storage = build_recording_storage(settings.recordings)
        self.recording_service = RecordingService(
            self.recording_store, self.recording_storage, settings.recordings, self.clock, settings.node_id
        )
        self.recording_driver = RecordingDriver(self.sfu_wiring.local_sfu, self.recording_service, self.streams)
        self.sfu.add_listener(self.recording_driver.on_sfu_event)
        self.use = build_use_cases(
            identity=self.identity,
            accounts=self.accounts,
            streams=self.streams,
            chat=self.chat,
            moderation=self.moderation,
            presence=self.presence,
            gifts=self.gifts,
            wallet=self.money.wallet,
            cashouts=self.money.cashouts,
            topups=self.money.topups,
            webhooks=self.money.webhooks,
            subscriptions=self.subs.service,
            emotes=self.subs.emotes,
            audit=self.money.audit,
            sfu=self.sfu,
            events=self.events,
            notifier=self.rooms.fanout,
            nodes=self.cluster,  # the live nodes' addresses, from the placement registry
            notifications=self.notifications,
            overlay_keys=OverlayKeys(self.overlay_store, self.clock),
            admin_audit=AdminAudit(self.admin_audit_store, self.clock),
            loyalty=self.loyalty,
            clock=self.clock,
            thumbnails=self.thumbnails,
            thumbnail_interval_s=settings.rooms.thumbnail_interval_s,
            battles=self.battles.service,
            recordings=self.recording_service,
            recording_driver=self.recording_driver,
            # A publisher lost here may be back on another node: the placement registry knows.
            presence_elsewhere=self.sfu_wiring.cluster_media,
        )
        self.signaling = self.rooms.serve(self.identity, self.use, self.cluster.allows_origin)

        readiness: dict[str, Callable[[], Awaitable[Any]]] = {"database": self._ping_database}
        if self.redis is not None:
            readiness["redis"] = self._ping_redis
        self.api = ApiContext(
            use=self.use,
            settings=settings.mobile_api,
            public_url=settings.public_url,
            readiness=readiness,
        )
        self._started = False

    async def _forget_thumbnail(self, event: StreamEnded) -> None:
        await self.thumbnails.forget(event.stream_id)

    async def _ping_database(self) -> None:
        await self.db.command("ping")

    async def _ping_all(self) -> Any:
        """PING one Redis, or every master of a cluster (its default PING asks one node)."""
        if self.settings.redis_cluster:
            return await self.redis.ping(target_nodes="primaries")
        return await self.redis.ping()

    async def _ping_redis(self) -> None:
        assert self.redis_breaker is not None
        await self.redis_breaker.call(self._ping_all)

    async def start(self) -> None:
        if self._started:
            return
        self._started = True
        for name in self.settings.generated_secrets:
            log.warning("dev mode: %s is not set; generated a random one for this run", name)
        if self.settings.mongo_url is None:
            log.warning("no HUB_MONGO_URL: using the in-process MongoDB stand-in; data is lost when the hub stops")
        if self.redis is None:
            log.info("no HUB_REDIS_URL: single node, in-process state")
        if self.settings.redis_cluster:
            await self._learn_slot_maps()
        await self.account_store.create_indexes()
        await self.stream_store.create_indexes()
        await self.overlay_store.create_indexes()
        await self.admin_audit_store.create_indexes()
        await self.rooms.start()
        self.signaling.start()
        await self.money.start()
        await self.battles.start()
        await self.subs.start()
        await self.notification_store.create_indexes()
        self.golive_fanout.start()
        self.thumbnail_maker.start()
        await self.loyalty.start()
        await self.recording_store.create_indexes()
        if isinstance(self.recording_storage, S3Storage):
            await self.recording_storage.ensure_bucket()
        self.recording_driver.start()
        await self.cluster.start()

    async def _learn_slot_maps(self) -> None:
        """A cluster client's first command reads the slot map and the command table (hundreds of ms on a busy
        machine): do it now, not inside a hot-path call's breaker deadline. Redis may be away at start: the first
        call that needs it tries again."""
        for client in (self.redis, self.rooms.redis):
            try:
                await asyncio.wait_for(client.initialize(), 10)
            except Exception as exc:
                log.warning("Redis Cluster not reachable at start (%s); nodes keep trying", type(exc).__name__)

    async def close(self) -> None:
        await self.golive_fanout.close()  # hands an unfinished fan-out job back for another node
        if self.pusher is not None:
            await self.pusher.close()
        await self.battles.close()
        await self.loyalty.close()
        await self.money.close()
        await self.thumbnail_maker.close()
        await self.cluster.close()  # leave the registry first: no new viewers are sent here
        await self.sfu_wiring.close()
        await self.recording_driver.close()  # after the SFU: its recorders' last segments are stored and joined
        await self.signaling.close()
        await self.rooms.close()
        if self.redis_breaker is not None:
            await self.redis_breaker.close()
        self.passwords.close()
        if self.redis is not None:
            await self.redis.aclose()
        if self._owns_mongo:
            await self.mongo.close()
