"""The one text policy every user-written field goes through (core/text.py)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInputError
from core.text import TextRule, clean_text, fold_for_matching, grapheme_length

NICK = TextRule("nickname", max_chars=30, min_chars=2)


@pytest.mark.parametrize(
    ("text", "length"),
    [
        ("abc", 3),
        ("👨\u200d👩\u200d👧\u200d👦", 1),  # a family: one emoji made of seven code points
        ("👍🏽", 1),  # emoji with a skin tone modifier
        ("🇺🇦🇫🇷", 2),  # two flags, regional indicator pairs
        ("🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f", 1),  # Scotland: tag sequence
        ("\u1100\u1161\u11a8", 1),  # Hangul syllable written as conjoining jamo
        ("한국어", 3),
        ("e\u0301", 1),  # e + combining acute
        ("नमस्ते", 3),  # Devanagari with a virama conjunct
        ("#\ufe0f\u20e3", 1),  # keycap sequence
    ],
)
def test_length_is_counted_in_user_perceived_characters(text: str, length: int) -> None:
    assert grapheme_length(text) == length


def test_a_nickname_of_emoji_sequences_fits_where_code_points_would_not() -> None:
    family = "👨\u200d👩\u200d👧\u200d👦"
    assert NICK.clean(family * 30) == family * 30  # 30 characters, 210 code points
    with pytest.raises(InvalidInputError, match="at most 30"):
        NICK.clean(family * 31)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("bad\x00name", "control"),
        ("esc\x1b[31mred", "control"),
        ("bell\x07", "control"),
        ("c1\x85x\x9b", "control"),
        ("tricky\u202eevil", "bidirectional"),
        ("iso\u2066late\u2069", "bidirectional"),
        ("emb\u202aed\u202c", "bidirectional"),
        ("zero\u200bwidth", "invisible"),
        ("bom\ufeffhere", "invisible"),
        ("word\u2060joiner", "invisible"),
        ("soft\u00adhyphen", "invisible"),
        ("\u200d\u200d\u200d\u200d", "invisible characters"),
        ("\u200d\u200dname", "invisible characters"),  # joiners attached to nothing
        ("\u3164\u3164\u3164", "nothing visible"),  # Hangul filler
        ("\u2800\u2800", "nothing visible"),  # braille blank
        ("\u200c \u200d", "invisible characters"),
        ("\u200e\u200f", "nothing visible"),  # direction marks only
        ("Z" + "\u0336\u0337\u0338\u0300\u0301\u0302\u0303", "combining marks"),  # Zalgo stack of 7
        ("a" + "\u200d" * 9, "combining marks"),  # joiners stacked on one letter
        ("x\udc00y", "control"),  # lone surrogate
        ("non\ufffechar", "control"),
    ],
)
def test_text_with_controls_bidi_overrides_or_nothing_visible_is_refused_naming_the_field(text: str, why: str) -> None:
    with pytest.raises(InvalidInputError, match=why) as info:
        NICK.clean(text)
    assert info.value.code == "invalid_input"
    assert info.value.extra["field"] == "nickname"
    assert info.value.message.startswith("nickname ")


@pytest.mark.parametrize(
    "text",
    [
        "Zoë",
        "Ελένη",
        "Алёна",
        "李小龍",
        "محمد\u200f",  # with a right-to-left mark
        "می\u200cخواهم",  # Persian with a zero-width non-joiner
        "Tiếng Việt",  # two marks on one letter, composed by NFC
        "🏳\ufe0f\u200d⚧\ufe0f flag",
        "👩🏽\u200d❤\ufe0f\u200d💋\u200d👨🏻",
        "སྒྲ",  # Tibetan stack
        "क्षत्रिय",
    ],
)
def test_real_names_in_many_scripts_and_emoji_pass_unchanged(text: str) -> None:
    assert TextRule("title", max_chars=140, min_chars=1).clean(text) == text


def test_whitespace_is_trimmed_and_collapsed_and_only_multiline_fields_keep_line_breaks() -> None:
    assert clean_text("  a \t\n b\u3000c  ", field="title", max_chars=10) == "a b c"
    assert clean_text(" one \r\n\n\n\n two  \n", field="bio", max_chars=20, multiline=True) == "one\n\ntwo"


def test_text_is_stored_in_nfc_and_an_empty_optional_field_stays_empty() -> None:
    assert clean_text("e\u0301", field="title", max_chars=5) == "\u00e9"
    assert clean_text("   ", field="bio", max_chars=5) == ""
    with pytest.raises(InvalidInputError, match="must not be empty"):
        clean_text("   ", field="title", max_chars=5, min_chars=1)


def test_a_huge_input_is_refused_before_it_is_segmented() -> None:
    with pytest.raises(InvalidInputError, match="at most 30"):
        NICK.clean("a" * 1_000_000)


@given(st.text(max_size=60))
def test_the_policy_either_refuses_or_returns_text_it_would_accept_unchanged(text: str) -> None:
    try:
        cleaned = clean_text(text, field="chat", max_chars=200, multiline=False)
    except InvalidInputError as exc:
        assert exc.extra["field"] == "chat"
        return
    assert clean_text(cleaned, field="chat", max_chars=200) == cleaned


@pytest.mark.parametrize(
    ("a", "b"),
    [("sc\u200bam", "scam"), ("ｓｃａｍ", "scam"), ("SCAM", "scam"), ("\u202escam", "scam"), ("Straße", "strasse")],
)
def test_matching_folds_invisible_fullwidth_and_case_differences_away(a: str, b: str) -> None:
    assert fold_for_matching(a) == fold_for_matching(b)
