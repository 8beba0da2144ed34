from __future__ import annotations

import pytest

from hub.settings import Settings, SettingsError


def test_dev_mode_generates_missing_secrets_and_says_which() -> None:
    s = Settings.from_env({})
    assert s.mode == "dev"
    assert len(s.accounts.jwt_secret) >= 32
    assert set(s.generated_secrets) == {
        "HUB_JWT_SECRET",
        "HUB_STRIPE_SECRET_KEY",
        "HUB_STRIPE_WEBHOOK_SECRET",
        "HUB_CLUSTER_SECRET",
        "HUB_VAPID_PRIVATE_KEY",
    }
    assert s.embedded and s.mongo_url is None


def test_production_mode_refuses_to_start_without_secrets() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"HUB_MODE": "production"})
    for name in (
        "HUB_JWT_SECRET",
        "HUB_STRIPE_SECRET_KEY",
        "HUB_STRIPE_WEBHOOK_SECRET",
        "HUB_MONGO_URL",
        "HUB_VAPID_PRIVATE_KEY",
    ):
        assert name in info.value.message


# What an operator pastes: `openssl rand -base64 48`, and Stripe's own formats.
STRONG_JWT = "q3Vx9Rk2mZp7LwTa0bYc5NdE8fGhJ4sK1uXiOvW6yBnQ+r/tA2e9CjUo3MlSgHkD"
LIVE_KEY = "sk_live_51NcXyZAbCdEfGhIjKlMnOpQrStUvWxYz0123456789"
WEBHOOK = "whsec_8kQ2xV7pLmN4rT9wZc3bY6hJ1sD5fG0a"
PRODUCTION = {
    "HUB_MODE": "production",
    "HUB_JWT_SECRET": STRONG_JWT,
    "HUB_STRIPE_SECRET_KEY": LIVE_KEY,
    "HUB_STRIPE_WEBHOOK_SECRET": WEBHOOK,
    "HUB_MONGO_URL": "mongodb://db:27017",
    "HUB_VAPID_PRIVATE_KEY": "LWLlkWfz0C00_UxfO2ETEcZoPa7Qu95o3hm0bW9Iykk",
}


def test_production_mode_with_everything_set() -> None:
    s = Settings.from_env(
        {
            **PRODUCTION,
            "HUB_REDIS_URL": "redis://r:6379/0",
            "HUB_CLUSTER_SECRET": "c" * 32,
            "HUB_CORS_ORIGINS": "https://a.example, https://b.example",
            "HUB_PORT": "9000",
        }
    )
    assert s.generated_secrets == ()
    assert not s.embedded
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.port == 9000


@pytest.mark.parametrize(
    "env",
    [
        {"HUB_PORT": "eighty"},
        {"HUB_MODE": "staging"},
        {"HUB_JWT_SECRET": "short"},
        {"HUB_COIN_PACKS": "not json"},
        {"HUB_COIN_PACKS": '[{"id": "x", "coins": -1, "price_cents": 100}]'},
        {"HUB_BCRYPT_ROUNDS": "2"},
        {"HUB_GC_YOUNG_THRESHOLD": "-1"},
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert info.value.message


@pytest.mark.parametrize(
    ("setting", "value", "why"),
    [
        ("HUB_JWT_SECRET", "a" * 32, "too predictable"),
        ("HUB_JWT_SECRET", "changeme" * 6, "too predictable"),
        ("HUB_JWT_SECRET", "0123456789abcdef0123456789abcdef", "too predictable"),
        ("HUB_STRIPE_WEBHOOK_SECRET", "x", "not a Stripe webhook signing secret"),
        ("HUB_STRIPE_WEBHOOK_SECRET", "whsec_short", "not a plausible"),
        ("HUB_STRIPE_WEBHOOK_SECRET", "whsec_" + "x" * 32, "too predictable"),
        ("HUB_STRIPE_WEBHOOK_SECRET", "whsec_8kQ2xV7pLmN4rT9w Zc3bY6hJ1sD5fG0a", "not a plausible"),
        ("HUB_STRIPE_SECRET_KEY", "sk_test_51NcXyZAbCdEfGhIjKlMnOpQrStUvWxYz01234", "test-mode key (sk_test_"),
        ("HUB_STRIPE_SECRET_KEY", "rk_test_51NcXyZAbCdEfGhIjKlMnOpQrStUvWxYz01234", "test-mode key (rk_test_"),
        ("HUB_STRIPE_SECRET_KEY", "pk_live_51NcXyZAbCdEfGhIjKlMnOpQrStUvWxYz01234", "publishable key"),
        ("HUB_STRIPE_SECRET_KEY", "sk_live_x", "not a Stripe secret key"),
        ("HUB_STRIPE_SECRET_KEY", "hunter2-hunter2-hunter2", "not a Stripe secret key"),
        ("HUB_BCRYPT_ROUNDS", "4", "at least 10"),
        ("HUB_STRIPE_API_BASE", "http://127.0.0.1:8420", "not https"),
        ("HUB_VAPID_PRIVATE_KEY", "A" * 43, "not a P-256 private key"),
        ("HUB_VAPID_PRIVATE_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE", "too predictable"),
        ("HUB_VAPID_PRIVATE_KEY", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB8", "too predictable"),
        ("HUB_VAPID_PRIVATE_KEY", "not a key", "raw 32-byte P-256 private key"),
        ("HUB_VAPID_PRIVATE_KEY", "LWLlkWfz0C00_UxfO2ETEcZoPa7Qu95o", "is 24 bytes"),
        ("HUB_PUSH_ALLOW_LOOPBACK", "1", "HUB_PUSH_ALLOW_LOOPBACK is on"),
    ],
)
def test_production_mode_refuses_a_weak_or_mismatched_secret_naming_it_and_why(
    setting: str, value: str, why: str
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**PRODUCTION, setting: value})
    message = info.value.message
    assert f"{setting} " in message and why in message
    assert value not in message or len(value) < 5  # the message says why, it does not echo the secret
    others = {
        "HUB_JWT_SECRET",
        "HUB_STRIPE_WEBHOOK_SECRET",
        "HUB_STRIPE_SECRET_KEY",
        "HUB_BCRYPT_ROUNDS",
        "HUB_STRIPE_API_BASE",
    } - {setting}
    assert not any(f"{name} " in message for name in others)  # only the bad one is blamed


def test_production_mode_refuses_one_value_used_for_two_secrets() -> None:
    shared = "whsec_8kQ2xV7pLmN4rT9wZc3bY6hJ1sD5fG0aHkR"
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**PRODUCTION, "HUB_JWT_SECRET": shared, "HUB_STRIPE_WEBHOOK_SECRET": shared})
    assert "HUB_STRIPE_WEBHOOK_SECRET is the same value as HUB_JWT_SECRET" in info.value.message


