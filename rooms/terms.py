"""Blocked terms, Twitch-style: a term is one or more words; ``*`` at the start or end of a word matches any prefix
or suffix (``*bad`` matches ``superbad``, ``bad*`` matches ``badly``). Matching ignores case and punctuation."""

from __future__ import annotations

import re

from core.errors import InvalidInputError

TERM_MAX = 50
TERMS_MAX = 500
_WORD = re.compile(r"[\w*]+", re.UNICODE)
_TEXT_WORD = re.compile(r"\w+", re.UNICODE)


def normalize_term(term: str) -> str:
    words = _WORD.findall(term.lower())
    if not words or len(term) > TERM_MAX:
        raise InvalidInputError(f"a blocked term needs 1 to {TERM_MAX} characters of words", field="value")
    for w in words:
        core = w.strip("*")
        if not core or "*" in core:
            raise InvalidInputError("'*' may only stand at a word's start or end", field="value")
    return " ".join(words)


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
    words = _TEXT_WORD.findall(text.lower())
    for term in terms:
        parts = term.split(" ")
        n = len(parts)
        for i in range(len(words) - n + 1):
            if all(_word_matches(parts[j], words[i + j]) for j in range(n)):
                return term
    return None
