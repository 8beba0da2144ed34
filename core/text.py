"""One policy for every piece of text a person writes (nicknames, bios, titles, chat, reasons, gift messages).

A field's text is NFC-normalised and trimmed; whitespace runs become one space (a multi-line field keeps its line
breaks). It is refused, with ``invalid_input`` naming the field, when it holds

- control characters (C0/C1 other than whitespace, lone surrogates, noncharacters),
- bidirectional embeddings, overrides or isolates (U+202A..U+202E, U+2066..U+2069: "Trojan Source" reordering),
- invisible format characters other than the few real text needs (ZWJ for emoji sequences, ZWNJ for Persian and
  Indic shaping, LRM/RLM/ALM, emoji tag characters),
- a grapheme cluster with more than ``MARKS_PER_GRAPHEME_MAX`` combining marks ("Zalgo" stacks) or more than
  ``CODE_POINTS_PER_GRAPHEME_MAX`` code points (one "character" that is a long ZWJ chain),
- joiners or marks standing alone, attached to no character,
- nothing visible (only spaces, joiners, marks, fillers),
- fewer or more user-perceived characters than the field allows. Length is counted in extended grapheme clusters
  (UAX #29, via the ``grapheme`` module of the pinned ``graphemeu`` package): a family emoji or a Hangul syllable
  written as jamo is one character, as the person typing it sees it.

``fold_for_matching`` is the other half: the form blocked-term matching compares (NFKC, case-folded, invisible
and bidi characters removed), so ``sc\\u200bam`` and fullwidth ``ｓｃａｍ`` are both ``scam``.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import grapheme

from core.errors import InvalidInputError

MARKS_PER_GRAPHEME_MAX = 6
CODE_POINTS_PER_GRAPHEME_MAX = 24

# Explicit bidi formatting: embeddings, overrides (U+202A..U+202E) and isolates (U+2066..U+2069).
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Format (Cf) characters real text needs: joiners, directional marks, emoji tag sequences (subdivision flags).
_ALLOWED_FORMAT = frozenset("\u200c\u200d\u200e\u200f\u061c")
_TAGS = range(0xE0020, 0xE0080)
# Characters that draw nothing although Unicode does not class them as format characters.
_BLANK_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f\u17b4\u17b5\u180b\u180c\u180d\u180f")
_DECORATED_SCRIPTS_END = 0x0530  # Latin, IPA, Greek and Cyrillic end here
_WHITESPACE_CONTROLS = frozenset("\t\n\r\x0b\x0c")


def _is_noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def _is_invisible(ch: str) -> bool:
    """Draws nothing on its own: format characters, combining marks, variation selectors, fillers, spaces."""
    if ch in _BLANK_LETTERS or ch.isspace():
        return True
    return unicodedata.category(ch) in ("Cf", "Mn", "Me", "Zs", "Zl", "Zp")


def _is_attaching(ch: str) -> bool:
    """Only makes sense attached to a character before it: joiners, combining marks, tag characters."""
    return ch in "\u200c\u200d" or ord(ch) in _TAGS or unicodedata.category(ch) in ("Mn", "Me")


@dataclass(frozen=True, slots=True)
class TextRule:
    """How long one field may be, in user-perceived characters, and whether it keeps line breaks."""

    field: str
    max_chars: int
    min_chars: int = 0
    multiline: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.min_chars <= self.max_chars:
            raise ValueError("a text rule needs 0 <= min_chars <= max_chars")

    @property
    def max_code_points(self) -> int:
        """The most code points a valid value can have: the edges' cheap length bound before the real check."""
        return self.max_chars * CODE_POINTS_PER_GRAPHEME_MAX

    def clean(self, value: str) -> str:
        return clean_text(
            value, field=self.field, max_chars=self.max_chars, min_chars=self.min_chars, multiline=self.multiline
        )


# Every user-written field, in one place. Lengths are in user-perceived characters.
NICKNAME = TextRule("nickname", max_chars=30, min_chars=2)
BIO = TextRule("bio", max_chars=300, multiline=True)
STREAM_TITLE = TextRule("title", max_chars=140, min_chars=1)
STREAM_CATEGORY = TextRule("category", max_chars=40, min_chars=1)
STREAM_TAG = TextRule("tags", max_chars=25, min_chars=1)
GOAL_TITLE = TextRule("title", max_chars=80)
CHAT_TEXT = TextRule("text", max_chars=500, min_chars=1)
REASON = TextRule("reason", max_chars=300)
REPORT_REASON = TextRule("reason", max_chars=300, min_chars=1)
RESOLUTION = TextRule("resolution", max_chars=300)
GIFT_MESSAGE = TextRule("message", max_chars=100)


