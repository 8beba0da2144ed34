"""Subscription values: Stripe's subscription statuses, a membership (one subscriber of one channel) and its perks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from core.clock import as_utc


class BillingStatus(StrEnum):
    """A Stripe subscription's ``status`` as Stripe spells it; ``none`` for a membership made of gifted months."""

    NONE = "none"
    INCOMPLETE = "incomplete"  # created; its first payment not confirmed yet
    INCOMPLETE_EXPIRED = "incomplete_expired"
    TRIALING = "trialing"
    ACTIVE = "active"
    PAST_DUE = "past_due"  # a renewal failed; Stripe retries
    UNPAID = "unpaid"
    CANCELED = "canceled"
    PAUSED = "paused"

    @classmethod
    def parse(cls, value: object) -> BillingStatus:
        try:
            return cls(str(value))
        except ValueError:
            return cls.INCOMPLETE

    @property
    def terminal(self) -> bool:
        """Stripe never moves a subscription out of these."""
        return self in (BillingStatus.CANCELED, BillingStatus.INCOMPLETE_EXPIRED)

    @property
    def grants_perks(self) -> bool:
        """Paid months count only while the subscription is in one of these (a past-due renewal keeps the month
        already paid for; an unpaid, paused or ended one does not)."""
        return self in (BillingStatus.ACTIVE, BillingStatus.TRIALING, BillingStatus.PAST_DUE)


@dataclass(frozen=True, slots=True)
class Membership:
    """One subscriber of one channel: months counted (paid invoices + gifted months), until when they are paid."""

    user_id: str
    channel_id: str
    tier_id: str
    status: BillingStatus
    months: int
    paid_until: datetime | None
    gift_until: datetime | None
    cancel_at_period_end: bool
    stripe_subscription: str | None

    def active(self, now: datetime) -> bool:
        paid = self.status.grants_perks and self.paid_until is not None and self.paid_until > now
        gifted = self.gift_until is not None and self.gift_until > now
        return paid or gifted

    def until(self) -> datetime | None:
        ends = [d for d in (self.paid_until if self.status.grants_perks else None, self.gift_until) if d is not None]
        return max(ends) if ends else None

    def to_dict(self, now: datetime) -> dict[str, Any]:
        until = self.until()
        return {
            "channel_id": self.channel_id,
            "user_id": self.user_id,
            "tier_id": self.tier_id,
            "status": self.status.value,
            "active": self.active(now),
            "months": self.months,
            "until": until.isoformat() if until else None,
            "cancel_at_period_end": self.cancel_at_period_end,
            "stripe_subscription_id": self.stripe_subscription,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Membership:
        paid, gift = doc.get("paid_until"), doc.get("gift_until")
        return cls(
            user_id=doc["user_id"],
            channel_id=doc["channel_id"],
            tier_id=doc.get("tier_id") or "",
            status=BillingStatus.parse(doc.get("status", BillingStatus.NONE.value)),
            months=int(doc.get("months", 0)),
            paid_until=as_utc(paid) if paid else None,
            gift_until=as_utc(gift) if gift else None,
            cancel_at_period_end=bool(doc.get("cancel_at_period_end", False)),
            stripe_subscription=doc.get("stripe_subscription"),
        )


@dataclass(frozen=True, slots=True)
class Perks:
    """What a subscriber's chat message carries: the tier and the months count for the badge."""

    tier_id: str
    months: int


def member_id(channel_id: str, user_id: str) -> str:
    return f"{channel_id}:{user_id}"
