"""JWT access tokens and opaque, rotating refresh tokens.

Access tokens are HS256 JWTs carrying the user id (``sub``), role and session id (``sid``); a revoked session
makes its access tokens fail too. Refresh tokens are random strings; only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from typing import Any

import jwt

from accounts.errors import InvalidTokenError, TokenExpiredError
from accounts.models import Role
from core.ids import UserId

ISSUER = "live-hub"
AUDIENCE = "live-hub"


class AccessTokenCodec:
    def __init__(self, secret: str, ttl_s: int, leeway_s: int) -> None:
        self._secret = secret
        self.ttl_s = ttl_s
        self._leeway = leeway_s

    def issue(self, user_id: UserId, role: Role, session_id: str, now: datetime) -> str:
        claims: dict[str, Any] = {
            "sub": user_id,
            "role": role.value,
            "sid": session_id,
            "iat": int(now.timestamp()),
            "nbf": int(now.timestamp()),
            "exp": int((now + timedelta(seconds=self.ttl_s)).timestamp()),
            "iss": ISSUER,
            "aud": AUDIENCE,
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._secret, algorithm="HS256")

    def decode(self, token: str, now: datetime) -> dict[str, Any]:
        """Verify signature, issuer, audience and expiry (with the configured clock-skew leeway)."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                leeway=self._leeway,
                options={
                    "require": ["exp", "iat", "sub", "sid", "role"],
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
        except jwt.PyJWTError:
            raise InvalidTokenError("the access token is not valid") from None
        # Expiry is checked against the hub's clock (a seam tests can move), with an explicit skew allowance.
        if not isinstance(claims["exp"], int) or claims["exp"] + self._leeway < now.timestamp():
            raise TokenExpiredError("the access token has expired")
        if claims["role"] not in {r.value for r in Role}:
            raise InvalidTokenError("the access token is not valid")
        return claims


def new_refresh_token() -> tuple[str, str]:
    """A fresh refresh token and the hash under which it is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
