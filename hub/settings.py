"""Settings: read from the environment (prefix ``HUB_``) once at start-up and composed from the packages' own.

Each package that has tunables declares them in its own frozen dataclass (``rooms/settings.py``,
``cluster/settings.py``, …) with its defaults written there, once. This module is the only one that reads the
environment: the tables below name, for each package, which ``HUB_*`` variable sets which field and how its text is
parsed and checked. A variable that is not set passes nothing, so the package's own default applies. In ``dev`` mode
missing secrets are generated (and the log says so); in ``production`` mode the hub refuses to start without them.

Adding a setting: a field with its default in the package's settings class, one ``Var`` line in that package's
table here, one row in the README's settings table (``tests/unit/hub/test_settings_composition.py`` checks the three
agree).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field
from typing import Any, TypeVar

from accounts.settings import AccountsSettings
from battles.settings import BattlesSettings
from cluster.settings import ClusterSettings
from core.errors import HubError
from gifts.settings import GiftsSettings
from hub.secret_policy import Finding, check_secrets
from loyalty.settings import LoyaltySettings
from mobile_api.settings import ApiSettings
from notifications.push import generate_vapid_private_key, vapid_key_problem
from notifications.settings import NotificationsSettings
from recordings.settings import RecordingsSettings
from rooms.settings import RoomsSettings
from sfu.settings import SfuSettings
from subscriptions.settings import SubscriptionsSettings, SubTier
from wallet.settings import CoinPack, WalletSettings


class SettingsError(HubError):
    code = "bad_settings"


PRODUCTION_MIN_BCRYPT_ROUNDS = 10
_T = TypeVar("_T")

#: Parses one variable's (stripped, non-empty) text; raises ``SettingsError`` naming the variable.
Parse = Callable[[str, str], Any]


def _text(name: str, raw: str) -> str:
    return raw


def _integer(minimum: int | None = None) -> Parse:
    def parse(name: str, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name} must be at least {minimum}, got {value}")
        return value

    return parse


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None


def _flag(name: str, raw: str) -> bool:
    if raw.lower() in ("1", "true", "yes", "on"):
        return True
    if raw.lower() in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0, got {raw!r}")


def _words(name: str, raw: str) -> tuple[str, ...]:
    """A comma-separated list."""
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _lowercase_words(name: str, raw: str) -> tuple[str, ...]:
    return tuple(word.lower() for word in _words(name, raw))


def _port_range(name: str, raw: str) -> tuple[int, int]:
    """``LOW-HIGH`` (inclusive); unset is the package's default (ephemeral ports)."""
    try:
        low, high = (int(part) for part in raw.split("-", 1))
    except ValueError:
        raise SettingsError(f"{name} must be LOW-HIGH, got {raw!r}") from None
    if not 1 <= low <= high <= 65535:
        raise SettingsError(f"{name} must be a range of ports within 1-65535, got {raw!r}")
    return (low, high)


def _json(name: str, raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise SettingsError(f"{name} is not valid JSON: {exc.msg}") from None


def _json_list(name: str, raw: str) -> tuple[Any, ...]:
    return tuple(_json(name, raw))


def _share_bps(name: str, raw: str) -> tuple[tuple[str, int], ...]:
    """HUB_GIFT_SHARE_BPS: the streamer's share of a gift's bean value per gift kind, in basis points (8000 = 80 %)."""
    value = _json(name, raw)
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 10_000 for v in value.values()
    ):
        raise SettingsError(f"{name} must be a JSON object of kind -> 0..10000")
    return tuple((str(k), int(v)) for k, v in value.items())


def _coin_packs(name: str, raw: str) -> tuple[CoinPack, ...]:
    try:
        return tuple(CoinPack(**p) for p in _json(name, raw))
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _sub_tiers(name: str, raw: str) -> tuple[SubTier, ...]:
    try:
        return tuple(SubTier(**t) for t in _json(name, raw))
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{name}: {exc}") from None


@dataclass(frozen=True, slots=True)
class Var:
    """One environment variable: the field it sets and how its text is read. No default: that is the field's."""

    env: str
    field: str
    parse: Parse = _text


