"""One request model per action, shared by both edges: the socket payload adds ``stream_id`` to it, the HTTP body
is it (the stream is in the path). Fields, limits and the idempotency-key pattern are written once, here."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from app.text_fields import GiftMessage, Reason, ReportReason
from core.ids import UserId
from rooms.chat_models import ModAction
from rooms.moderation import ModRequest

#: Client-chosen keys that make a retried request apply once (gifts, cash-outs).
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]
ObjectId = Annotated[str, Field(min_length=1, max_length=64)]


class Request(BaseModel):
    """Unknown fields are refused; strings are not coerced to numbers (both edges)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class ModerationRequest(Request):
    """``mod:action`` and ``POST /streams/{id}/mod-actions``."""

    # The vocabulary is rooms'; non-strict so the JSON string converts to the enum.
    action: ModAction = Field(strict=False)
    target_user_id: ObjectId | None = None
    message_id: ObjectId | None = None
    duration_s: int | None = None
    value: int | bool | str | dict[str, Any] | None = None
    reason: Reason | None = None

    def to_domain(self) -> ModRequest:
        return ModRequest(
            action=ModAction(self.action),
            target_user_id=UserId(self.target_user_id) if self.target_user_id else None,
            message_id=self.message_id,
            duration_s=self.duration_s,
            value=self.value,
            reason=self.reason or "",
        )


class ReportRequest(Request):
    """``report:send`` and ``POST /streams/{id}/reports``."""

    message_id: ObjectId | None = None
    target_user_id: ObjectId | None = None
    reason: ReportReason

    @property
    def target(self) -> UserId | None:
        return UserId(self.target_user_id) if self.target_user_id else None


class GiftRequest(Request):
    """``gift:send`` and ``POST /streams/{id}/gifts``; replaying the key returns the first ack."""

    gift_id: str = Field(max_length=40)
    count: int = Field(default=1, ge=1, le=99)
    idempotency_key: IdempotencyKey
    #: Shown with the gift in chat and on the overlays; part of the transfer (a replay must repeat it).
    message: GiftMessage | None = None
