"""The notifications package's settings: plain values, each default written here once (``hub.settings`` reads
``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass

#: Hosts of the browsers' push services (a subscription's endpoint must be on one of them, or a subdomain): the
#: server POSTs to whatever endpoint a user registers, so an open list would let anyone aim it at any host.
PUSH_SERVICE_HOSTS = (
    "fcm.googleapis.com",  # Chrome, Edge on Android, Opera
    "push.services.mozilla.com",  # Firefox (updates.push.services.mozilla.com)
    "notify.windows.com",  # Edge on Windows (*.notify.windows.com)
    "push.apple.com",  # Safari (web.push.apple.com)
)


@dataclass(frozen=True, slots=True)
class NotificationsSettings:
    #: VAPID (RFC 8292) private key: the raw 32-byte P-256 scalar, base64url. Empty: Web Push is off (dev mode
    #: generates one per run; production refuses to start without one).
    vapid_private_key: str = ""
    #: The VAPID ``sub`` claim: a ``mailto:`` or ``https:`` contact for the push services' operators.
    vapid_subject: str = "mailto:ops@example.invalid"
    #: Followers read, notified and pushed per step of a go-live fan-out (one cursor write per step).
    batch_size: int = 1000
    #: A node that claimed a fan-out job holds it this long without progress before another node may take it over.
    lease_s: float = 30.0
    #: How often a node looks for fan-out jobs nobody holds (a crashed node's), besides being woken at go-live.
    poll_s: float = 2.0
    #: Web Push requests in flight at once per node.
    push_concurrency: int = 32
    #: How long a push service keeps an undelivered notification (RFC 8030 ``TTL``), seconds.
    push_ttl_s: int = 3600
    push_timeout_s: float = 10.0
    #: Push subscriptions per account (browsers and devices).
    max_subscriptions: int = 10
    push_service_hosts: tuple[str, ...] = PUSH_SERVICE_HOSTS
    #: Tests only: also accept ``http://127.0.0.1`` / ``http://localhost`` endpoints (a local push service).
    push_allow_loopback: bool = False
    #: Notifications are kept this many days.
    retention_days: int = 30

    def __post_init__(self) -> None:
        if self.batch_size < 1 or self.push_concurrency < 1 or self.max_subscriptions < 1:
            raise ValueError("batch size, push concurrency and subscriptions per account must be at least 1")
        if not 0 < self.poll_s < self.lease_s:
            raise ValueError("the poll interval must be above 0 and below the lease")
        if not self.vapid_subject.startswith(("mailto:", "https://")):
            raise ValueError("the VAPID subject must be a mailto: or https: URL (RFC 8292 section 2.1)")


DEFAULTS = NotificationsSettings()
