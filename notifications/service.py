"""What a signed-in user does with notifications: the notification centre (list, unread count, mark read),
muting a streamer's go-live notifications, and registering Web Push subscriptions. Who may is ``app.policy``'s
business; every method here acts for the user id it is given."""

from __future__ import annotations

import hashlib
from typing import Any

from accounts.service import AccountService
from core.clock import Clock, as_utc
from core.errors import InvalidInputError
from core.ids import UserId
from core.pagination import Page, clamp_limit, decode_time_cursor, encode_cursor
from notifications.errors import PushUnavailableError
from notifications.models import Notification
from notifications.push import check_subscription, vapid_public_key
from notifications.settings import NotificationsSettings
from notifications.store import NotificationStore

READ_IDS_MAX = 100
MUTES_MAX = 1000


class NotificationService:
    def __init__(
        self, store: NotificationStore, accounts: AccountService, clock: Clock, settings: NotificationsSettings
    ) -> None:
        self._store = store
        self._accounts = accounts
        self._clock = clock
        self._settings = settings
        self._public_key = vapid_public_key(settings.vapid_private_key) if settings.vapid_private_key else None

    async def page(self, user_id: UserId, *, cursor: str | None, limit: int | None) -> Page:
        n = clamp_limit(limit)
        after = decode_time_cursor(cursor) if cursor else None
        docs = await self._store.page_notifications(user_id, after, n + 1)
        items = [Notification.from_doc(d).to_dict() for d in docs[:n]]
        next_cursor = None
        if len(docs) > n:
            last = docs[n - 1]
            next_cursor = encode_cursor([as_utc(last["at"]).isoformat(), last["_id"]])
        return Page(items, next_cursor)

    async def unread(self, user_id: UserId) -> int:
        return await self._store.count_unread(user_id)

    async def mark_read(self, user_id: UserId, ids: list[str] | None) -> int:
        """Mark ``ids`` (every notification when None) read; returns how many were unread."""
        if ids is not None and len(ids) > READ_IDS_MAX:
            raise InvalidInputError(f"at most {READ_IDS_MAX} ids at once", field="ids")
        return await self._store.mark_read(user_id, ids)

    async def mute(self, user_id: UserId, streamer_id: UserId) -> None:
        if streamer_id == user_id:
            raise InvalidInputError("you cannot mute yourself", field="user_id")
        await self._accounts.get_user(streamer_id)  # an unknown user is an error, not a silent row
        if len(await self._store.muted_by(user_id, MUTES_MAX)) >= MUTES_MAX:
            raise InvalidInputError(f"at most {MUTES_MAX} muted streamers")
        await self._store.mute(user_id, streamer_id, self._clock.now())

    async def unmute(self, user_id: UserId, streamer_id: UserId) -> None:
        await self._store.unmute(user_id, streamer_id)

    async def mutes(self, user_id: UserId) -> list[str]:
        return await self._store.muted_by(user_id, MUTES_MAX)

    # Web Push
    @property
    def push_key(self) -> str:
        """The VAPID public key browsers subscribe with (``applicationServerKey``)."""
        if self._public_key is None:
            raise PushUnavailableError("this hub does not send Web Push notifications")
        return self._public_key

    async def subscribe(self, user_id: UserId, endpoint: str, p256dh: str, auth: str) -> dict[str, Any]:
        """Register (or refresh) a browser's push subscription for ``user_id``. The oldest of the account's
        subscriptions goes when it has ``max_subscriptions`` already."""
        _ = self.push_key
        checked = check_subscription(
            endpoint,
            p256dh,
            auth,
            hosts=self._settings.push_service_hosts,
            allow_loopback=self._settings.push_allow_loopback,
        )
        mine = await self._store.subscription_ids(user_id)
        if checked.id not in mine:
            for old in mine[: max(0, len(mine) - self._settings.max_subscriptions + 1)]:
                await self._store.delete_subscription(old, user_id)
        await self._store.put_subscription(
            {
                "_id": checked.id,
                "user_id": user_id,
                "endpoint": checked.endpoint,
                "p256dh": checked.p256dh,
                "auth": checked.auth,
                "created_at": self._clock.now(),
            }
        )
        return {"id": checked.id}

    async def unsubscribe(self, user_id: UserId, endpoint: str) -> bool:
        return await self._store.delete_subscription(hashlib.sha256(endpoint.encode()).hexdigest(), user_id)