#: Secrets dev mode generates when they are not set (production refuses to start without them).
GENERATED: Mapping[str, Callable[[], str]] = {
    "HUB_JWT_SECRET": lambda: secrets.token_urlsafe(48),
    "HUB_STRIPE_SECRET_KEY": lambda: "sk_test_dev_" + secrets.token_hex(12),
    "HUB_STRIPE_WEBHOOK_SECRET": lambda: "whsec_dev_" + secrets.token_hex(16),
    "HUB_CLUSTER_SECRET": lambda: secrets.token_urlsafe(32),
    # A new key per run: browsers' push subscriptions made with another run's key are refused by their services.
    "HUB_VAPID_PRIVATE_KEY": generate_vapid_private_key,
}

#: The hub's own settings (fields of :class:`Settings` itself).
HUB_VARS: tuple[Var, ...] = (
    Var("HUB_MODE", "mode"),
    Var("HUB_HOST", "host"),
    Var("HUB_PORT", "port", _integer(minimum=0)),
    Var("HUB_PUBLIC_URL", "public_url"),
    Var("HUB_NODE_ID", "node_id"),
    Var("HUB_LOG_LEVEL", "log_level"),
    Var("HUB_GC_YOUNG_THRESHOLD", "gc_young_threshold", _integer(minimum=0)),
    Var("HUB_MONGO_URL", "mongo_url"),
    Var("HUB_MONGO_DB", "mongo_db"),
    Var("HUB_REDIS_URL", "redis_url"),
    Var("HUB_REDIS_CLUSTER", "redis_cluster", _flag),
    Var("HUB_REDIS_CALL_TIMEOUT_S", "redis_call_timeout_s", _number),
    Var("HUB_REDIS_PROBE_INTERVAL_S", "redis_probe_interval_s", _number),
    Var("HUB_CORS_ORIGINS", "cors_origins", _words),
)

ACCOUNTS_VARS: tuple[Var, ...] = (
    Var("HUB_JWT_SECRET", "jwt_secret"),
    Var("HUB_ACCESS_TOKEN_TTL_S", "access_token_ttl_s", _integer(minimum=10)),
    Var("HUB_REFRESH_TOKEN_TTL_S", "refresh_token_ttl_s", _integer(minimum=60)),
    Var("HUB_JWT_LEEWAY_S", "jwt_leeway_s", _integer(minimum=0)),
    Var("HUB_BCRYPT_ROUNDS", "bcrypt_rounds", _integer(minimum=4)),
    Var("HUB_LOGIN_BURST", "login_burst", _integer(minimum=1)),
    Var("HUB_LOGIN_PER_MINUTE", "login_per_minute", _integer(minimum=1)),
    Var("HUB_REGISTER_BURST", "register_burst", _integer(minimum=1)),
    Var("HUB_REGISTER_PER_HOUR", "register_per_hour", _integer(minimum=1)),
    Var("HUB_PASSWORD_HASH_WORKERS", "password_hash_workers", _integer(minimum=1)),
    Var("HUB_PASSWORD_VERIFY_WORKERS", "password_verify_workers", _integer(minimum=1)),
    Var("HUB_ADMIN_EMAILS", "admin_emails", _lowercase_words),
)

WALLET_VARS: tuple[Var, ...] = (
    Var("HUB_STRIPE_SECRET_KEY", "stripe_secret_key"),
    Var("HUB_STRIPE_WEBHOOK_SECRET", "stripe_webhook_secret"),
    Var("HUB_STRIPE_API_BASE", "stripe_api_base"),
    Var("HUB_COIN_PACKS", "coin_packs", _coin_packs),
    Var("HUB_CASHOUT_MIN_BEANS", "cashout_min_beans", _integer(minimum=1)),
    Var("HUB_TOPUP_BURST", "topup_burst", _integer(minimum=1)),
    Var("HUB_TOPUP_PER_HOUR", "topup_per_hour", _integer(minimum=1)),
    Var("HUB_WALLET_LEASE_S", "lease_s", _number),
    Var("HUB_WALLET_RECONCILE_INTERVAL_S", "reconcile_interval_s", _number),
)

GIFTS_VARS: tuple[Var, ...] = (
    Var("HUB_BEAN_HOLD_S", "bean_hold_s", _number),
    Var("HUB_GIFT_BURST", "burst", _integer(minimum=1)),
    Var("HUB_GIFT_PER_SECOND", "per_second", _number),
    Var("HUB_GIFT_DAILY_CAP_COINS", "daily_cap_coins", _integer(minimum=1)),
    Var("HUB_GIFT_COMBO_WINDOW_S", "combo_window_s", _number),
    Var("HUB_GIFT_SHARE_BPS", "share_bps", _share_bps),
)

