"""Wiring for the application layer: the use cases, built in dependency order from the domain services."""

from __future__ import annotations

from accounts.audit import AdminAudit
from accounts.service import AccountService
from app.access import RoomAccess
from app.accounts_admin import AccountsAdmin
from app.admin_console import AdminConsole
from app.battling import Battling
from app.catalogue import Catalogue
from app.chatting import Chatting
from app.directory import Directory
from app.gifting import Gifting
from app.goals import Goals
from app.lifecycle import PublisherPresence, StreamLifecycle
from app.loyalty import ChannelPoints
from app.media_stats import MediaStats
from app.moderating import Moderating
from app.money_admin import MoneyAdmin
from app.my_streams import MyStreams
from app.my_wallet import MyWallet
from app.nodes import NodeDirectory, Nodes
from app.notifying import Notifying
from app.overlays import Overlays
from app.payments import Payments
from app.principal import Identity
from app.profiles import Profiles
from app.recording import RecordingDriver, Recordings
from app.signing_in import SigningIn
from app.streaming import GoingLive
from app.subscribing import Subscribing
from app.thumbnails import Thumbnails
from app.transcoding import Transcoding
from app.use_cases import UseCases
from app.watching import Watching
from battles.service import BattleService
from core.clock import Clock
from core.events import EventBus
from gifts.service import GiftService
from hub.loyalty_wiring import LoyaltyWiring
from notifications.service import NotificationService
from recordings.service import RecordingService
from rooms.chat import ChatService
from rooms.moderation import ModerationService
from rooms.notify import RoomNotifier
from rooms.overlays import OverlayKeys
from rooms.presence import PresenceService
from rooms.streams import StreamService
from rooms.thumbnails import ThumbnailService
from sfu import Sfu
from subscriptions.emotes import EmoteService
from subscriptions.service import SubscriptionService
from wallet.audit import LedgerAudit
from wallet.cashouts import CashoutService
from wallet.service import WalletService
from wallet.topups import TopUpService
from wallet.webhooks import StripeWebhooks


def build_use_cases(
    *,
    identity: Identity,
    accounts: AccountService,
    streams: StreamService,
    chat: ChatService,
    moderation: ModerationService,
    presence: PresenceService,
    gifts: GiftService,
    wallet: WalletService,
    cashouts: CashoutService,
    topups: TopUpService,
    webhooks: StripeWebhooks,
    subscriptions: SubscriptionService,
    emotes: EmoteService,
    audit: LedgerAudit,
    sfu: Sfu,
    events: EventBus,
    notifier: RoomNotifier,
    nodes: NodeDirectory,
    notifications: NotificationService,
    overlay_keys: OverlayKeys,
    admin_audit: AdminAudit,
    loyalty: LoyaltyWiring,
    clock: Clock,
    thumbnails: ThumbnailService,
    thumbnail_interval_s: float,
    battles: BattleService,
    recordings: RecordingService,
    recording_driver: RecordingDriver,
    presence_elsewhere: PublisherPresence | None = None,
) -> UseCases:
    access = RoomAccess(streams, chat)
    lifecycle = StreamLifecycle(streams, sfu, events, presence_elsewhere)
    battling = Battling(access, streams, chat, accounts, battles, clock)
    points = ChannelPoints(access, loyalty.rewards, loyalty.earning, chat, notifier, accounts, wallet, gifts)
    return UseCases(
        identity=identity,
        signing_in=SigningIn(accounts),
        profiles=Profiles(accounts, points),
        access=access,
        lifecycle=lifecycle,
        directory=Directory(streams, accounts, presence, thumbnails),
        my_streams=MyStreams(access, streams, accounts),
        going_live=GoingLive(access, streams, identity, lifecycle, sfu, presence),
        watching=Watching(access, chat, presence, gifts, accounts),
        chatting=Chatting(access, chat, presence, subscriptions, emotes, points),
        moderating=Moderating(access, moderation, streams, accounts, notifier),
        gifting=Gifting(access, gifts, battling),
        catalogue=Catalogue(gifts, admin_audit),
        goals=Goals(access, gifts),
        my_wallet=MyWallet(accounts, wallet, topups, cashouts),
        payments=Payments(webhooks),
        accounts_admin=AccountsAdmin(accounts, streams, lifecycle, notifier, admin_audit),
        money_admin=MoneyAdmin(accounts, wallet, cashouts, audit, admin_audit, loyalty.audit),
        nodes=Nodes(nodes),
        notifying=Notifying(notifications),
        overlays=Overlays(access, overlay_keys, chat, gifts, notifier, clock),
        admin_console=AdminConsole(access, accounts, moderation, lifecycle, admin_audit),
        thumbnails=Thumbnails(thumbnails, thumbnail_interval_s),
        transcoding=Transcoding(access, streams, sfu),
        media_stats=MediaStats(access, sfu),
        battling=battling,
        subscribing=Subscribing(accounts, subscriptions, emotes, clock, access, presence),
        points=points,
        recordings=Recordings(access, recordings, recording_driver),
    )
