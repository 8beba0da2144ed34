"""Accounts administration: global roles and suspensions. A change reaches the person's open sockets at once
(``you:changed`` to their user room; the socket edge re-reads the principal), and a suspension also ends their live
streams."""

from __future__ import annotations

from accounts.audit import AdminAction, AdminAudit
from accounts.models import Role, User
from accounts.service import AccountService
from app.lifecycle import StreamLifecycle
from app.policy import Action, require
from app.principal import Principal
from core.errors import InvalidInputError
from core.ids import UserId
from rooms.models import StreamStatus
from rooms.notify import RoomNotifier
from rooms.streams import StreamService

#: Pushed to every connection of a user whose powers changed (role, suspension, channel moderator).
CHANGED_EVENT = "you:changed"


class AccountsAdmin:
    def __init__(
        self,
        accounts: AccountService,
        streams: StreamService,
        lifecycle: StreamLifecycle,
        notifier: RoomNotifier,
        audit: AdminAudit,
    ) -> None:
        self._audit = audit
        self._accounts = accounts
        self._streams = streams
        self._lifecycle = lifecycle
        self._notifier = notifier

    async def set_role(self, who: Principal | None, user_id: UserId, role: Role, reason: str = "") -> User:
        require(Action.SET_ROLE, who)
        assert who is not None
        before = (await self._accounts.get_user(user_id)).role
        user = await self._accounts.set_role(user_id, role)
        await self._audit.record(
            who.user_id, who.nickname, AdminAction.ROLE, "user", user_id, reason, role=role.value, was=before.value
        )
        await self._notifier.to_user(user_id, CHANGED_EVENT, {"reason": "role", "role": user.role.value})
        return user

    async def set_suspension(self, who: Principal | None, user_id: UserId, suspended: bool, reason: str = "") -> User:
        """Suspend (or restore). A suspension signs the person out everywhere (sessions revoked) and ends their
        live streams at once; publishing by key, WHIP or socket is refused while it lasts."""
        require(Action.SET_SUSPENSION, who)
        assert who is not None
        if who.user_id == user_id and suspended:
            raise InvalidInputError("admins cannot suspend themselves")
        user = await self._accounts.set_suspended(user_id, suspended)
        await self._audit.record(
            who.user_id, who.nickname, AdminAction.SUSPENSION, "user", user_id, reason, suspended=suspended
        )
        if suspended:
            for stream in await self._streams.owned_by(user_id):
                if stream.status is StreamStatus.LIVE:
                    await self._lifecycle.end(stream.id, reason="owner_suspended")
        await self._notifier.to_user(user_id, CHANGED_EVENT, {"reason": "suspension", "suspended": suspended})
        return user

    async def set_identity_verified(
        self, who: Principal | None, user_id: UserId, verified: bool, reason: str = ""
    ) -> User:
        require(Action.SET_IDENTITY, who)
        assert who is not None
        user = await self._accounts.set_identity_verified(user_id, verified)
        await self._audit.record(
            who.user_id, who.nickname, AdminAction.IDENTITY, "user", user_id, reason, verified=verified
        )
        return user
