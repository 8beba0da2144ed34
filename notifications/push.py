"""Web Push: VAPID keys (RFC 8292), subscription checks, and delivery through ``pywebpush`` (RFC 8030 requests
with RFC 8291 ``aes128gcm`` payloads) on one shared aiohttp session.

A push service answering 404 or 410 says the subscription is gone for good (RFC 8030 section 7.3): the caller
deletes it. 429 and 5xx are transient: counted, not retried here (the notification is in the user's centre
anyway)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hashlib
import ipaddress
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from pywebpush import WebPushException, webpush_async

from core.errors import InvalidInputError

log = logging.getLogger(__name__)

ENDPOINT_MAX = 2048
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def generate_vapid_private_key() -> str:
    """A fresh P-256 private key as base64url of its raw 32-byte scalar (what ``HUB_VAPID_PRIVATE_KEY`` holds)."""
    key = ec.generate_private_key(ec.SECP256R1())
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def vapid_key_problem(private_key: str) -> str | None:
    """Why ``private_key`` is not a usable VAPID key, or None. A key is the raw P-256 scalar (32 bytes,
    base64url), in 1..n-1, and not a trivially small or patterned number."""
    try:
        raw = b64url_decode(private_key.strip())
    except (binascii.Error, ValueError):
        return "is not base64url"
    if len(raw) != 32:
        return f"is {len(raw)} bytes; a VAPID key is the raw 32-byte P-256 private key (base64url)"
    value = int.from_bytes(raw, "big")
    order = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
    if not 0 < value < order:
        return "is not a P-256 private key (out of range)"
    if value < 2**128 or len(set(raw)) < 16:
        return "is too predictable (a small or repetitive number); generate one with `hub vapid-key`"
    return None


def vapid_public_key(private_key: str) -> str:
    """The applicationServerKey browsers subscribe with: the uncompressed P-256 point, base64url."""
    value = int.from_bytes(b64url_decode(private_key), "big")
    public = ec.derive_private_key(value, ec.SECP256R1()).public_key()
    return b64url(public.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint))


@dataclass(frozen=True, slots=True)
class CheckedSubscription:
    id: str  # sha256 of the endpoint: one subscription per endpoint
    endpoint: str
    p256dh: str
    auth: str


def check_subscription(
    endpoint: str, p256dh: str, auth: str, *, hosts: tuple[str, ...], allow_loopback: bool
) -> CheckedSubscription:
    """A browser's subscription, if it is one we may and can push to; else ``invalid_input`` naming the field.

    The server POSTs to the endpoint, so it must be https on a known push service's host (or, with
    ``allow_loopback``, a local http one for tests); the keys must be a P-256 point and a 16-byte secret."""
    if len(endpoint) > ENDPOINT_MAX:
        raise InvalidInputError(f"the endpoint is longer than {ENDPOINT_MAX} characters", field="endpoint")
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if parts.username or parts.password or not host:
        raise InvalidInputError("the endpoint is not a push service URL", field="endpoint")
    loopback = host in LOOPBACK_HOSTS or _is_loopback_ip(host)
    if allow_loopback and loopback and parts.scheme in ("http", "https"):
        pass
    elif parts.scheme != "https":
        raise InvalidInputError("the endpoint must be https", field="endpoint")
    elif not any(host == h or host.endswith("." + h) for h in hosts):
        raise InvalidInputError("the endpoint is not on a known push service", field="endpoint")
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except (binascii.Error, ValueError):
        raise InvalidInputError("keys.p256dh is not a P-256 public key (base64url)", field="keys.p256dh") from None
    if len(point) != 65:
        raise InvalidInputError("keys.p256dh must be the uncompressed point (65 bytes)", field="keys.p256dh")
    try:
        secret = b64url_decode(auth)
    except (binascii.Error, ValueError):
        secret = b""
    if len(secret) != 16:
        raise InvalidInputError("keys.auth must be 16 bytes, base64url", field="keys.auth")
    sub_id = hashlib.sha256(endpoint.encode()).hexdigest()
    return CheckedSubscription(sub_id, endpoint, b64url(point), b64url(secret))


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class PushOutcome(enum.Enum):
    SENT = "sent"
    GONE = "gone"  # 404/410: delete the subscription
    FAILED = "failed"  # anything else: counted


def topic_for(notification_id: str) -> str:
    """RFC 8030 ``Topic`` (at most 32 base64url characters): a push service replaces an undelivered message of the
    same topic, so a fan-out step repeated after a crash does not show the notification twice."""
    return b64url(hashlib.sha256(notification_id.encode()).digest())[:32]


class WebPushSender:
    def __init__(self, private_key: str, subject: str, *, ttl_s: int, timeout_s: float, concurrency: int) -> None:
        self._vapid = Vapid.from_raw(private_key.encode())
        self.public_key = vapid_public_key(private_key)
        self._subject = subject
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._limit = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout_s))
        return self._session

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def send(self, subscription: dict[str, Any], payload: dict[str, Any], topic: str) -> PushOutcome:
        """POST one encrypted message (at most ``concurrency`` at once)."""
        async with self._limit:
            try:
                response = await webpush_async(
                    subscription,
                    json.dumps(payload, separators=(",", ":")),
                    vapid_private_key=self._vapid,
                    vapid_claims={"sub": self._subject},  # pywebpush adds aud and exp to the dict it is given
                    ttl=self._ttl_s,
                    headers={"Topic": topic, "Urgency": "normal"},
                    aiohttp_session=self._client(),
                    timeout=self._timeout_s,
                )
            except WebPushException as exc:
                status = getattr(exc.response, "status", None)
                if status in (404, 410):
                    return PushOutcome.GONE
                log.info("push refused (%s)", status)
                return PushOutcome.FAILED
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                log.info("push failed (%s)", type(exc).__name__)
                return PushOutcome.FAILED
            release = getattr(response, "release", None)
            if release is not None:
                release()
            return PushOutcome.SENT
