"""Channel subscriptions: starting one through Stripe Billing (Checkout for the web, an incomplete subscription for the
app), cancelling at the period's end and resuming, Stripe's events applied once in any order, the streamer's share of
every paid month booked through the ledger, and gifted months paid in coins.

The rules:
- A paid month counts once per paid invoice (``invoice.paid``; its id is kept on the membership) and extends the
  paid period to the invoice's period end (never shortens it). The streamer's share of the month's bean value is one
  ledger transfer per invoice (``sub:{invoice id}``), like a gift's: beans minted, the share held for the streamer,
  the rest to the platform; the share and the tiers' version are recorded on it.
- The subscription's state (status, cancel at period end) comes from ``customer.subscription.*`` events and Stripe's
  own answers; a state older than the stored one (an earlier period, or an earlier moment of the same period) is
  ignored, and an ended subscription stays ended.
- Perks hold while the subscription is active, trialing or past due *and* the paid period has not ended, or while a
  gifted month runs. A failed renewal (``invoice.payment_failed``, ``past_due``) therefore keeps the month already
  paid for and ends the perks when it runs out unpaid; Stripe ending the subscription (``canceled``) ends them at once.
- A gifted month costs the tier's coins (one transfer ``subgift:{buyer}:{key}``: a retry with the key never pays
  twice) and adds ``gift_days`` after whatever gifted time the recipient still has.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from core.clock import Clock
from core.errors import ConflictError, InvalidInputError, UnavailableError
from core.events import EventBus, SubscriberAdded
from core.ids import new_id
from subscriptions.billing import StripeBilling, SubscriptionState
from subscriptions.errors import AlreadySubscribedError, NotSubscribedError, SelfSubscriptionError, UnknownTierError
from subscriptions.models import BillingStatus, Membership, Perks, member_id
from subscriptions.refunds import SubscriptionRefunds
from subscriptions.settings import SubscriptionsSettings, SubTier
from subscriptions.store import SubscriptionStore
from wallet.accounts import (
    BEANS_ISSUER,
    BEANS_PLATFORM_REVENUE,
    COINS_GIFT_REVENUE,
    Currency,
    user_beans,
    user_beans_held,
    user_coins,
)
from wallet.errors import AccountFrozenError, InsufficientFundsError
from wallet.models import Hold, Leg, Transfer, TransferKind, TransferSpec, TransferState
from wallet.service import WalletService

log = logging.getLogger(__name__)

_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "invoice.paid",
        "invoice.payment_failed",
    }
)
PERKS_CACHE_S = 2.0
PERKS_CACHE_MAX = 50_000


def billing_rank(state: SubscriptionState, produced_at: int) -> str:
    """Orders the states of one subscription: ended last, then by period, then by when Stripe produced it."""
    return f"{int(state.status.terminal)}:{state.period_start:012d}:{max(0, produced_at):012d}"


class SubscriptionService:
    def __init__(
        self,
        store: SubscriptionStore,
        billing: StripeBilling,
        wallet: WalletService,
        events: EventBus,
        clock: Clock,
        settings: SubscriptionsSettings,
        *,
        bean_hold_s: float,
        refunds: SubscriptionRefunds | None = None,
    ) -> None:
        self._store = store
        self._billing = billing
        self._wallet = wallet
        self._events = events
        self._clock = clock
        self._settings = settings
        self._bean_hold_s = bean_hold_s
        self._refunds = refunds
        self._tiers = {t.id: t for t in settings.tiers}
        self._cache: dict[str, tuple[float, Membership | None]] = {}

    @property
    def settings(self) -> SubscriptionsSettings:
        return self._settings

    def tiers(self) -> list[SubTier]:
        return list(self._tiers.values())

    def tier(self, tier_id: str) -> SubTier:
        tier = self._tiers.get(tier_id)
        if tier is None:
            raise UnknownTierError(f"no subscription tier {tier_id!r}", field="tier_id")
        return tier

    # Reading
    async def membership(self, channel_id: str, user_id: str) -> Membership | None:
        doc = await self._store.get_member(member_id(channel_id, user_id))
        return Membership.from_doc(doc) if doc else None

    async def perks(self, channel_id: str, user_id: str) -> Perks | None:
        """The subscriber's perks in the channel now (None: not a subscriber). Read through a short per-node cache:
        chat asks on every message; a change made on this node clears its entry at once."""
        mid = member_id(channel_id, user_id)
        now = time.monotonic()
        hit = self._cache.get(mid)
        if hit is None or hit[0] <= now:
            doc = await self._store.get_member(mid)
            if len(self._cache) >= PERKS_CACHE_MAX:
                self._cache.clear()
            hit = (now + PERKS_CACHE_S, Membership.from_doc(doc) if doc else None)
            self._cache[mid] = hit
        member = hit[1]
        if member is None or not member.active(self._clock.now()):
            return None
        return Perks(member.tier_id, member.months)

    async def memberships_of(self, user_id: str) -> list[Membership]:
        return [Membership.from_doc(d) for d in await self._store.members_of_user(user_id)]

    # Starting, cancelling, resuming (the subscriber)
    async def start(
        self, user_id: str, email: str | None, channel_id: str, tier_id: str, method: str
    ) -> dict[str, Any]:
        """A Checkout URL (``checkout``, web) or an incomplete subscription and its first invoice's client secret
        (``subscription``, mobile). The perks start when Stripe says the first invoice is paid."""
        if channel_id == user_id:
            raise SelfSubscriptionError("you cannot subscribe to your own channel")
        tier = self.tier(tier_id)
        current = await self.membership(channel_id, user_id)
        running = current is not None and current.stripe_subscription and not current.status.terminal
        # An incomplete subscription never paid for may be replaced by a new attempt; any other running one not.
        if running and current is not None and current.status is not BillingStatus.INCOMPLETE:
            raise AlreadySubscribedError("you already subscribe to this channel")
        customer = await self._store.customer_of(user_id)
        if customer is None:
            customer = await self._store.remember_customer(user_id, await self._billing.create_customer(user_id, email))
        product = await self._product(tier)
        metadata = {
            "user_id": user_id,
            "channel_id": channel_id,
            "tier_id": tier.id,
            "tier_version": str(self._settings.tiers_version),
        }
        attempt = new_id()
        if method == "checkout":
            link = await self._billing.checkout(
                customer=customer,
                product=product,
                price_cents=tier.price_cents,
                currency=tier.currency,
                metadata=metadata,
                return_path=f"/channels/{channel_id}",
                idempotency_key=f"subscribe-{attempt}",
            )
            return {"method": method, "tier": tier_dict(tier), "checkout_url": link.url, "checkout_session_id": link.id}
        state = await self._billing.create_subscription(
            customer=customer,
            product=product,
            price_cents=tier.price_cents,
            currency=tier.currency,
            metadata=metadata,
            idempotency_key=f"subscribe-{attempt}",
        )
        await self._apply_state(state, int(self._clock.now().timestamp()))
        return {
            "method": method,
            "tier": tier_dict(tier),
            "subscription_id": state.id,
            "status": state.status.value,
            "client_secret": state.client_secret,
        }

    async def set_cancel_at_period_end(self, user_id: str, channel_id: str, cancel: bool) -> Membership:
        """Cancel at the end of the paid period (``cancel``) or take that back before it ends."""
        current = await self.membership(channel_id, user_id)
        if current is None or not current.stripe_subscription or current.status.terminal:
            raise NotSubscribedError("you have no running subscription to this channel")
        state = await self._billing.set_cancel_at_period_end(current.stripe_subscription, cancel)
        await self._apply_state(state, int(self._clock.now().timestamp()))
        updated = await self.membership(channel_id, user_id)
        assert updated is not None
        return updated

    async def change_tier(self, user_id: str, channel_id: str, tier_id: str) -> Membership:
        """Upgrade or downgrade a running subscription to ``tier_id`` now (Stripe prorates; the perks' tier changes
        with Stripe's answer, the months count goes on)."""
        tier = self.tier(tier_id)
        current = await self.membership(channel_id, user_id)
        if current is None or not current.stripe_subscription or current.status.terminal:
            raise NotSubscribedError("you have no running subscription to this channel")
        if current.tier_id == tier.id:
            raise ConflictError("you already subscribe at this tier", code="same_tier")
        running = await self._billing.retrieve(current.stripe_subscription)
        metadata = {**running.metadata, "tier_id": tier.id, "tier_version": str(self._settings.tiers_version)}
        state = await self._billing.change_price(
            current.stripe_subscription,
            item_id=running.item_id,
            product=await self._product(tier),
            price_cents=tier.price_cents,
            currency=tier.currency,
            metadata=metadata,
            idempotency_key=f"tier-{current.stripe_subscription}-{tier.id}-{new_id()}",
        )
        await self._apply_state(state, int(self._clock.now().timestamp()))
        updated = await self.membership(channel_id, user_id)
        assert updated is not None
        return updated

    async def _product(self, tier: SubTier) -> str:
        key = f"{tier.id}:v{self._settings.tiers_version}"
        product = await self._store.product_of(key)
        if product is None:
            product = await self._store.remember_product(key, await self._billing.create_product(key, tier.name))
        return product

    # Stripe's events
    async def handle_event(self, event: dict[str, Any]) -> str:
        """One verified Stripe event of ``SUBSCRIPTION_EVENTS`` (the webhook endpoint dedupes by event id first)."""
        kind: str = event["type"]
        obj: dict[str, Any] = event["data"]["object"]
        created = event.get("created")
        produced = created if isinstance(created, int) and not isinstance(created, bool) else 0
        if kind.startswith("customer.subscription."):
            state = SubscriptionState.parse(obj)
            if not state.id:
                return "malformed"
            return await self._apply_state(state, produced)
        subscription_id = _invoice_subscription(obj)
        if subscription_id is None:
            return "not_a_subscription_invoice"
        if kind == "invoice.paid":
            return await self._invoice_paid(obj, subscription_id)
        # invoice.payment_failed: what Stripe says of the subscription now (past_due, unpaid...).
        state = await self._billing.retrieve(subscription_id)
        return "payment_failed:" + await self._apply_state(state, int(self._clock.now().timestamp()))

    async def _apply_state(self, state: SubscriptionState, produced_at: int) -> str:
        member = await self._member_for(state.id, state.metadata)
        if member is None:
            return "unknown_subscription"
        mid, doc = member
        applied = await self._store.apply_billing(
            mid,
            subscription_id=state.id,
            status=state.status,
            tier_id=state.metadata.get("tier_id") or doc.get("tier_id") or "",
            tier_version=_int(state.metadata.get("tier_version"), int(doc.get("tier_version", 0))),
            cancel_at_period_end=state.cancel_at_period_end,
            period_end=state.period_end_at(),
            rank=billing_rank(state, produced_at),
        )
        self._cache.pop(mid, None)
        return state.status.value if applied else "stale"

    async def _member_for(self, subscription_id: str, metadata: dict[str, str]) -> tuple[str, dict[str, Any]] | None:
        """The membership a Stripe subscription belongs to, created from the subscription's metadata the first time
        (whichever event comes first); Stripe is asked for the metadata when the event lacks it."""
        doc = await self._store.member_by_subscription(subscription_id)
        if doc is not None:
            return str(doc["_id"]), doc
        if not metadata.get("user_id") or not metadata.get("channel_id"):
            metadata = (await self._billing.retrieve(subscription_id)).metadata
        user_id, channel_id = metadata.get("user_id"), metadata.get("channel_id")
        if not user_id or not channel_id:
            log.warning("stripe subscription %s names no member of ours", subscription_id)
            return None
        mid = member_id(channel_id, user_id)
        tier_version = _int(metadata.get("tier_version"), self._settings.tiers_version)
        await self._store.ensure_member(mid, user_id, channel_id, metadata.get("tier_id") or "", tier_version)
        doc = await self._store.get_member(mid)
        assert doc is not None
        return mid, doc

    async def _invoice_paid(self, invoice: dict[str, Any], subscription_id: str) -> str:
        invoice_id = invoice.get("id")
        if not isinstance(invoice_id, str) or not invoice_id:
            return "malformed"
        member = await self._member_for(subscription_id, _invoice_metadata(invoice))
        if member is None:
            return "unknown_subscription"
        mid, doc = member
        period_end = _invoice_period_end(invoice)
        if period_end is None:
            period_end = (await self._billing.retrieve(subscription_id)).period_end_at()
        if period_end is None:
            return "malformed"
        tier = self._tiers.get(str(doc.get("tier_id")))
        paid = _cents(invoice.get("amount_paid"))
        booked = None
        if tier is not None and paid > 0:  # a free month (a 100 % coupon) books nothing
            booked = await self._book_share(
                invoice_id, subscription_id, doc, tier, paid, str(invoice.get("currency") or "")
            )
        if self._refunds is not None:  # how it was paid, for a refund later (or one that came first)
            await self._refunds.paid(invoice, doc, booked if booked is not None and booked.applied else None)
        if BillingStatus.parse(doc.get("status")) is BillingStatus.INCOMPLETE:
            # The first invoice of an app-confirmed subscription may come before Stripe's "updated" (active): ask
            # Stripe now, so the perks start with the payment rather than with the next event.
            await self._apply_state(await self._billing.retrieve(subscription_id), int(self._clock.now().timestamp()))
        if invoice.get("billing_reason") == "subscription_update":
            return "proration_booked"  # a tier change's prorated difference: money, not another month
        before = await self._store.count_paid_month(mid, invoice_id, period_end)
        self._cache.pop(mid, None)
        if before is None:
            return "already_counted"
        await self._announce_if_new(before, doc, gifted_by=None)
        return "month_counted"

    async def _book_share(
        self, invoice_id: str, subscription_id: str, doc: dict[str, Any], tier: SubTier, paid: int, currency: str
    ) -> Transfer | None:
        """The month's bean value (the tier's, in proportion to what was paid) minted once per invoice: the
        streamer's share held like a gift's beans, the rest the platform's."""
        value = tier.beans * min(paid, tier.price_cents) // tier.price_cents
        if value <= 0:
            return None
        share = value * self._settings.share_bps // 10_000
        refs = {
            "invoice_id": invoice_id,
            "subscription_id": subscription_id,
            "subscriber_id": doc["user_id"],
            "streamer_id": doc["channel_id"],
            "tier_id": tier.id,
            "tier_version": int(doc.get("tier_version", self._settings.tiers_version)),
            "amount_paid_cents": paid,
            "currency": currency,
            "beans": share,
            "platform_beans": value - share,
            "share_bps": self._settings.share_bps,
            "share_version": self._settings.share_version,
        }
        spec = TransferSpec(
            f"sub:{invoice_id}",
            TransferKind.SUBSCRIPTION,
            self._bean_legs(doc["channel_id"], value, share),
            refs=refs,
            hold=self._hold(doc["channel_id"], share, payer=None),
        )
        return await self._wallet.execute(spec)

    def _bean_legs(self, channel_id: str, value: int, share: int) -> tuple[Leg, ...]:
        legs = [Leg(BEANS_ISSUER, Currency.BEANS, -value)]
        if value - share:
            legs.append(Leg(BEANS_PLATFORM_REVENUE, Currency.BEANS, value - share))
        if share:
            legs.append(Leg(user_beans_held(channel_id), Currency.BEANS, share))
        return tuple(legs)

    def _hold(self, channel_id: str, share: int, payer: str | None) -> Hold | None:
        if not share:
            return None
        return Hold(
            user_beans_held(channel_id),
            user_beans(channel_id),
            Currency.BEANS,
            share,
            self._clock.now() + timedelta(seconds=self._bean_hold_s),
            payer=payer,
        )

    async def _announce_if_new(self, before: dict[str, Any], doc: dict[str, Any], *, gifted_by: str | None) -> None:
        """``SubscriberAdded`` when this month began while the member had none running (a first or returning
        subscriber, or a gift), not for a renewal that continues without a gap."""
        was = Membership.from_doc(before)
        now = self._clock.now()
        if was.active(now) and gifted_by is None:
            return
        await self._events.publish(
            SubscriberAdded(
                channel_id=doc["channel_id"],
                user_id=doc["user_id"],
                tier_id=str(doc.get("tier_id") or ""),
                months=was.months + 1,
                at=now,
                gifted_by=gifted_by,
            )
        )

    # Gifted months, paid in coins
    async def gift(
        self,
        buyer_id: str,
        recipient_id: str,
        channel_id: str,
        tier_id: str,
        key: str,
        *,
        drawn: bool = False,
    ) -> dict[str, Any]:
        """One month of ``tier_id`` for ``recipient_id`` in ``channel_id``, paid with ``buyer_id``'s coins once per
        ``key``: a retry returns the first answer and never debits twice; too few coins changes nothing. ``drawn``:
        the recipient was drawn at random for this request, so a retry that drew someone else gets the first
        draw's gift (not ``idempotency_key_reused``)."""
        if not _KEY.match(key):
            raise InvalidInputError("idempotency_key must be 1-64 of A-Z a-z 0-9 _ . : -", field="idempotency_key")
        if recipient_id == channel_id:
            raise SelfSubscriptionError("a channel cannot subscribe to itself")
        if buyer_id == channel_id:
            raise SelfSubscriptionError("you cannot buy subscriptions to your own channel")
        tier = self.tier(tier_id)
        tid = f"subgift:{buyer_id}:{key}"
        value = tier.beans
        share = value * self._settings.share_bps // 10_000
        legs = (
            Leg(user_coins(buyer_id), Currency.COINS, -tier.coins),
            Leg(COINS_GIFT_REVENUE, Currency.COINS, tier.coins),
            *(self._bean_legs(channel_id, value, share) if value else ()),
        )
        attempt = new_id()
        refs = {
            "buyer_id": buyer_id,
            "recipient_id": recipient_id,
            "streamer_id": channel_id,
            "tier_id": tier.id,
            "tier_version": self._settings.tiers_version,
            "drawn": drawn,
            "coins": tier.coins,
            "beans": share,
            "platform_beans": value - share,
            "share_bps": self._settings.share_bps,
            "share_version": self._settings.share_version,
            "_key": key,
            "_attempt": attempt,
        }
        spec = TransferSpec(
            tid, TransferKind.SUB_GIFT, legs, refs=refs, hold=self._hold(channel_id, share, payer=buyer_id)
        )
        transfer = await self._wallet.execute(spec)
        first = transfer.refs.get("_attempt") == attempt
        if not first:
            if drawn and transfer.refs.get("drawn"):
                recipient_id = str(transfer.refs.get("recipient_id"))
            sent = (transfer.refs.get("recipient_id"), transfer.refs.get("streamer_id"), transfer.refs.get("tier_id"))
            if sent != (recipient_id, channel_id, tier.id):
                raise ConflictError("this idempotency key was used for another gift", code="idempotency_key_reused")
        if transfer.state is TransferState.REJECTED:
            if transfer.error == "account_frozen":
                raise AccountFrozenError("your coins are frozen after a refund or chargeback; contact support")
            raise InsufficientFundsError("not enough coins for this subscription gift", transfer_id=transfer.id)
        if transfer.state is TransferState.PENDING:
            raise UnavailableError("this gift is being processed; retry with the same key")
        member = await self._add_gift_month(transfer, channel_id, recipient_id, tier, buyer_id)
        balance = int(transfer.result.get("balances", {}).get(user_coins(buyer_id), 0))
        return {
            "transfer_id": transfer.id,
            "recipient_id": recipient_id,
            "channel_id": channel_id,
            "tier_id": tier.id,
            "coins": tier.coins,
            "balance": balance,
            "membership": member.to_dict(self._clock.now()),
        }

    async def gift_recipient(self, buyer_id: str, key: str) -> str | None:
        """Whom the buyer's gift with ``key`` went to, if it was sent before."""
        transfer = await self._wallet.ledger.get(f"subgift:{buyer_id}:{key}")
        return str(transfer.refs.get("recipient_id")) if transfer is not None else None

    async def _add_gift_month(
        self, transfer: Transfer, channel_id: str, recipient_id: str, tier: SubTier, buyer_id: str
    ) -> Membership:
        mid = member_id(channel_id, recipient_id)
        await self._store.ensure_member(mid, recipient_id, channel_id, tier.id, self._settings.tiers_version)
        for _ in range(50):
            doc = await self._store.get_member(mid)
            assert doc is not None
            if await self._store.gift_counted(mid, transfer.id):
                break
            before = Membership.from_doc(doc)
            now = self._clock.now()
            start = max(now, before.gift_until or now)
            until = start + timedelta(days=self._settings.gift_days)
            if await self._store.add_gift_month(mid, transfer.id, rev=int(doc.get("gift_rev", 0)), gift_until=until):
                self._cache.pop(mid, None)
                await self._announce_if_new(doc, doc, gifted_by=buyer_id)
                break
            await asyncio.sleep(0.005)
        else:
            raise UnavailableError("could not record the gifted month: too much contention; retry with the same key")
        member = await self.membership(channel_id, recipient_id)
        assert member is not None
        return member


def tier_dict(tier: SubTier) -> dict[str, Any]:
    return {
        "id": tier.id,
        "name": tier.name,
        "price_cents": tier.price_cents,
        "currency": tier.currency,
        "coins": tier.coins,
    }


def _invoice_subscription(invoice: dict[str, Any]) -> str | None:
    """The subscription an invoice bills: ``parent.subscription_details.subscription`` (API 2025-03-31 and later) or
    ``subscription`` (older versions)."""
    parent = invoice.get("parent")
    if isinstance(parent, dict):
        details = parent.get("subscription_details")
        if isinstance(details, dict):
            sub = details.get("subscription")
            if isinstance(sub, str) and sub:
                return sub
            if isinstance(sub, dict) and isinstance(sub.get("id"), str):
                return str(sub["id"])
    sub = invoice.get("subscription")
    if isinstance(sub, str) and sub:
        return sub
    return None


def _invoice_metadata(invoice: dict[str, Any]) -> dict[str, str]:
    parent = invoice.get("parent")
    details = parent.get("subscription_details") if isinstance(parent, dict) else None
    metadata = details.get("metadata") if isinstance(details, dict) else None
    if not isinstance(metadata, dict):
        legacy = invoice.get("subscription_details")
        metadata = legacy.get("metadata") if isinstance(legacy, dict) else None
    return {str(k): str(v) for k, v in (metadata or {}).items()}


def _invoice_period_end(invoice: dict[str, Any]) -> datetime | None:
    """The end of the service period the invoice paid for: the latest line's period end."""
    lines = invoice.get("lines")
    data = lines.get("data") if isinstance(lines, dict) else None
    ends = [
        line["period"]["end"]
        for line in data or []
        if isinstance(line, dict)
        and isinstance(line.get("period"), dict)
        and isinstance(line["period"].get("end"), int)
        and line["period"]["end"] > 0
    ]
    if not ends:
        return None
    return datetime.fromtimestamp(max(ends), UTC)


def _cents(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**12 else 0


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default
