"""Signing in: create an account, log in with email or phone, swap a refresh token for a new pair, sign out.
Rate limits, password rules and the rotating refresh tokens are the account service's; a suspended account cannot
log in or refresh."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from accounts.models import TokenPair, User
from accounts.service import AccountService
from app.policy import Action, require
from app.principal import Principal
from core.errors import UnauthenticatedError


@dataclass(frozen=True, slots=True)
class SignedIn:
    user: User
    tokens: TokenPair

    def to_dict(self) -> dict[str, Any]:
        return {"user": self.user.private(), **self.tokens.to_dict()}


class SigningIn:
    def __init__(self, accounts: AccountService) -> None:
        self._accounts = accounts

    async def register(self, *, email: str, password: str, nickname: str, phone: str | None, address: str) -> SignedIn:
        """A new account, signed in. ``address`` is the client's, for the per-address sign-up limit."""
        require(Action.REGISTER, None)
        user, tokens = await self._accounts.register(
            email=email, password=password, nickname=nickname, phone=phone, address=address
        )
        return SignedIn(user, tokens)

    async def login(self, *, login: str, password: str, address: str) -> SignedIn:
        require(Action.LOGIN, None)
        user, tokens = await self._accounts.login(login=login, password=password, address=address)
        return SignedIn(user, tokens)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """A new token pair; presenting a spent refresh token signs the whole session out."""
        require(Action.LOGIN, None)
        return await self._accounts.refresh(refresh_token)

    async def logout(self, who: Principal | None) -> None:
        """Revoke the caller's session: its access tokens stop working at once (a suspended account may too)."""
        require(Action.LOGOUT, who)
        if who is None:
            raise UnauthenticatedError("log in first")
        await self._accounts.logout(who)
