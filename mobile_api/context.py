"""What the HTTP edge needs from the rest of the hub. ``hub.wiring`` fills it in; handlers read it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from accounts.service import AccountService
from app.use_cases import UseCases
from gifts.service import GiftService
from rooms.chat import ChatService
from rooms.moderation import ModerationService
from rooms.presence import PresenceService
from rooms.streams import StreamService
from sfu.api import Sfu
from wallet.audit import LedgerAudit
from wallet.cashouts import CashoutService
from wallet.service import WalletService
from wallet.topups import TopUpService
from wallet.webhooks import StripeWebhooks


@dataclass(slots=True)
class ApiContext:
    accounts: AccountService
    use: UseCases  # the application layer: handlers call these
    streams: StreamService
    max_body_bytes: int
    public_url: str
    # name -> async check that raises when the dependency is unreachable
    readiness: dict[str, Callable[[], Awaitable[Any]]] = field(default_factory=dict)
    sfu: Sfu | None = None
    wallet: WalletService | None = None
    topups: TopUpService | None = None
    cashouts: CashoutService | None = None
    stripe_webhooks: StripeWebhooks | None = None
    gifts: GiftService | None = None
    chat: ChatService | None = None
    moderation: ModerationService | None = None
    presence: PresenceService | None = None
    ledger_audit: LedgerAudit | None = None
