"""Who is calling, read fresh: the token proves the session; the role and suspension come from the account.

A JWT's ``role`` claim is a hint at most: an admin demoted a minute ago still holds a token saying "admin" for up to
its lifetime. So every HTTP request and every socket re-check (``Identity.refresh``) reads the account: a role or
suspension change holds on the next request, and on open sockets within ``SOCKET_RECHECK_S`` of activity — or at
once, when the change is pushed to the user's connections (``you:changed``, see ``signaling``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from accounts.errors import InvalidTokenError
from accounts.models import Principal as TokenPrincipal
from accounts.models import Role, User
from accounts.service import AccountService
from core.errors import NotFoundError
from core.ids import UserId

#: Open sockets re-read their principal after this many seconds (on their next event, or when told of a change).
SOCKET_RECHECK_S = 5.0


@dataclass(frozen=True, slots=True)
class Principal(TokenPrincipal):
    """The caller: user id and session from the token; role, suspension, nickname and age from the account now.

    A subclass of the token's principal so domain services that take ``accounts.models.Principal`` accept it."""

    suspended: bool = False
    nickname: str = ""
    created_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    @classmethod
    def of(cls, user: User, session_id: str) -> Principal:
        return cls(user.id, user.role, session_id, user.suspended, user.nickname, user.created_at)


class Identity:
    """Turns an access token into a fresh ``Principal``; re-reads one for long-lived connections."""

    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    async def from_token(self, access_token: str) -> Principal:
        """Signature, expiry and a live session (``AccountService.authenticate``), then the account as it is now."""
        claims = await self._accounts.authenticate(access_token)
        return await self._read(claims.user_id, claims.session_id)

    async def refresh(self, principal: TokenPrincipal) -> Principal | None:
        """The principal as it is now, or None when its session was signed out (logout, reuse, suspension)."""
        if not await self._accounts.session_active(principal):
            return None
        try:
            return await self._read(principal.user_id, principal.session_id)
        except InvalidTokenError:
            return None

    async def user(self, user_id: UserId, session_id: str = "") -> Principal:
        """A principal for a user id (the CLI, tests and services acting for someone)."""
        return Principal.of(await self._accounts.get_user(user_id), session_id)

    async def _read(self, user_id: UserId, session_id: str) -> Principal:
        try:
            user = await self._accounts.get_user(user_id)
        except NotFoundError:
            raise InvalidTokenError("the account behind this token no longer exists") from None
        return Principal.of(user, session_id)
