"""``/me`` and ``/users``: profiles and follows."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.text_fields import Bio, Nickname, Reason
from app.vocabulary import Role
from core.ids import UserId
from mobile_api.routing import Api, Body, Call
from mobile_api.schemas import AdminUserOut, MeOut, ProfileOut

api = Api()


class RoleBody(Body):
    # Non-strict so the JSON string converts to the enum.
    role: Role = Field(strict=False)
    reason: Reason | None = None


class SuspensionBody(Body):
    suspended: bool
    reason: Reason | None = None


class MePatch(Body):
    nickname: Nickname | None = None
    bio: Bio | None = None
    avatar_url: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=32)


@api.route("GET", "/me", summary="My account", tags=("users",), response=MeOut)
async def get_me(call: Call) -> dict[str, Any]:
    return (await call.ctx.use.profiles.me(call.principal)).private()


@api.route("PATCH", "/me", summary="Change my profile", tags=("users",), body=MePatch, response=MeOut)
async def patch_me(call: Call) -> dict[str, Any]:
    b = call.body_as(MePatch)
    user = await call.ctx.use.profiles.update_me(
        call.principal, nickname=b.nickname, bio=b.bio, avatar_url=b.avatar_url, phone=b.phone
    )
    return user.private()


@api.route(
    "GET",
    "/users/{user_id}",
    summary="A public profile",
    tags=("users",),
    auth="none",
    responses={404: "no such user"},
    response=ProfileOut,
)
async def get_user(call: Call) -> dict[str, Any]:
    return await call.ctx.use.profiles.profile(call.principal, UserId(call.path["user_id"]))


@api.route(
    "POST",
    "/users/{user_id}/follow",
    summary="Follow a user",
    tags=("users",),
    status=204,
    responses={404: "no such user"},
)
async def follow(call: Call) -> None:
    await call.ctx.use.profiles.follow(call.principal, UserId(call.path["user_id"]))


@api.route("DELETE", "/users/{user_id}/follow", summary="Unfollow a user", tags=("users",), status=204)
async def unfollow(call: Call) -> None:
    await call.ctx.use.profiles.unfollow(call.principal, UserId(call.path["user_id"]))


@api.route(
    "POST",
    "/admin/users/{user_id}/role",
    summary="Set a user's global role (admin)",
    tags=("admin",),
    body=RoleBody,
    responses={403: "admins only", 404: "no such user"},
    response=MeOut,
)
async def set_role(call: Call) -> dict[str, Any]:
    b = call.body_as(RoleBody)
    user = await call.ctx.use.accounts_admin.set_role(
        call.principal, UserId(call.path["user_id"]), b.role, b.reason or ""
    )
    return user.private()


@api.route(
    "POST",
    "/admin/users/{user_id}/suspension",
    summary="Suspend or restore an account (admin)",
    tags=("admin",),
    body=SuspensionBody,
    responses={403: "admins only", 404: "no such user"},
    response=AdminUserOut,
)
async def set_suspension(call: Call) -> dict[str, Any]:
    b = call.body_as(SuspensionBody)
    user = await call.ctx.use.accounts_admin.set_suspension(
        call.principal, UserId(call.path["user_id"]), b.suspended, b.reason or ""
    )
    return {**user.private(), "suspended": user.suspended}
