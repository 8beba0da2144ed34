"""The accounts package's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from core.ratelimit import Rate


@dataclass(frozen=True, slots=True)
class AccountsSettings:
    #: HMAC key of access tokens (``hub.settings`` generates one in dev mode and checks its strength).
    jwt_secret: str = ""
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    #: Allowed clock skew when checking a token's expiry.
    jwt_leeway_s: int = 30
    #: bcrypt cost of new password hashes.
    bcrypt_rounds: int = 12
    #: Login attempts per login name (a token bucket: burst, then this many per minute); 4× that per address.
    login_burst: int = 5
    login_per_minute: int = 10
    #: Sign-ups per client address (each costs a full bcrypt hash and creates an account).
    register_burst: int = 10
    register_per_hour: int = 30
    #: Threads hashing passwords for sign-ups and checking them for logins: two lanes, so sign-ups cannot slow logins.
    password_hash_workers: int = 1
    password_verify_workers: int = 2
    #: Emails that are admins (on registration, or promoted at their next login); lower case.
    admin_emails: tuple[str, ...] = ()

    def login_limits(self) -> LoginLimits:
        return LoginLimits(
            per_login=Rate(self.login_burst, self.login_per_minute / 60),
            per_address=Rate(self.login_burst * 4, self.login_per_minute * 4 / 60),
            register_per_address=_register_rate(self),
        )


def _register_rate(settings: AccountsSettings) -> Rate:
    return Rate(settings.register_burst, settings.register_per_hour / 3600)


DEFAULTS = AccountsSettings()


@dataclass(frozen=True, slots=True)
class LoginLimits:
    per_login: Rate
    per_address: Rate
    # Sign-ups per client address: each costs a full bcrypt hash and creates an account.
    register_per_address: Rate = field(default_factory=lambda: _register_rate(DEFAULTS))
