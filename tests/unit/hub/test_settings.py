from __future__ import annotations

import pytest

from hub.settings import Settings, SettingsError


def test_dev_mode_generates_missing_secrets_and_says_which() -> None:
    s = Settings.from_env({})
    assert s.mode == "dev"
    assert len(s.jwt_secret) >= 32
    assert set(s.generated_secrets) == {"HUB_JWT_SECRET", "HUB_STRIPE_SECRET_KEY", "HUB_STRIPE_WEBHOOK_SECRET"}
    assert s.embedded and s.mongo_url is None


def test_production_mode_refuses_to_start_without_secrets() -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env({"HUB_MODE": "production"})
    for name in ("HUB_JWT_SECRET", "HUB_STRIPE_SECRET_KEY", "HUB_STRIPE_WEBHOOK_SECRET", "HUB_MONGO_URL"):
        assert name in info.value.message


def test_production_mode_with_everything_set() -> None:
    s = Settings.from_env(
        {
            "HUB_MODE": "production",
            "HUB_JWT_SECRET": "j" * 40,
            "HUB_STRIPE_SECRET_KEY": "sk_live_x",
            "HUB_STRIPE_WEBHOOK_SECRET": "whsec_x",
            "HUB_MONGO_URL": "mongodb://db:27017",
            "HUB_REDIS_URL": "redis://r:6379/0",
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
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(env: dict[str, str]) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    assert info.value.message
