from __future__ import annotations

from datetime import UTC, datetime

import pytest

from core.errors import InvalidInputError
from rooms.chat import TEXT_MAX, clean_chat_text
from rooms.chat_models import ChatMessage, RoomSettings, ShieldPreset


def test_text_is_trimmed_and_limited() -> None:
    assert clean_chat_text("  hi there \n") == "hi there"
    assert clean_chat_text("é" * TEXT_MAX) == "é" * TEXT_MAX
    assert clean_chat_text("a\nb") == "a b"  # one line: line breaks become spaces
    for bad in ("", "   ", "x" * (TEXT_MAX + 1), "a\x00b", "bell\x07", "rlo\u202eevil", "\u200b\u200d"):
        with pytest.raises(InvalidInputError):
            clean_chat_text(bad)


def test_shield_folds_its_preset_into_the_settings_and_off_restores_them() -> None:
    base = RoomSettings("s1", slow_s=60, followers_only_min_s=None, min_account_age_s=0)
    preset = ShieldPreset(slow_s=10, followers_only_min_s=600, min_account_age_s=3600)
    on = RoomSettings("s1", slow_s=60, shield=True, shield_preset=preset).effective()
    assert (on.slow_s, on.followers_only_min_s, on.min_account_age_s) == (60, 600, 3600)  # the stricter of each
    assert base.effective() == base
    assert on.to_public()["shield"] is True and on.to_public()["followers_only"] is True


def test_preset_bounds() -> None:
    with pytest.raises(InvalidInputError):
        ShieldPreset(slow_s=2)
    with pytest.raises(InvalidInputError):
        ShieldPreset(min_account_age_s=-1)


def test_message_round_trips_between_wire_and_document() -> None:
    msg = ChatMessage(
        "m1", "s1", "u1", "Ann", "hi @Bob", datetime(2026, 1, 1, tzinfo=UTC), ("owner",), (("u2", "Bob"),), "c1"
    )
    assert ChatMessage.from_dict(msg.to_dict()) == msg
    assert ChatMessage.from_doc(msg.to_doc()) == msg
