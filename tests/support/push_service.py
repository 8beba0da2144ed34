"""A push service of our own on 127.0.0.1, for Web Push tests (no real push service is reachable here).

It does what a browser vendor's push service and the browser together do with a message (RFC 8030/8291/8292):
checks the VAPID ``Authorization: vapid t=<JWT>, k=<public key>`` header — an ES256 signature by ``k``, ``aud``
the endpoint's origin, ``exp`` in the future and at most 24 h ahead, a ``mailto:``/``https:`` ``sub`` — then
decrypts the ``aes128gcm`` body with the subscriber's private key and auth secret (``http_ece``), and records the
plaintext. An endpoint can be told to answer 410 Gone (an expired subscription)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import http_ece  # type: ignore[import-untyped]
import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.servers import serve_asgi


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Subscriber:
    """A browser's side of one subscription: its endpoint, its ECDH key pair and auth secret."""

    endpoint: str
    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @property
    def keys(self) -> dict[str, str]:
        point = self.private_key.public_key().public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        return {"p256dh": b64url(point), "auth": b64url(self.auth)}

    def json(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives a page."""
        return {"endpoint": self.endpoint, "expirationTime": None, "keys": self.keys}


@dataclass
class Received:
    token: str
    payload: dict[str, Any]
    headers: dict[str, str]
    claims: dict[str, Any]
    vapid_key: str


@dataclass
class PushService:
    url: str
    subscribers: dict[str, Subscriber] = field(default_factory=dict)
    gone: set[str] = field(default_factory=set)
    received: list[Received] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)  # (token, why)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    def subscribe(self) -> Subscriber:
        token = secrets.token_urlsafe(12)
        sub = Subscriber(f"{self.url}/push/{token}", ec.generate_private_key(ec.SECP256R1()), secrets.token_bytes(16))
        self.subscribers[token] = sub
        return sub

    def expire(self, sub: Subscriber) -> None:
        self.gone.add(sub.endpoint.rsplit("/", 1)[1])

    def for_endpoint(self, sub: Subscriber) -> list[Received]:
        token = sub.endpoint.rsplit("/", 1)[1]
        return [r for r in self.received if r.token == token]

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.received) >= count), timeout)
        return list(self.received)

    async def handle(self, request: Request) -> Response:
        token = request.path_params["token"]
        sub = self.subscribers.get(token)
        if sub is None or token in self.gone:
            return Response(status_code=410)
        body = await request.body()
        try:
            claims, key = self._check_vapid(request)
            if request.headers.get("content-encoding") != "aes128gcm":
                raise ValueError("Content-Encoding is not aes128gcm")
            if "ttl" not in request.headers:
                raise ValueError("no TTL header (RFC 8030 section 5.2)")
            plain = http_ece.decrypt(body, private_key=sub.private_key, auth_secret=sub.auth, version="aes128gcm")
            payload = json.loads(plain)
        except Exception as exc:
            self.refused.append((token, str(exc)))
            return Response(str(exc), status_code=400)
        async with self.arrived:
            self.received.append(Received(token, payload, dict(request.headers), claims, key))
            self.arrived.notify_all()
        return Response(status_code=201, headers={"Location": f"{self.url}/message/{secrets.token_hex(4)}"})

    def _check_vapid(self, request: Request) -> tuple[dict[str, Any], str]:
        scheme, _, params = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError("no vapid Authorization header (RFC 8292 section 3)")
        parts = dict(p.strip().split("=", 1) for p in params.split(","))
        token, key = parts["t"], parts["k"]
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(key))
        origin = "{0.scheme}://{0.netloc}".format(urlsplit(self.url))
        claims: dict[str, Any] = jwt.decode(token, key=public, algorithms=["ES256"], audience=origin)
        if not claims["exp"] <= time.time() + 24 * 3600:
            raise ValueError("exp more than 24 hours ahead (RFC 8292 section 2)")
        if not str(claims.get("sub", "")).startswith(("mailto:", "https:")):
            raise ValueError("sub is not a mailto: or https: URL")
        return claims, key


@contextlib.asynccontextmanager
async def push_service() -> AsyncIterator[PushService]:
    holder: list[PushService] = []

    async def handle(request: Request) -> Response:
        return await holder[0].handle(request)

    app = Starlette(routes=[Route("/push/{token}", handle, methods=["POST"])])
    async with serve_asgi(app) as url:
        holder.append(PushService(url))
        yield holder[0]
