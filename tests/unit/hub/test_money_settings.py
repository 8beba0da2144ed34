"""Money settings from the environment: holding period, cash-out minimum, gift limits and revenue shares."""

from __future__ import annotations

import pytest

from hub.settings import Settings, SettingsError

BASE = {"HUB_JWT_SECRET": "s" * 40}


def test_money_settings_have_the_documented_defaults() -> None:
    s = Settings.from_env(BASE)
    assert s.gifts.bean_hold_s == 48 * 3600 and s.wallet.cashout_min_beans == 1000
    assert dict(s.gifts.share_bps) == {"standard": 8000}
    assert (s.gifts.burst, s.gifts.per_second, s.gifts.combo_window_s) == (20, 10.0, 3.0)


def test_money_settings_are_read_from_the_environment() -> None:
    s = Settings.from_env(
        {
            **BASE,
            "HUB_BEAN_HOLD_S": "3600",
            "HUB_CASHOUT_MIN_BEANS": "5000",
            "HUB_GIFT_SHARE_BPS": '{"standard": 7000, "premium": 9000}',
            "HUB_GIFT_DAILY_CAP_COINS": "250",
        }
    )
    assert s.gifts.bean_hold_s == 3600 and s.wallet.cashout_min_beans == 5000 and s.gifts.daily_cap_coins == 250
    assert dict(s.gifts.share_bps) == {"standard": 7000, "premium": 9000}


@pytest.mark.parametrize("raw", ['{"standard": 12000}', '{"standard": 0.8}', "[8000]", '{"standard": true}'])
def test_a_share_outside_0_to_10000_basis_points_is_refused(raw: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({**BASE, "HUB_GIFT_SHARE_BPS": raw})
