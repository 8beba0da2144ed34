"""Request-model fields under the shared text policy (``core.text``), for both edges' models: the same rules the
services apply, checked when a body or payload is validated so a bad field is refused as ``invalid_input`` naming
it, before any work. Lengths in the schema are the cheap code-point bound; the real limit is in user-perceived
characters (grapheme clusters)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from core.errors import InvalidInputError
from core.text import (
    BIO,
    CHAT_TEXT,
    GIFT_MESSAGE,
    GOAL_TITLE,
    NICKNAME,
    REASON,
    REPORT_REASON,
    RESOLUTION,
    STREAM_CATEGORY,
    STREAM_TAG,
    STREAM_TITLE,
    TextRule,
)


def policy(rule: TextRule) -> AfterValidator:
    def check(value: str) -> str:
        try:
            return rule.clean(value)
        except InvalidInputError as exc:
            raise PydanticCustomError("text_policy", exc.message) from None

    fn: Callable[[str], str] = check
    return AfterValidator(fn)


def limits(rule: TextRule) -> Any:
    """The schema side of a rule: a code-point bound and a description of the real limit."""
    return Field(
        max_length=rule.max_code_points,
        description=f"{rule.min_chars} to {rule.max_chars} characters (grapheme clusters); "
        "no control, bidi or invisible-only text",
    )


Nickname = Annotated[str, limits(NICKNAME), policy(NICKNAME)]
Bio = Annotated[str, limits(BIO), policy(BIO)]
StreamTitle = Annotated[str, limits(STREAM_TITLE), policy(STREAM_TITLE)]
StreamCategory = Annotated[str, limits(STREAM_CATEGORY), policy(STREAM_CATEGORY)]
StreamTag = Annotated[str, limits(STREAM_TAG), policy(STREAM_TAG)]
GoalTitle = Annotated[str, limits(GOAL_TITLE), policy(GOAL_TITLE)]
ChatText = Annotated[str, limits(CHAT_TEXT), policy(CHAT_TEXT)]
Reason = Annotated[str, limits(REASON), policy(REASON)]
ReportReason = Annotated[str, limits(REPORT_REASON), policy(REPORT_REASON)]
Resolution = Annotated[str, limits(RESOLUTION), policy(RESOLUTION)]
GiftMessage = Annotated[str, limits(GIFT_MESSAGE), policy(GIFT_MESSAGE)]