def test_production_mode_lists_every_weak_secret_at_once() -> None:
    env = {
        **PRODUCTION,
        "HUB_JWT_SECRET": "a" * 32,
        "HUB_STRIPE_WEBHOOK_SECRET": "x",
        "HUB_STRIPE_SECRET_KEY": "sk_test_" + "Ab3" * 10,
    }
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    for name in ("HUB_JWT_SECRET", "HUB_STRIPE_WEBHOOK_SECRET", "HUB_STRIPE_SECRET_KEY"):
        assert name in info.value.message


def test_dev_mode_warns_about_a_live_stripe_key_and_weak_secrets_but_starts() -> None:
    s = Settings.from_env({"HUB_STRIPE_SECRET_KEY": LIVE_KEY, "HUB_JWT_SECRET": "a" * 32})
    assert s.mode == "dev"
    assert any("HUB_STRIPE_SECRET_KEY is a live key" in w for w in s.warnings)
    assert any("HUB_JWT_SECRET is too predictable" in w for w in s.warnings)


def test_dev_mode_with_generated_secrets_has_nothing_to_warn_about() -> None:
    assert Settings.from_env({}).warnings == ()


def test_nodes_sharing_a_redis_in_production_need_a_cluster_secret() -> None:
    env = {**PRODUCTION, "HUB_REDIS_URL": "redis://redis:6379/0"}
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert "HUB_CLUSTER_SECRET" in info.value.message
    s = Settings.from_env({**env, "HUB_CLUSTER_SECRET": "k" * 32})
    assert s.cluster.secret == "k" * 32


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("HUB_SFU_RELAY_PORTS", "40000"),
        ("HUB_SFU_RELAY_PORTS", "50000-40000"),
        ("HUB_SFU_RELAY_PORTS", "0-10"),
        ("HUB_CLUSTER_HEARTBEAT_S", "5"),  # not below the lease
        ("HUB_CLUSTER_SECRET", "short"),
        ("HUB_CLUSTER_NODE_CAPACITY", "0"),
    ],
)
def test_bad_cluster_settings_are_refused_with_their_name(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({name: value})
    assert name in info.value.message


def test_relay_ports_are_an_inclusive_range() -> None:
    assert Settings.from_env({"HUB_SFU_RELAY_PORTS": "40000-40099"}).sfu.relay_ports == (40000, 40099)
    assert Settings.from_env({}).sfu.relay_ports == (0, 0)


def test_several_redis_urls_mean_a_redis_cluster_seeded_with_each() -> None:
    from hub.redis_client import cluster_nodes

    urls = "redis://127.0.0.1:7000, redis://127.0.0.1:7001,redis://10.0.0.3"
    s = Settings.from_env({"HUB_REDIS_URL": urls})
    assert s.redis_cluster is True
    assert [(n.host, n.port) for n in cluster_nodes(s.redis_url or "")] == [
        ("127.0.0.1", 7000),
        ("127.0.0.1", 7001),
        ("10.0.0.3", 6379),
    ]
    one = Settings.from_env({"HUB_REDIS_URL": "redis://127.0.0.1:7000", "HUB_REDIS_CLUSTER": "1"})
    assert one.redis_cluster is True
    assert Settings.from_env({"HUB_REDIS_URL": "redis://127.0.0.1:6379/0"}).redis_cluster is False


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"HUB_REDIS_CLUSTER": "1"}, "HUB_REDIS_CLUSTER"),
        ({"HUB_REDIS_URL": "redis://a:1", "HUB_REDIS_CLUSTER": "maybe"}, "HUB_REDIS_CLUSTER"),
    ],
)
def test_contradictory_redis_cluster_settings_are_refused(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert named in info.value.message


def test_a_value_a_package_refuses_is_a_settings_error_at_start_up() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"HUB_SFU_NACK_HISTORY_PACKETS": "1000"})  # not a power of two (SfuSettings checks)
    assert "sfu" in info.value.message and "power of two" in info.value.message
