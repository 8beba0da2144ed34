"""Settings: one frozen dataclass, read from the environment (prefix ``HUB_``) once at start-up.

No other module reads ``os.environ``. In ``dev`` mode missing secrets are generated (and the log says so);
in ``production`` mode the hub refuses to start without them.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from core.errors import HubError
from hub.secret_policy import Finding, check_secrets


class SettingsError(HubError):
    code = "bad_settings"


PRODUCTION_MIN_BCRYPT_ROUNDS = 10


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int | None = None) -> int:
    raw = _str(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise SettingsError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _str(env, name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _list(env: Mapping[str, str], name: str, default: tuple[str, ...] = ()) -> tuple[str, ...]:
    raw = _str(env, name)
    if raw is None:
        return default
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _port_range(env: Mapping[str, str], name: str) -> tuple[int, int]:
    """``LOW-HIGH`` (inclusive) or unset for ephemeral ports."""
    raw = _str(env, name)
    if raw is None:
        return (0, 0)
    try:
        low, high = (int(part) for part in raw.split("-", 1))
    except ValueError:
        raise SettingsError(f"{name} must be LOW-HIGH, got {raw!r}") from None
    if not 1 <= low <= high <= 65535:
        raise SettingsError(f"{name} must be a range of ports within 1-65535, got {raw!r}")
    return (low, high)


def _json(env: Mapping[str, str], name: str, default: Any) -> Any:
    raw = _str(env, name)
    if raw is None:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} is not valid JSON: {exc.msg}") from None


def _share_bps(raw: Any) -> tuple[tuple[str, int], ...]:
    """HUB_GIFT_SHARE_BPS: the streamer's share of a gift's bean value per gift kind, in basis points (8000 = 80 %)."""
    if not isinstance(raw, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10_000 for v in raw.values()
    ):
        raise SettingsError("HUB_GIFT_SHARE_BPS must be a JSON object of kind -> 0..10000")
    return tuple((str(k), int(v)) for k, v in raw.items())


@dataclass(frozen=True, slots=True)
class CoinPack:
    """A server-side price: the client names a pack, never a price or an amount of coins."""

    id: str
    coins: int
    price_cents: int
    currency: str = "usd"

    def __post_init__(self) -> None:
        if self.coins <= 0 or self.price_cents <= 0:
            raise SettingsError(f"coin pack {self.id!r} needs positive coins and price")


DEFAULT_COIN_PACKS: tuple[CoinPack, ...] = (
    CoinPack("coins_70", 70, 99),
    CoinPack("coins_350", 350, 499),
    CoinPack("coins_1400", 1400, 1999),
    CoinPack("coins_7000", 7000, 9999),
)


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = "dev"
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    node_id: str = field(default_factory=lambda: "node-" + secrets.token_hex(3))
    log_level: str = "INFO"

    mongo_url: str | None = None
    mongo_db: str = "livehub"
    redis_url: str | None = None
    redis_call_timeout_s: float = 0.5
    redis_probe_interval_s: float = 1.0

    jwt_secret: str = ""
    access_token_ttl_s: int = 900
    refresh_token_ttl_s: int = 30 * 24 * 3600
    jwt_leeway_s: int = 30
    bcrypt_rounds: int = 12
    login_burst: int = 5
    login_per_minute: int = 10
    register_burst: int = 10
    register_per_hour: int = 30
    password_hash_workers: int = 1
    password_verify_workers: int = 2

    admin_emails: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 1 << 20

    stripe_secret_key: str = ""
    stripe_webhook_secret: str = ""
    stripe_api_base: str | None = None
    coin_packs: tuple[CoinPack, ...] = DEFAULT_COIN_PACKS
    bean_hold_s: float = 48 * 3600.0
    cashout_min_beans: int = 1000
    topup_burst: int = 5
    topup_per_hour: int = 20
    gift_burst: int = 20
    gift_per_second: float = 10.0
    gift_daily_cap_coins: int = 1_000_000
    gift_combo_window_s: float = 3.0
    gift_share_bps: tuple[tuple[str, int], ...] = (("standard", 8000),)
    wallet_lease_s: float = 15.0
    wallet_reconcile_interval_s: float = 2.0

    sfu_announced_ips: tuple[str, ...] = ()
    ice_servers: tuple[dict[str, Any], ...] = ({"urls": "stun:stun.l.google.com:19302"},)
    sfu_reconnect_grace_s: float = 15.0
    sfu_pli_interval_s: float = 1.0
    sfu_gop_refresh_s: float = 4.0
    sfu_keyframe_cache_packets: int = 2048
    sfu_nack_history_packets: int = 1024
    sfu_connect_timeout_s: float = 20.0
    sfu_media_timeout_s: float = 6.0
    sfu_max_viewers_per_stream: int = 1000
    sfu_pending_timeout_s: float = 10.0
    sfu_max_pending_per_client: int = 3
    sfu_workers: int = 0
    sfu_relay_address: str = "127.0.0.1"
    sfu_relay_ports: tuple[int, int] = (0, 0)

    cluster_secret: str = ""
    cluster_heartbeat_s: float = 1.0
    cluster_lease_s: float = 4.0
    cluster_node_capacity: int = 5000

    chat_burst: int = 5
    chat_per_second: float = 1.0
    viewers_interval_s: float = 2.0
    likes_interval_s: float = 0.3

    generated_secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in ("dev", "production"):
            raise SettingsError(f"HUB_MODE must be 'dev' or 'production', got {self.mode!r}")
        if self.mode == "production":
            missing = [
                name
                for name, value in (
                    ("HUB_JWT_SECRET", self.jwt_secret),
                    ("HUB_STRIPE_SECRET_KEY", self.stripe_secret_key),
                    ("HUB_STRIPE_WEBHOOK_SECRET", self.stripe_webhook_secret),
                    ("HUB_MONGO_URL", self.mongo_url or ""),
                    # Nodes sharing a Redis trust each other's pipe requests and relay keys through this secret.
                    ("HUB_CLUSTER_SECRET", self.cluster_secret if self.redis_url else "unused"),
                )
                if not value
            ]
            if missing:
                raise SettingsError("production mode needs these settings: " + ", ".join(missing))
            refused = [str(f) for f in self._secret_findings()]
            if self.stripe_api_base is not None and not self.stripe_api_base.startswith("https://"):
                refused.append(
                    "HUB_STRIPE_API_BASE is not https: in production card payments and the Stripe key would travel "
                    "in clear text (it exists for test doubles such as localstripe)"
                )
            if self.bcrypt_rounds < PRODUCTION_MIN_BCRYPT_ROUNDS:
                refused.append(
                    f"HUB_BCRYPT_ROUNDS is {self.bcrypt_rounds}: production needs at least "
                    f"{PRODUCTION_MIN_BCRYPT_ROUNDS} (a stolen password table would be cheap to crack)"
                )
            if refused:
                raise SettingsError("production mode refuses weak or mismatched settings: " + "; ".join(refused))
        if len(self.jwt_secret.encode()) < 32:
            raise SettingsError("HUB_JWT_SECRET must be at least 32 bytes")
        if self.cluster_secret and len(self.cluster_secret.encode()) < 16:
            raise SettingsError("HUB_CLUSTER_SECRET must be at least 16 bytes")
        if not 0 < self.cluster_heartbeat_s < self.cluster_lease_s <= 60:
            raise SettingsError("HUB_CLUSTER_HEARTBEAT_S must be above 0 and below HUB_CLUSTER_LEASE_S (at most 60)")
        for name, value in (
            ("HUB_REDIS_CALL_TIMEOUT_S", self.redis_call_timeout_s),
            ("HUB_REDIS_PROBE_INTERVAL_S", self.redis_probe_interval_s),
        ):
            if not 0 < value <= 60:
                raise SettingsError(f"{name} must be more than 0 and at most 60 seconds, got {value}")

    def _secret_findings(self) -> list[Finding]:
        return check_secrets(
            jwt_secret=self.jwt_secret,
            stripe_secret_key=self.stripe_secret_key,
            stripe_webhook_secret=self.stripe_webhook_secret,
            production=self.mode == "production",
        )

    @property
    def warnings(self) -> tuple[str, ...]:
        """What dev mode accepts but an operator should hear about (production refuses these at start)."""
        if self.mode == "production":
            return ()
        generated = set(self.generated_secrets)
        return tuple(str(f) for f in self._secret_findings() if f.setting not in generated)

    @property
    def embedded(self) -> bool:
        """One node, in-process state: no Redis configured."""
        return self.redis_url is None

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> Settings:
        mode = _str(env, "HUB_MODE", "dev") or "dev"
        generated: list[str] = []

        def secret(name: str, make: str) -> str:
            value = _str(env, name)
            if value is not None:
                return value
            if mode == "production":
                return ""
            generated.append(name)
            return make

        packs_raw = _json(env, "HUB_COIN_PACKS", None)
        packs = DEFAULT_COIN_PACKS
        if packs_raw is not None:
            try:
                packs = tuple(CoinPack(**p) for p in packs_raw)
            except TypeError as exc:
                raise SettingsError(f"HUB_COIN_PACKS: {exc}") from None
        ice = _json(env, "HUB_ICE_SERVERS", None)
        port = _int(env, "HUB_PORT", 8080, minimum=0)
        host = _str(env, "HUB_HOST", "127.0.0.1") or "127.0.0.1"
        values: dict[str, Any] = dict(
            mode=mode,
            host=host,
            port=port,
            public_url=_str(env, "HUB_PUBLIC_URL", f"http://{host}:{port}"),
            log_level=_str(env, "HUB_LOG_LEVEL", "INFO"),
            mongo_url=_str(env, "HUB_MONGO_URL"),
            mongo_db=_str(env, "HUB_MONGO_DB", "livehub"),
            redis_url=_str(env, "HUB_REDIS_URL"),
            redis_call_timeout_s=_float(env, "HUB_REDIS_CALL_TIMEOUT_S", 0.5),
            redis_probe_interval_s=_float(env, "HUB_REDIS_PROBE_INTERVAL_S", 1.0),
            jwt_secret=secret("HUB_JWT_SECRET", secrets.token_urlsafe(48)),
            access_token_ttl_s=_int(env, "HUB_ACCESS_TOKEN_TTL_S", 900, minimum=10),
            refresh_token_ttl_s=_int(env, "HUB_REFRESH_TOKEN_TTL_S", 30 * 24 * 3600, minimum=60),
            jwt_leeway_s=_int(env, "HUB_JWT_LEEWAY_S", 30, minimum=0),
            bcrypt_rounds=_int(env, "HUB_BCRYPT_ROUNDS", 12, minimum=4),
            login_burst=_int(env, "HUB_LOGIN_BURST", 5, minimum=1),
            login_per_minute=_int(env, "HUB_LOGIN_PER_MINUTE", 10, minimum=1),
            register_burst=_int(env, "HUB_REGISTER_BURST", 10, minimum=1),
            register_per_hour=_int(env, "HUB_REGISTER_PER_HOUR", 30, minimum=1),
            password_hash_workers=_int(env, "HUB_PASSWORD_HASH_WORKERS", 1, minimum=1),
            password_verify_workers=_int(env, "HUB_PASSWORD_VERIFY_WORKERS", 2, minimum=1),
            admin_emails=tuple(e.lower() for e in _list(env, "HUB_ADMIN_EMAILS")),
            cors_origins=_list(env, "HUB_CORS_ORIGINS"),
            max_body_bytes=_int(env, "HUB_MAX_BODY_BYTES", 1 << 20, minimum=1024),
            stripe_secret_key=secret("HUB_STRIPE_SECRET_KEY", "sk_test_dev_" + secrets.token_hex(12)),
            stripe_webhook_secret=secret("HUB_STRIPE_WEBHOOK_SECRET", "whsec_dev_" + secrets.token_hex(16)),
            stripe_api_base=_str(env, "HUB_STRIPE_API_BASE"),
            coin_packs=packs,
            bean_hold_s=_float(env, "HUB_BEAN_HOLD_S", 48 * 3600.0),
            cashout_min_beans=_int(env, "HUB_CASHOUT_MIN_BEANS", 1000, minimum=1),
            topup_burst=_int(env, "HUB_TOPUP_BURST", 5, minimum=1),
            topup_per_hour=_int(env, "HUB_TOPUP_PER_HOUR", 20, minimum=1),
            gift_burst=_int(env, "HUB_GIFT_BURST", 20, minimum=1),
            gift_per_second=_float(env, "HUB_GIFT_PER_SECOND", 10.0),
            gift_daily_cap_coins=_int(env, "HUB_GIFT_DAILY_CAP_COINS", 1_000_000, minimum=1),
            gift_combo_window_s=_float(env, "HUB_GIFT_COMBO_WINDOW_S", 3.0),
            gift_share_bps=_share_bps(_json(env, "HUB_GIFT_SHARE_BPS", {"standard": 8000})),
            wallet_lease_s=_float(env, "HUB_WALLET_LEASE_S", 15.0),
            wallet_reconcile_interval_s=_float(env, "HUB_WALLET_RECONCILE_INTERVAL_S", 2.0),
            sfu_announced_ips=_list(env, "HUB_SFU_ANNOUNCED_IPS"),
            sfu_reconnect_grace_s=_float(env, "HUB_SFU_RECONNECT_GRACE_S", 15.0),
            sfu_pli_interval_s=_float(env, "HUB_SFU_PLI_INTERVAL_S", 1.0),
            sfu_gop_refresh_s=_float(env, "HUB_SFU_GOP_REFRESH_S", 4.0),
            sfu_keyframe_cache_packets=_int(env, "HUB_SFU_KEYFRAME_CACHE_PACKETS", 2048, minimum=64),
            sfu_nack_history_packets=_int(env, "HUB_SFU_NACK_HISTORY_PACKETS", 1024, minimum=128),
            sfu_connect_timeout_s=_float(env, "HUB_SFU_CONNECT_TIMEOUT_S", 20.0),
            sfu_media_timeout_s=_float(env, "HUB_SFU_MEDIA_TIMEOUT_S", 6.0),
            sfu_max_viewers_per_stream=_int(env, "HUB_SFU_MAX_VIEWERS_PER_STREAM", 1000, minimum=1),
            sfu_pending_timeout_s=_float(env, "HUB_SFU_PENDING_TIMEOUT_S", 10.0),
            sfu_max_pending_per_client=_int(env, "HUB_SFU_MAX_PENDING_PER_CLIENT", 3, minimum=1),
            sfu_workers=_int(env, "HUB_SFU_WORKERS", 0, minimum=0),
            sfu_relay_address=_str(env, "HUB_SFU_RELAY_ADDRESS", "127.0.0.1"),
            sfu_relay_ports=_port_range(env, "HUB_SFU_RELAY_PORTS"),
            cluster_secret=secret("HUB_CLUSTER_SECRET", secrets.token_urlsafe(32)),
            cluster_heartbeat_s=_float(env, "HUB_CLUSTER_HEARTBEAT_S", 1.0),
            cluster_lease_s=_float(env, "HUB_CLUSTER_LEASE_S", 4.0),
            cluster_node_capacity=_int(env, "HUB_CLUSTER_NODE_CAPACITY", 5000, minimum=1),
            chat_burst=_int(env, "HUB_CHAT_BURST", 5, minimum=1),
            chat_per_second=_float(env, "HUB_CHAT_PER_SECOND", 1.0),
            viewers_interval_s=_float(env, "HUB_VIEWERS_INTERVAL_S", 2.0),
            likes_interval_s=_float(env, "HUB_LIKES_INTERVAL_S", 0.3),
        )
        node_id = _str(env, "HUB_NODE_ID")
        if node_id is not None:
            values["node_id"] = node_id
        if ice is not None:
            values["ice_servers"] = tuple(ice)
        values.update(overrides)
        values["generated_secrets"] = tuple(generated)
        return cls(**values)
