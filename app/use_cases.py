"""The use cases of one node, built once by ``hub/app_wiring.py`` in dependency order and handed to both edges."""

from __future__ import annotations

from dataclasses import dataclass

from app.access import RoomAccess
from app.accounts_admin import AccountsAdmin
from app.chatting import Chatting
from app.gifting import Gifting
from app.lifecycle import StreamLifecycle
from app.moderating import Moderating
from app.money_admin import MoneyAdmin
from app.nodes import Nodes
from app.principal import Identity
from app.streaming import GoingLive
from app.watching import Watching


@dataclass(frozen=True, slots=True)
class UseCases:
    identity: Identity
    access: RoomAccess
    lifecycle: StreamLifecycle
    going_live: GoingLive
    watching: Watching
    chatting: Chatting
    moderating: Moderating
    gifting: Gifting
    accounts_admin: AccountsAdmin
    money_admin: MoneyAdmin
    nodes: Nodes
