"""The admin console's own use cases (``/admin``): find users, the platform-wide report queue, taking a stream down,
and the audit trail. Roles, suspensions, identity, coins, cash-outs and the catalogue are the existing families
(``AccountsAdmin``, ``MoneyAdmin``, ``Catalogue``), which write their audit entries themselves, so an action is in the
trail whichever edge or page took it."""

from __future__ import annotations

from typing import Any

from accounts.audit import AdminAction, AdminAudit
from accounts.service import AccountService
from app.access import RoomAccess
from app.lifecycle import StreamLifecycle
from app.policy import Action, require
from app.principal import Principal
from core.errors import InvalidInputError
from core.ids import StreamId, UserId
from core.pagination import Page
from core.text import REASON
from rooms.chat_models import ReportStatus
from rooms.models import Stream, StreamStatus
from rooms.moderation import ModerationService

#: The reason a stream taken down ends with (``stream:ended``'s ``reason``).
TAKEDOWN_REASON = "taken_down"


class AdminConsole:
    def __init__(
        self,
        access: RoomAccess,
        accounts: AccountService,
        moderation: ModerationService,
        lifecycle: StreamLifecycle,
        audit: AdminAudit,
    ) -> None:
        self._access = access
        self._accounts = accounts
        self._moderation = moderation
        self._lifecycle = lifecycle
        self._audit = audit

    async def users(self, who: Principal | None, text: str, limit: int) -> list[dict[str, Any]]:
        """Users by nickname or email prefix (or id), newest first, with what an admin needs to act on them."""
        require(Action.ADMINISTER_PLATFORM, who)
        return [{**u.private(), "suspended": u.suspended} for u in await self._accounts.search_users(text, limit)]

    async def reports(
        self, who: Principal | None, status: ReportStatus | str | None, cursor: str | None, limit: int | None
    ) -> Page:
        """Every stream's reports, newest first (default: open ones)."""
        require(Action.ADMINISTER_PLATFORM, who)
        return await self._moderation.reports(None, status=status, cursor=cursor, limit=limit)

    async def resolve_report(self, who: Principal | None, report_id: str, resolution: str) -> dict[str, Any]:
        require(Action.ADMINISTER_PLATFORM, who)
        assert who is not None
        stream_id = await self._moderation.report_stream(report_id)
        await self._access.authorize(Action.RESOLVE_REPORT, stream_id, who)
        report = await self._moderation.resolve_report(stream_id, who.user_id, report_id, resolution)
        await self._audit.record(
            who.user_id, who.nickname, AdminAction.REPORT, "report", report_id, resolution, stream_id=stream_id
        )
        return report

    async def take_down(self, who: Principal | None, stream_id: StreamId, reason: str) -> Stream:
        """End a stream for breaking the rules (``stream:ended {reason: "taken_down"}``), with the why recorded.
        Idempotent for the stream; each call is in the trail."""
        require(Action.TAKE_DOWN_STREAM, who)
        assert who is not None
        why = REASON.clean(reason)
        if not why:
            raise InvalidInputError("say why the stream is taken down", field="reason")
        stream, _ = await self._access.room(stream_id, who, standing=False)
        was = stream.status
        if was is not StreamStatus.ENDED:
            stream = await self._lifecycle.end(stream.id, reason=TAKEDOWN_REASON)
        await self._audit.record(
            who.user_id,
            who.nickname,
            AdminAction.TAKEDOWN,
            "stream",
            stream.id,
            why,
            owner_id=stream.owner_id,
            was=was.value,
        )
        return stream

    async def audit_trail(
        self, who: Principal | None, target_id: str | None, cursor: str | None, limit: int | None
    ) -> Page:
        """Every admin action, newest first: who, when, what, on whom or what, why."""
        require(Action.ADMINISTER_PLATFORM, who)
        return await self._audit.page(target_id=target_id, cursor=cursor, limit=limit)

    async def user(self, who: Principal | None, user_id: UserId) -> dict[str, Any]:
        require(Action.ADMINISTER_PLATFORM, who)
        u = await self._accounts.get_user(user_id)
        return {**u.private(), "suspended": u.suspended}