def _refuse(field: str, why: str) -> InvalidInputError:
    return InvalidInputError(f"{field} {why}", field=field)


def _collapse(text: str, multiline: bool) -> str:
    if not multiline:
        return " ".join(text.split())
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    out: list[str] = []
    for line in lines:  # at most one empty line in a row
        if line or (out and out[-1]):
            out.append(line)
    return "\n".join(out).strip("\n")


def check_characters(text: str, field: str) -> None:
    """Refuse control, bidi-control and invisible formatting characters (see the module's docstring)."""
    for ch in text:
        cp = ord(ch)
        category = unicodedata.category(ch)
        if ch in BIDI_CONTROLS:
            raise _refuse(field, "contains bidirectional control characters")
        if (category == "Cc" and ch not in _WHITESPACE_CONTROLS) or category == "Cs" or _is_noncharacter(cp):
            raise _refuse(field, "contains control characters")
        if category == "Cf" and ch not in _ALLOWED_FORMAT and cp not in _TAGS:
            raise _refuse(field, "contains invisible formatting characters")


def clean_text(value: str, *, field: str, max_chars: int, min_chars: int = 0, multiline: bool = False) -> str:
    """The field's text as stored, or ``InvalidInputError`` naming ``field``. Idempotent: clean text passes as is."""
    if not isinstance(value, str):
        raise _refuse(field, "must be text")
    # Cheap bound before any per-character work: no cluster is longer than CODE_POINTS_PER_GRAPHEME_MAX.
    if len(value) > max_chars * CODE_POINTS_PER_GRAPHEME_MAX + 256:
        raise _refuse(field, f"must be at most {max_chars} characters")
    text = unicodedata.normalize("NFC", value)
    check_characters(text, field)
    text = _collapse(text, multiline)
    count = 0
    for cluster in grapheme.graphemes(text):
        count += 1
        if len(cluster) > CODE_POINTS_PER_GRAPHEME_MAX:
            raise _refuse(field, "contains a character built from too many code points")
        if all(_is_attaching(ch) for ch in cluster):
            raise _refuse(field, "contains invisible characters that belong to no character")
        marks = sum(1 for ch in cluster if ch in _ALLOWED_FORMAT or unicodedata.category(ch) in ("Mn", "Me"))
        if marks > MARKS_PER_GRAPHEME_MAX:
            raise _refuse(field, f"stacks more than {MARKS_PER_GRAPHEME_MAX} combining marks on one character")
    if text and all(_is_invisible(ch) for ch in text):
        raise _refuse(field, "has nothing visible in it")
    if count < min_chars:
        if min_chars == 1:
            raise _refuse(field, "must not be empty")
        raise _refuse(field, f"must be at least {min_chars} characters")
    if count > max_chars:
        raise _refuse(field, f"must be at most {max_chars} characters")
    return text


def grapheme_length(text: str) -> int:
    """The number of user-perceived characters (extended grapheme clusters) in ``text``."""
    return sum(1 for _ in grapheme.graphemes(text))


def fold_for_matching(text: str) -> str:
    """The form blocked terms are matched in: NFKC (fullwidth and styled letters become plain ones), case-folded,
    with format characters (zero-width, bidi, soft hyphen, tags), combining marks (``scám``, strike-through
    overlays), variation selectors and fillers removed. Terms and texts are folded alike, so any script still
    matches itself."""
    decomposed = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", text).casefold())
    kept: list[str] = []
    for ch in decomposed:
        category = unicodedata.category(ch)
        if category == "Cf" or ch in _BLANK_LETTERS or 0xFE00 <= ord(ch) <= 0xFE0F:
            continue
        # Accents on Latin, Greek and Cyrillic letters only decorate; in other scripts marks are vowels that
        # tell words apart, so they stay.
        if category in ("Mn", "Me") and (not kept or ord(kept[-1]) < _DECORATED_SCRIPTS_END):
            continue
        kept.append(ch)
    return unicodedata.normalize("NFKC", "".join(kept))
