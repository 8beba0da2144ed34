"""Blocked terms, Twitch-style: a term is one or more words; ``*`` at the start or end of a word matches any prefix
or suffix (``*bad`` matches ``superbad``, ``bad*`` matches ``badly``). Matching ignores case and punctuation, and
compares texts folded by ``core.text.fold_for_matching`` (NFKC, case-folded, invisible and bidi characters and
decorating accents removed), so ``sc\u200bam``, ``ｓｃａｍ`` and ``SCÁM`` all match the term ``scam``."""

from __future__ import annotations

import unicodedata
from functools import lru_cache

from core.errors import InvalidInputError
from core.text import fold_for_matching

TERM_MAX = 50
TERMS_MAX = 500


def _words(text: str, *, wildcards: bool = False) -> list[str]:
    """Runs of letters, digits, ``_`` and combining marks (vowel signs are part of words in Indic scripts)."""
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if ch.isalnum() or ch == "_" or (wildcards and ch == "*") or unicodedata.category(ch).startswith("M"):
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def normalize_term(term: str) -> str:
    words = _words(fold_for_matching(term), wildcards=True)
    if not words or len(term) > TERM_MAX:
        raise InvalidInputError(f"a blocked term needs 1 to {TERM_MAX} characters of words", field="value")
    for w in words:
        core = w.strip("*")
        if not core or "*" in core:
            raise InvalidInputError("'*' may only stand at a word's start or end", field="value")
    return " ".join(words)


@lru_cache(maxsize=4096)
def _folded_parts(term: str) -> tuple[str, ...]:
    """A stored term's words in matching form (terms stored before folding existed are folded here)."""
    return tuple(" ".join(_words(fold_for_matching(term), wildcards=True)).split(" "))


def _word_matches(pattern: str, word: str) -> bool:
    lead, trail = pattern.startswith("*"), pattern.endswith("*")
    core = pattern.strip("*")
    if lead and trail:
        return core in word
    if lead:
        return word.endswith(core)
    if trail:
        return word.startswith(core)
    return word == core


def find_blocked(text: str, terms: tuple[str, ...]) -> str | None:
    """The first blocked term that ``text`` contains, or None."""
    if not terms:
        return None
    words = _words(fold_for_matching(text))
    for term in terms:
        parts = _folded_parts(term)
        n = len(parts)
        for i in range(len(words) - n + 1):
            if all(_word_matches(parts[j], words[i + j]) for j in range(n)):
                return term
    return None
