"""Registration, login, token rotation, profiles and follows."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncGenerator
from datetime import datetime, timedelta
from typing import Any

from accounts.errors import (
    DuplicateAccountError,
    InvalidCredentialsError,
    InvalidTokenError,
    TokenExpiredError,
    TokenReusedError,
)
from accounts.models import Principal, Role, TokenPair, User
from accounts.passwords import PasswordHasher, check_password
from accounts.settings import LoginLimits
from accounts.store import AccountStore
from accounts.tokens import AccessTokenCodec, hash_refresh_token, new_refresh_token
from core.clock import Clock, as_utc
from core.errors import ForbiddenError, InvalidInputError, NotFoundError, RateLimitedError
from core.ids import UserId, new_id
from core.ratelimit import RateLimiter
from core.text import BIO, NICKNAME

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{2,63}$")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}$")
# Separators people put in phone numbers: spaces of every kind, hyphens and dashes, dots, slashes, brackets.
_PHONE_SEPARATORS = re.compile(r"[\s\-\u2010-\u2015\u2212\u30fc().\[\]/]")
NICKNAME_MAX = NICKNAME.max_chars
BIO_MAX = BIO.max_chars


def normalize_email(email: str) -> str:
    value = unicodedata.normalize("NFKC", email).strip().lower()
    if not _EMAIL.match(value):
        raise InvalidInputError("email is not a valid address", field="email")
    return value


def _ascii_digits(text: str) -> str:
    """Any script's decimal digits (fullwidth, Arabic-Indic, ...) as ASCII ones; other characters unchanged."""
    return "".join(str(unicodedata.decimal(ch)) if ch.isdecimal() else ch for ch in text)


def normalize_phone(phone: str) -> str:
    """E.164: a plus sign and 7 to 15 digits. Spaces, dashes and brackets are dropped, a ``tel:`` prefix and an
    international ``00`` prefix are understood, and digits of any script count as digits."""
    value = _PHONE_SEPARATORS.sub("", _ascii_digits(unicodedata.normalize("NFKC", phone)))
    if value[:4].lower() == "tel:":
        value = value[4:]
    if value.startswith("00"):
        value = "+" + value[2:]
    if not _PHONE.match(value):
        raise InvalidInputError("phone must be in international format, like +14155550123", field="phone")
    return value


def login_key(login: str) -> str:
    """The name a login attempt is counted under: every spelling of one account's email or phone number gives the
    same key (so twelve spellings of one number share one rate limit), whether or not the login is valid."""
    value = unicodedata.normalize("NFKC", login).strip().casefold()
    if "@" in value:
        return "email:" + "".join(value.split())
    digits = "".join(ch for ch in _ascii_digits(value) if ch.isdigit())
    if digits:
        return "phone:" + digits.removeprefix("00")
    return "other:" + value