BATTLES_VARS: tuple[Var, ...] = (
    Var("HUB_PK_DURATION_S", "duration_s", _number),
    Var("HUB_PK_AFTER_S", "after_s", _number),
    Var("HUB_PK_INVITE_TTL_S", "invite_ttl_s", _number),
    Var("HUB_PK_MATCH_WAIT_S", "match_wait_s", _number),
    Var("HUB_PK_POLL_S", "poll_s", _number),
)

SFU_VARS: tuple[Var, ...] = (
    Var("HUB_SFU_ANNOUNCED_IPS", "announced_ips", _words),
    Var("HUB_ICE_SERVERS", "ice_servers", _json_list),
    Var("HUB_SFU_RECONNECT_GRACE_S", "reconnect_grace_s", _number),
    Var("HUB_SFU_PLI_INTERVAL_S", "pli_interval_s", _number),
    Var("HUB_SFU_GOP_REFRESH_S", "gop_refresh_s", _number),
    Var("HUB_SFU_KEYFRAME_CACHE_PACKETS", "keyframe_cache_packets", _integer(minimum=64)),
    Var("HUB_SFU_NACK_HISTORY_PACKETS", "nack_history_packets", _integer(minimum=128)),
    Var("HUB_SFU_CONNECT_TIMEOUT_S", "connect_timeout_s", _number),
    Var("HUB_SFU_MEDIA_TIMEOUT_S", "media_timeout_s", _number),
    Var("HUB_SFU_MAX_VIEWERS_PER_STREAM", "max_viewers_per_stream", _integer(minimum=1)),
    Var("HUB_SFU_MAX_TRANSCODED_STREAMS", "max_transcoded_streams", _integer(minimum=0)),
    Var("HUB_SFU_PENDING_TIMEOUT_S", "pending_timeout_s", _number),
    Var("HUB_SFU_MAX_PENDING_PER_CLIENT", "max_pending_per_client", _integer(minimum=1)),
    Var("HUB_SFU_WORKERS", "workers", _integer(minimum=0)),
    Var("HUB_SFU_RELAY_ADDRESS", "relay_address"),
    Var("HUB_SFU_RELAY_PORTS", "relay_ports", _port_range),
    Var("HUB_SFU_TRANSPORT_CC", "transport_cc", _flag),
)

ROOMS_VARS: tuple[Var, ...] = (
    Var("HUB_CHAT_BURST", "chat_burst", _integer(minimum=1)),
    Var("HUB_CHAT_PER_SECOND", "chat_per_second", _number),
    Var("HUB_VIEWERS_INTERVAL_S", "viewers_interval_s", _number),
    Var("HUB_LIKES_INTERVAL_S", "likes_interval_s", _number),
    Var("HUB_THUMBNAIL_INTERVAL_S", "thumbnail_interval_s", _number),
    Var("HUB_THUMBNAIL_WIDTH", "thumbnail_width", _integer(minimum=16)),
    Var("HUB_THUMBNAIL_FORMAT", "thumbnail_format", _text),
    Var("HUB_THUMBNAIL_QUALITY", "thumbnail_quality", _integer(minimum=1)),
)

CLUSTER_VARS: tuple[Var, ...] = (
    Var("HUB_CLUSTER_SECRET", "secret"),
    Var("HUB_CLUSTER_HEARTBEAT_S", "heartbeat_s", _number),
    Var("HUB_CLUSTER_LEASE_S", "lease_s", _number),
    Var("HUB_CLUSTER_NODE_CAPACITY", "node_capacity", _integer(minimum=1)),
)

MOBILE_API_VARS: tuple[Var, ...] = (Var("HUB_MAX_BODY_BYTES", "max_body_bytes", _integer(minimum=1024)),)

