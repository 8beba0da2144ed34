"""The use cases of one node, built once by ``hub/app_wiring.py`` in dependency order and handed to both edges."""

from __future__ import annotations

from dataclasses import dataclass

from app.access import RoomAccess
from app.accounts_admin import AccountsAdmin
from app.admin_console import AdminConsole
from app.battling import Battling
from app.catalogue import Catalogue
from app.chatting import Chatting
from app.directory import Directory
from app.gifting import Gifting
from app.goals import Goals
from app.lifecycle import StreamLifecycle
from app.loyalty import ChannelPoints
from app.media_stats import MediaStats
from app.moderating import Moderating
from app.money_admin import MoneyAdmin
from app.my_streams import MyStreams
from app.my_wallet import MyWallet
from app.nodes import Nodes
from app.notifying import Notifying
from app.overlays import Overlays
from app.payments import Payments
from app.principal import Identity
from app.profiles import Profiles
from app.recording import Recordings
from app.signing_in import SigningIn
from app.streaming import GoingLive
from app.subscribing import Subscribing
from app.thumbnails import Thumbnails
from app.transcoding import Transcoding
from app.watching import Watching


@dataclass(frozen=True, slots=True)
class UseCases:
    identity: Identity
    signing_in: SigningIn
    profiles: Profiles
    access: RoomAccess
    lifecycle: StreamLifecycle
    directory: Directory
    my_streams: MyStreams
    going_live: GoingLive
    watching: Watching
    chatting: Chatting
    moderating: Moderating
    gifting: Gifting
    catalogue: Catalogue
    goals: Goals
    my_wallet: MyWallet
    payments: Payments
    accounts_admin: AccountsAdmin
    money_admin: MoneyAdmin
    nodes: Nodes
    notifying: Notifying
    overlays: Overlays
    admin_console: AdminConsole
    thumbnails: Thumbnails
    transcoding: Transcoding
    media_stats: MediaStats
    battling: Battling
    subscribing: Subscribing
    points: ChannelPoints
    recordings: Recordings
