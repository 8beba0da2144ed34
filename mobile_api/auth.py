"""``/auth``: register, log in, rotate tokens, log out."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from app.text_fields import Nickname
from mobile_api.routing import Api, Body, Call
from mobile_api.schemas import SessionOut, TokensOut

api = Api()


class RegisterBody(Body):
    email: str = Field(max_length=254)
    password: str = Field(max_length=200)
    nickname: Nickname
    phone: str | None = Field(default=None, max_length=32)


class LoginBody(Body):
    login: str = Field(max_length=254, description="email or phone number")
    password: str = Field(max_length=200)


class RefreshBody(Body):
    refresh_token: str = Field(max_length=200)


@api.route(
    "POST",
    "/auth/register",
    summary="Create an account",
    tags=("auth",),
    status=201,
    auth="none",
    body=RegisterBody,
    response=SessionOut,
    responses={
        409: "email or phone already used",
        429: "too many sign-ups from this address",
        503: "too many sign-ups being processed; try again shortly",
    },
)
async def register(call: Call) -> dict[str, Any]:
    b = call.body_as(RegisterBody)
    session = await call.ctx.use.signing_in.register(
        email=b.email, password=b.password, nickname=b.nickname, phone=b.phone, address=call.client_address
    )
    return session.to_dict()


@api.route(
    "POST",
    "/auth/login",
    summary="Log in with email or phone",
    tags=("auth",),
    auth="none",
    body=LoginBody,
    response=SessionOut,
    responses={
        401: "wrong login or password",
        429: "too many attempts",
        503: "too many logins being checked; try again shortly",
    },
)
async def login(call: Call) -> dict[str, Any]:
    b = call.body_as(LoginBody)
    session = await call.ctx.use.signing_in.login(login=b.login, password=b.password, address=call.client_address)
    return session.to_dict()


@api.route(
    "POST",
    "/auth/refresh",
    summary="Swap a refresh token for a new pair",
    tags=("auth",),
    auth="none",
    body=RefreshBody,
    response=TokensOut,
    responses={401: "invalid, expired or reused refresh token"},
)
async def refresh(call: Call) -> dict[str, Any]:
    tokens = await call.ctx.use.signing_in.refresh(call.body_as(RefreshBody).refresh_token)
    return tokens.to_dict()


@api.route("POST", "/auth/logout", summary="Revoke this session", tags=("auth",), status=204)
async def logout(call: Call) -> None:
    await call.ctx.use.signing_in.logout(call.principal)