NOTIFICATIONS_VARS: tuple[Var, ...] = (
    Var("HUB_VAPID_PRIVATE_KEY", "vapid_private_key"),
    Var("HUB_VAPID_SUBJECT", "vapid_subject"),
    Var("HUB_NOTIFY_BATCH", "batch_size", _integer(minimum=1)),
    Var("HUB_NOTIFY_LEASE_S", "lease_s", _number),
    Var("HUB_NOTIFY_POLL_S", "poll_s", _number),
    Var("HUB_NOTIFY_RETENTION_DAYS", "retention_days", _integer(minimum=1)),
    Var("HUB_PUSH_CONCURRENCY", "push_concurrency", _integer(minimum=1)),
    Var("HUB_PUSH_TTL_S", "push_ttl_s", _integer(minimum=0)),
    Var("HUB_PUSH_SERVICE_HOSTS", "push_service_hosts", _lowercase_words),
    Var("HUB_PUSH_ALLOW_LOOPBACK", "push_allow_loopback", _flag),
)

SUBSCRIPTIONS_VARS: tuple[Var, ...] = (
    Var("HUB_SUB_TIERS", "tiers", _sub_tiers),
    Var("HUB_SUB_TIERS_VERSION", "tiers_version", _integer(minimum=1)),
    Var("HUB_SUB_SHARE_BPS", "share_bps", _integer(minimum=0)),
    Var("HUB_SUB_SHARE_VERSION", "share_version", _integer(minimum=1)),
    Var("HUB_SUB_GIFT_DAYS", "gift_days", _integer(minimum=1)),
    Var("HUB_EMOTE_MAX_BYTES", "emote_max_bytes", _integer(minimum=1024)),
    Var("HUB_EMOTE_MAX_PX", "emote_max_px", _integer(minimum=16)),
    Var("HUB_EMOTES_PER_CHANNEL", "emotes_per_channel", _integer(minimum=1)),
)

LOYALTY_VARS: tuple[Var, ...] = (
    Var("HUB_LOYALTY_WATCH_INTERVAL_S", "watch_interval_s", _integer(minimum=1)),
    Var("HUB_LOYALTY_WATCH_POINTS", "watch_points", _integer(minimum=0)),
    Var("HUB_LOYALTY_WATCH_CAP_PER_HOUR", "watch_cap_per_hour", _integer(minimum=0)),
    Var("HUB_LOYALTY_CHAT_POINTS", "chat_points", _integer(minimum=0)),
    Var("HUB_LOYALTY_CHAT_CAP_PER_HOUR", "chat_cap_per_hour", _integer(minimum=0)),
    Var("HUB_LOYALTY_FOLLOW_POINTS", "follow_points", _integer(minimum=0)),
    Var("HUB_LOYALTY_FOLLOW_CAP_PER_HOUR", "follow_cap_per_hour", _integer(minimum=0)),
    Var("HUB_LOYALTY_LEASE_S", "lease_s", _number),
    Var("HUB_LOYALTY_RECONCILE_INTERVAL_S", "reconcile_interval_s", _number),
    Var("HUB_LOYALTY_MAX_REWARDS", "max_rewards", _integer(minimum=1)),
)

RECORDINGS_VARS: tuple[Var, ...] = (
    Var("HUB_RECORDINGS_DIR", "directory", _text),
    Var("HUB_RECORDINGS_SEGMENT_S", "segment_s", _number),
    Var("HUB_RECORDINGS_QUEUE_PACKETS", "queue_packets", _integer(minimum=1)),
    Var("HUB_RECORDINGS_RETENTION_DAYS", "retention_days", _number),
    Var("HUB_RECORDINGS_QUOTA_BYTES_PER_STREAMER", "quota_bytes_per_streamer", _integer(minimum=0)),
    Var("HUB_RECORDINGS_QUOTA_BYTES_TOTAL", "quota_bytes_total", _integer(minimum=0)),
    Var("HUB_RECORDINGS_STORAGE", "storage", _text),
    Var("HUB_RECORDINGS_S3_ENDPOINT", "s3_endpoint", _text),
    Var("HUB_RECORDINGS_S3_BUCKET", "s3_bucket", _text),
    Var("HUB_RECORDINGS_S3_REGION", "s3_region", _text),
    Var("HUB_RECORDINGS_S3_ACCESS_KEY", "s3_access_key", _text),
    Var("HUB_RECORDINGS_S3_SECRET_KEY", "s3_secret_key", _text),
)

