from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import InvalidInputError
from rooms.terms import find_blocked, normalize_term


@pytest.mark.parametrize(
    ("term", "text", "blocked"),
    [
        ("bad", "that is BAD!", True),
        ("bad", "badly", False),
        ("bad*", "badly done", True),
        ("*bad", "superbad", True),
        ("*bad", "badly", False),
        ("*ad*", "shadow", True),
        ("buy now", "please BUY   now!!", True),
        ("buy now", "buy it now", False),
        ("free* coins", "freebie coins here", True),
    ],
)
def test_terms_match_whole_words_with_wildcards_at_word_edges(term: str, text: str, blocked: bool) -> None:
    assert (find_blocked(text, (normalize_term(term),)) is not None) is blocked


@pytest.mark.parametrize("term", ["b*d", "*", "", "x" * 51, "!!!"])
def test_bad_terms_are_refused(term: str) -> None:
    with pytest.raises(InvalidInputError):
        normalize_term(term)


@given(st.text(alphabet=st.characters(categories=("Ll",)), min_size=1, max_size=12), st.text(max_size=40))
def test_a_blocked_word_is_found_wherever_it_stands_alone(word: str, around: str) -> None:
    term = normalize_term(word)
    assert find_blocked(f"{around} {word} {around}", (term,)) is not None


def test_no_terms_blocks_nothing() -> None:
    assert find_blocked("anything at all", ()) is None


@pytest.mark.parametrize(
    "text",
    [
        "sc\u200bam",  # zero-width space inside the word
        "sc\u200dam",  # zero-width joiner
        "s\u00adcam",  # soft hyphen
        "sc\u2060am",  # word joiner
        "\u202escam\u202c",  # right-to-left override around it
        "ｓｃａｍ",  # fullwidth letters
        "ＳＣＡＭ here",  # fullwidth capitals
        "𝐬𝐜𝐚𝐦",  # mathematical bold
        "SCÁM",  # a decorating accent
        "s\u0336c\u0336a\u0336m\u0336",  # strike-through overlay marks
        "ſcam",  # long s, folded by case folding
    ],
)
def test_blocked_terms_are_not_bypassed_with_invisible_fullwidth_or_styled_characters(text: str) -> None:
    assert find_blocked(text, (normalize_term("scam"),)) == "scam"


def test_terms_written_in_fullwidth_or_with_invisible_characters_block_the_plain_word() -> None:
    assert find_blocked("a scam!", (normalize_term("ｓｃ\u200bａｍ"),)) is not None


def test_terms_stored_before_folding_still_match_folded_text() -> None:
    assert find_blocked("ＢＡＤ", ("bad",)) == "bad"


def test_marks_that_are_vowels_in_their_script_still_tell_words_apart() -> None:
    # Hindi: the vowel sign in "कुल" (U+0941, a combining mark) makes it another word than "कल".
    assert find_blocked("कल", (normalize_term("कुल"),)) is None
    assert find_blocked("कुल", (normalize_term("कल"),)) is None
    assert find_blocked("यह कुल है", (normalize_term("कुल"),)) == "कुल"
