"""Directory search keywords: a stream's title and its streamer's nickname as normalized tokens (NFKC, case-folded,
split on anything not a letter or digit), each with its prefixes from 2 characters, stored on the stream
(``keywords``, a multikey index). A query matches a stream when every token of the query is among its keywords
(``$all``): "speed" finds "Speedrun night", "ana spee" finds Ana's speedrun. The same query on MongoDB and on the
stand-in (which has no ``$text``); no stemming or ranking."""

from __future__ import annotations

import re
import unicodedata

PREFIX_MIN = 2
TOKEN_MAX = 20  # longer words are cut: their first 20 characters still match
TOKENS_MAX = 30
QUERY_TOKENS_MAX = 8
_SPLIT = re.compile(r"[^\w]+|_+")


def tokens(text: str) -> list[str]:
    """The words of ``text``, normalized, in order, without repeats."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = [w[:TOKEN_MAX] for w in _SPLIT.split(folded) if w]
    return list(dict.fromkeys(words))


def keywords(*texts: str) -> list[str]:
    """What a stream is found by: every token and its prefixes (from ``PREFIX_MIN`` characters)."""
    out: dict[str, None] = {}
    for text in texts:
        for word in tokens(text)[:TOKENS_MAX]:
            for end in range(min(PREFIX_MIN, len(word)), len(word) + 1):
                out[word[:end]] = None
    return list(out)


def query_tokens(query: str) -> list[str]:
    """A search box's text as the tokens a stream must all have (one-character words are dropped unless alone)."""
    words = tokens(query)
    longer = [w for w in words if len(w) >= PREFIX_MIN]
    return (longer or words)[:QUERY_TOKENS_MAX]