#: Every package's table, by the name of its field in :class:`Settings` (``""``: the hub's own fields).
TABLES: Mapping[str, tuple[Var, ...]] = {
    "": HUB_VARS,
    "accounts": ACCOUNTS_VARS,
    "wallet": WALLET_VARS,
    "gifts": GIFTS_VARS,
    "battles": BATTLES_VARS,
    "sfu": SFU_VARS,
    "rooms": ROOMS_VARS,
    "cluster": CLUSTER_VARS,
    "mobile_api": MOBILE_API_VARS,
    "notifications": NOTIFICATIONS_VARS,
    "subscriptions": SUBSCRIPTIONS_VARS,
    "loyalty": LOYALTY_VARS,
    "recordings": RECORDINGS_VARS,
}

#: Fields a package takes from another package's setting: one variable, one default (the source's).
SHARED: Mapping[tuple[str, str], tuple[str, str]] = {
    # Relay pipes between nodes are signed and keyed with the cluster secret.
    ("sfu", "relay_secret"): ("cluster", "secret"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    mode: str = "dev"
    host: str = "127.0.0.1"
    port: int = 8080
    #: Empty: ``http://HOST:PORT``.
    public_url: str = ""
    node_id: str = field(default_factory=lambda: "node-" + secrets.token_hex(3))
    log_level: str = "INFO"
    #: A serving node's garbage collector: a young-generation collection after this many new container objects
    #: (Python's default is 700; 0 keeps it). See ``hub/app.py`` ``serving_gc``.
    gc_young_threshold: int = 3_000

    mongo_url: str | None = None
    mongo_db: str = "livehub"
    redis_url: str | None = None
    #: The URLs are seeds of a Redis Cluster (set by HUB_REDIS_CLUSTER=1, or by several comma-separated URLs).
    redis_cluster: bool = False
    redis_call_timeout_s: float = 0.5
    redis_probe_interval_s: float = 1.0

    cors_origins: tuple[str, ...] = ()

    accounts: AccountsSettings = field(default_factory=AccountsSettings)
    wallet: WalletSettings = field(default_factory=WalletSettings)
    gifts: GiftsSettings = field(default_factory=GiftsSettings)
    battles: BattlesSettings = field(default_factory=BattlesSettings)
    sfu: SfuSettings = field(default_factory=SfuSettings)
    rooms: RoomsSettings = field(default_factory=RoomsSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    mobile_api: ApiSettings = field(default_factory=ApiSettings)
    notifications: NotificationsSettings = field(default_factory=NotificationsSettings)
    subscriptions: SubscriptionsSettings = field(default_factory=SubscriptionsSettings)
    loyalty: LoyaltySettings = field(default_factory=LoyaltySettings)
    recordings: RecordingsSettings = field(default_factory=RecordingsSettings)

    generated_secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.public_url:
            object.__setattr__(self, "public_url", f"http://{self.host}:{self.port}")
        if self.redis_url and "," in self.redis_url:
            object.__setattr__(self, "redis_cluster", True)  # several servers: the seeds of one Redis Cluster
        if self.redis_cluster and not self.redis_url:
            raise SettingsError("HUB_REDIS_CLUSTER=1 needs HUB_REDIS_URL (one or more of the cluster's masters)")
        if self.mode not in ("dev", "production"):
            raise SettingsError(f"HUB_MODE must be 'dev' or 'production', got {self.mode!r}")
        if self.mode == "production":
            missing = [
                name
                for name, value in (
                    ("HUB_JWT_SECRET", self.accounts.jwt_secret),
                    ("HUB_STRIPE_SECRET_KEY", self.wallet.stripe_secret_key),
                    ("HUB_STRIPE_WEBHOOK_SECRET", self.wallet.stripe_webhook_secret),
                    ("HUB_MONGO_URL", self.mongo_url or ""),
                    # Nodes sharing a Redis trust each other's pipe requests and relay keys through this secret.
                    ("HUB_CLUSTER_SECRET", self.cluster.secret if self.redis_url else "unused"),
                    ("HUB_VAPID_PRIVATE_KEY", self.notifications.vapid_private_key),
                )
                if not value
            ]
            if missing:
                raise SettingsError("production mode needs these settings: " + ", ".join(missing))
            refused = [str(f) for f in self._secret_findings()]
            if self.wallet.stripe_api_base is not None and not self.wallet.stripe_api_base.startswith("https://"):
                refused.append(
                    "HUB_STRIPE_API_BASE is not https: in production card payments and the Stripe key would travel "
                    "in clear text (it exists for test doubles such as localstripe)"
                )
            if self.notifications.push_allow_loopback:
                refused.append(
                    "HUB_PUSH_ALLOW_LOOPBACK is on: push subscriptions could make the server POST to its own "
                    "loopback services (it exists for tests' local push service)"
                )
            if self.accounts.bcrypt_rounds < PRODUCTION_MIN_BCRYPT_ROUNDS:
                refused.append(
                    f"HUB_BCRYPT_ROUNDS is {self.accounts.bcrypt_rounds}: production needs at least "
                    f"{PRODUCTION_MIN_BCRYPT_ROUNDS} (a stolen password table would be cheap to crack)"
                )
            if refused:
                raise SettingsError("production mode refuses weak or mismatched settings: " + "; ".join(refused))
        if len(self.accounts.jwt_secret.encode()) < 32:
            raise SettingsError("HUB_JWT_SECRET must be at least 32 bytes")
        if self.cluster.secret and len(self.cluster.secret.encode()) < 16:
            raise SettingsError("HUB_CLUSTER_SECRET must be at least 16 bytes")
        if not 0 < self.cluster.heartbeat_s < self.cluster.lease_s <= 60:
            raise SettingsError("HUB_CLUSTER_HEARTBEAT_S must be above 0 and below HUB_CLUSTER_LEASE_S (at most 60)")
        for name, value in (
            ("HUB_REDIS_CALL_TIMEOUT_S", self.redis_call_timeout_s),
            ("HUB_REDIS_PROBE_INTERVAL_S", self.redis_probe_interval_s),
        ):
            if not 0 < value <= 60:
                raise SettingsError(f"{name} must be more than 0 and at most 60 seconds, got {value}")

    def _secret_findings(self) -> list[Finding]:
        findings = check_secrets(
            jwt_secret=self.accounts.jwt_secret,
            stripe_secret_key=self.wallet.stripe_secret_key,
            stripe_webhook_secret=self.wallet.stripe_webhook_secret,
            production=self.mode == "production",
        )
        vapid = self.notifications.vapid_private_key
        problem = vapid_key_problem(vapid) if vapid else None
        if problem is not None:
            findings.append(Finding("HUB_VAPID_PRIVATE_KEY", problem))
        return findings

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
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Only what ``env`` sets is passed on; everything else is the package's (or the hub's) own default."""
        mode = _read_one(env, "HUB_MODE") or "dev"
        generated: list[str] = []

        def read(table: tuple[Var, ...]) -> dict[str, Any]:
            values: dict[str, Any] = {}
            for var in table:
                raw = _read_one(env, var.env)
                if raw is not None:
                    values[var.field] = var.parse(var.env, raw)
                elif var.env in GENERATED and mode != "production":
                    generated.append(var.env)
                    values[var.field] = GENERATED[var.env]()
            return values

        values = {package: read(table) for package, table in TABLES.items()}
        for (package, name), (source, source_name) in SHARED.items():
            if source_name in values[source]:
                values[package][name] = values[source][source_name]

        def build(package: str, make: Callable[..., _T]) -> _T:
            try:
                return make(**values[package])
            except ValueError as exc:  # a package's own check (e.g. SfuSettings: a power of two)
                raise SettingsError(f"bad {package} settings: {exc}") from None

        return cls(
            **values[""],
            accounts=build("accounts", AccountsSettings),
            wallet=build("wallet", WalletSettings),
            gifts=build("gifts", GiftsSettings),
            battles=build("battles", BattlesSettings),
            sfu=build("sfu", SfuSettings),
            rooms=build("rooms", RoomsSettings),
            cluster=build("cluster", ClusterSettings),
            mobile_api=build("mobile_api", ApiSettings),
            notifications=build("notifications", NotificationsSettings),
            subscriptions=build("subscriptions", SubscriptionsSettings),
            loyalty=build("loyalty", LoyaltySettings),
            recordings=build("recordings", RecordingsSettings),
            generated_secrets=tuple(generated),
        )


def hub_default(name: str) -> Any:
    """The default of one of the hub's own fields, for the hub's own classes (so it is written once, above)."""
    f = Settings.__dataclass_fields__[name]
    assert f.default is not MISSING, f"{name} has a computed default"
    return f.default


def _read_one(env: Mapping[str, str], name: str) -> str | None:
    """A variable's stripped text; unset and blank are the same."""
    value = env.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()
