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