class AccountService:
    def __init__(
        self,
        store: AccountStore,
        hasher: PasswordHasher,
        tokens: AccessTokenCodec,
        clock: Clock,
        limiter: RateLimiter,
        limits: LoginLimits,
        refresh_ttl_s: int,
        admin_emails: frozenset[str] = frozenset(),
    ) -> None:
        self._store = store
        self._hasher = hasher
        self._tokens = tokens
        self._clock = clock
        self._limiter = limiter
        self._limits = limits
        self._refresh_ttl = timedelta(seconds=refresh_ttl_s)
        self._admin_emails = admin_emails

    # Registration and login
    async def register(
        self, *, email: str, password: str, nickname: str, phone: str | None = None, address: str = ""
    ) -> tuple[User, TokenPair]:
        """Create an account. Cheap checks first (input, the per-address limit, duplicates); the password is hashed
        only for a sign-up that can succeed, in the hasher's bounded sign-up lane."""
        email = normalize_email(email)
        nickname = NICKNAME.clean(nickname)
        phone = normalize_phone(phone) if phone else None
        check_password(password, context=(email, email.partition("@")[0], nickname))
        wait = await self._limiter.hit(f"register-ip:{address}", self._limits.register_per_address)
        if wait:
            raise RateLimitedError("too many sign-ups from this address; try again later", retry_after_s=wait)
        for name, value in (("email", email), ("phone", phone)):
            if value and await self._store.find_by_login(value) is not None:
                raise DuplicateAccountError(f"an account with this {name} already exists", field=name)
        doc: dict[str, Any] = {
            "_id": new_id(),
            "email": email,
            "nickname": nickname,
            "role": (Role.ADMIN if email in self._admin_emails else Role.VIEWER).value,
            "password_hash": await self._hasher.hash(password),
            "created_at": self._clock.now(),
        }
        if phone:
            doc["phone"] = phone
        await self._store.insert_user(doc)  # still refuses a duplicate that raced past the check above
        user = User.from_doc(doc)
        return user, await self._start_session(user)

    async def login(self, *, login: str, password: str, address: str = "") -> tuple[User, TokenPair]:
        for bucket, rate in (
            (f"login:{login_key(login)}", self._limits.per_login),
            (f"login-ip:{address}", self._limits.per_address),
        ):
            wait = await self._limiter.hit(bucket, rate)
            if wait:
                raise RateLimitedError("too many login attempts; try again later", retry_after_s=wait)
        try:
            key = normalize_email(login) if "@" in login else normalize_phone(login)
        except InvalidInputError:
            raise InvalidCredentialsError("wrong login or password") from None
        doc = await self._store.find_by_login(key)
        if not await self._hasher.verify(password, doc.get("password_hash") if doc else None) or doc is None:
            raise InvalidCredentialsError("wrong login or password")
        if doc["email"] in self._admin_emails and doc.get("role") != Role.ADMIN.value:
            # Operators name the first admins in settings (HUB_ADMIN_EMAILS); promotion happens at login.
            doc = await self._store.set_role(doc["_id"], Role.ADMIN) or doc
        user = User.from_doc(doc)
        if user.suspended:
            raise ForbiddenError("this account is suspended", code="account_suspended")
        return user, await self._start_session(user)

    async def _start_session(self, user: User) -> TokenPair:
        session_id = new_id()
        now = self._clock.now()
        await self._store.insert_session(session_id, user.id, now)
        return await self._issue(user, session_id, now)

    async def _issue(self, user: User, session_id: str, now: datetime) -> TokenPair:
        refresh, refresh_hash = new_refresh_token()
        await self._store.insert_refresh(refresh_hash, session_id, user.id, now + self._refresh_ttl)
        access = self._tokens.issue(user.id, user.role, session_id, now)
        return TokenPair(access, refresh, self._tokens.ttl_s)

    async def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: the presented token is spent and a new pair returned. A reused token revokes its family."""
        token_hash = hash_refresh_token(refresh_token)
        now = self._clock.now()
        doc = await self._store.spend_refresh(token_hash)
        if doc is None:
            existing = await self._store.get_refresh(token_hash)
            if existing is None:
                raise InvalidTokenError("the refresh token is not valid")
            if existing.get("used"):
                await self._store.revoke_session(existing["family"], now)
                raise TokenReusedError("this refresh token was already used; the session has been signed out")
            raise InvalidTokenError("the refresh token has been revoked")
        if as_utc(doc["expires_at"]) <= now:
            raise TokenExpiredError("the refresh token has expired")
        if await self._store.session_revoked(doc["family"]):
            raise InvalidTokenError("the session has been signed out")
        user = await self.get_user(UserId(doc["user_id"]))
        if user.suspended:
            raise ForbiddenError("this account is suspended", code="account_suspended")
        return await self._issue(user, doc["family"], now)

    async def logout(self, principal: Principal) -> None:
        await self._store.revoke_session(principal.session_id, self._clock.now())

    async def authenticate(self, access_token: str) -> Principal:
        """Verify an access token (signature, expiry with skew allowance, live session)."""
        claims = self._tokens.decode(access_token, self._clock.now())
        if await self._store.session_revoked(claims["sid"]):
            raise InvalidTokenError("the session has been signed out")
        return Principal(UserId(claims["sub"]), Role(claims["role"]), claims["sid"])

    async def session_active(self, principal: Principal) -> bool:
        """Whether the session behind a long-lived connection is still signed in (not logged out, reused or
        suspended). Connections re-check this now and then instead of trusting their token for hours."""
        return not await self._store.session_revoked(principal.session_id)

    # Profiles
    async def get_user(self, user_id: UserId) -> User:
        doc = await self._store.get_user(user_id)
        if doc is None:
            raise NotFoundError("no such user")
        return User.from_doc(doc)

    async def search_users(self, text: str, limit: int = 50) -> list[User]:
        """Users whose nickname or email starts with ``text`` (any case) or whose id it is, newest first."""
        text = " ".join(text.split())[:100]
        return [User.from_doc(d) for d in await self._store.search_users(text, max(1, min(limit, 100)))]

    async def get_users(self, user_ids: list[UserId]) -> dict[UserId, User]:
        docs = await self._store.get_users(list(dict.fromkeys(user_ids)))
        return {UserId(d["_id"]): User.from_doc(d) for d in docs}

    async def profile(self, user_id: UserId) -> dict[str, Any]:
        user = await self.get_user(user_id)
        return {
            **user.public(),
            "followers": await self._store.count_followers(user_id),
            "following": await self._store.count_following(user_id),
        }

    async def update_me(
        self,
        user_id: UserId,
        *,
        nickname: str | None = None,
        bio: str | None = None,
        avatar_url: str | None = None,
        phone: str | None = None,
    ) -> User:
        changes: dict[str, Any] = {}
        if nickname is not None:
            changes["nickname"] = NICKNAME.clean(nickname)
        if bio is not None:
            changes["bio"] = BIO.clean(bio)
        if avatar_url is not None:
            if not avatar_url.startswith("https://") or len(avatar_url) > 500:
                raise InvalidInputError("avatar_url must be an https URL of at most 500 characters", field="avatar_url")
            changes["avatar_url"] = avatar_url
        if phone is not None:
            changes["phone"] = normalize_phone(phone)
        if not changes:
            return await self.get_user(user_id)
        doc = await self._store.update_profile(user_id, changes)
        if doc is None:
            raise NotFoundError("no such user")
        return User.from_doc(doc)

    async def become_streamer(self, user_id: UserId) -> None:
        await self._store.promote_viewer(user_id, Role.STREAMER)

    async def set_role(self, user_id: UserId, role: Role) -> User:
        """Who may change a role is ``app.policy``'s business (``set_role``); this only records it."""
        doc = await self._store.set_role(user_id, role)
        if doc is None:
            raise NotFoundError("no such user")
        return User.from_doc(doc)

    async def set_suspended(self, user_id: UserId, suspended: bool) -> User:
        """Suspend (or restore) an account. A suspension signs the user out everywhere at once: their sessions are
        revoked, so access tokens already issued stop working too; they cannot log in, chat, gift or be gifted.
        Who may (and that nobody suspends themself) is decided by the use case (``app.accounts_admin``)."""
        doc = await self._store.set_suspended(user_id, suspended)
        if doc is None:
            raise NotFoundError("no such user")
        if suspended:
            await self._store.revoke_user_sessions(user_id, self._clock.now())
        return User.from_doc(doc)

    async def set_identity_verified(self, user_id: UserId, verified: bool) -> User:
        doc = await self._store.set_identity_verified(user_id, verified)
        if doc is None:
            raise NotFoundError("no such user")
        return User.from_doc(doc)

    # Follows
    async def follow(self, follower: UserId, followee: UserId) -> None:
        if follower == followee:
            raise InvalidInputError("you cannot follow yourself")
        await self.get_user(followee)
        await self._store.insert_follow(follower, followee, self._clock.now())

    async def unfollow(self, follower: UserId, followee: UserId) -> None:
        await self._store.delete_follow(follower, followee)

    async def followed_since(self, follower: UserId, followee: UserId) -> datetime | None:
        doc = await self._store.get_follow(follower, followee)
        return as_utc(doc["at"]) if doc else None

    async def followers_after(self, followee: UserId, after: UserId | None, limit: int) -> list[UserId]:
        """A page of ``followee``'s followers in id order, after ``after`` (a cursor that survives restarts)."""
        return [UserId(u) for u in await self._store.followers_after(followee, after, limit)]

    async def iter_followers(self, followee: UserId, after: UserId | None) -> AsyncGenerator[UserId, None]:
        """Every follower of ``followee`` in id order after ``after`` (all when None), streamed."""
        async for user_id in self._store.iter_followers(followee, after):
            yield UserId(user_id)

    async def followees(self, follower: UserId) -> list[UserId]:
        return [UserId(u) for u in await self._store.followees(follower)]
