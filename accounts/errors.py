from __future__ import annotations

from core.errors import ConflictError, UnauthenticatedError


class InvalidCredentialsError(UnauthenticatedError):
    code = "invalid_credentials"


class InvalidTokenError(UnauthenticatedError):
    code = "invalid_token"


class TokenExpiredError(UnauthenticatedError):
    code = "token_expired"


class TokenReusedError(UnauthenticatedError):
    """A refresh token was presented a second time: its whole family is revoked."""

    code = "token_reused"


class DuplicateAccountError(ConflictError):
    code = "duplicate_account"
