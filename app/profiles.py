"""Profiles and follows: my own account (read, change), anyone's public profile, following and unfollowing."""

from __future__ import annotations

from typing import Any

from accounts.models import User
from accounts.service import AccountService
from app.loyalty import ChannelPoints
from app.policy import Action, require
from app.principal import Principal
from core.ids import UserId


class Profiles:
    def __init__(self, accounts: AccountService, points: ChannelPoints | None = None) -> None:
        self._accounts = accounts
        self._points = points

    async def me(self, who: Principal | None) -> User:
        require(Action.MANAGE_SELF, who)
        assert who is not None
        return await self._accounts.get_user(who.user_id)

    async def update_me(
        self,
        who: Principal | None,
        *,
        nickname: str | None,
        bio: str | None,
        avatar_url: str | None,
        phone: str | None,
    ) -> User:
        """Change the fields given (None leaves a field as it is)."""
        require(Action.MANAGE_SELF, who)
        assert who is not None
        return await self._accounts.update_me(
            who.user_id, nickname=nickname, bio=bio, avatar_url=avatar_url, phone=phone
        )

    async def profile(self, who: Principal | None, user_id: UserId) -> dict[str, Any]:
        """A public profile with follower and following counts."""
        require(Action.READ_PROFILE, who)
        return await self._accounts.profile(user_id)

    async def follow(self, who: Principal | None, user_id: UserId) -> None:
        require(Action.MANAGE_SELF, who)
        assert who is not None
        await self._accounts.follow(who.user_id, user_id)
        if self._points is not None:  # channel points for following: once per channel, ever
            await self._points.followed(user_id, who.user_id)

    async def unfollow(self, who: Principal | None, user_id: UserId) -> None:
        require(Action.MANAGE_SELF, who)
        assert who is not None
        await self._accounts.unfollow(who.user_id, user_id)
