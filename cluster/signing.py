"""Node-to-node trust: internal HTTP requests carry an HMAC-SHA256 of what they ask, keyed by the cluster secret.

Header ``X-Hub-Cluster: t=<unix s>;n=<node id>;s=<hex>`` where the MAC covers the method, the path (with query),
the timestamp, the caller's node id and the SHA-256 of the body. A request is accepted within ``max_skew_s`` of its
timestamp; replaying one inside that window can only repeat an idempotent ask (a pipe offer nobody else can use:
its keys derive from the same secret). Compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import time

from cluster.errors import BadSignatureError

HEADER = "X-Hub-Cluster"


class RequestSigner:
    def __init__(self, secret: str, node_id: str, *, max_skew_s: float = 30.0) -> None:
        if len(secret.encode()) < 16:
            raise ValueError("the cluster secret must be at least 16 bytes")
        self._key = hashlib.sha256(b"hub-cluster-http\x00" + secret.encode()).digest()
        self.node_id = node_id
        self.max_skew_s = max_skew_s

    def _mac(self, method: str, path: str, timestamp: int, node_id: str, body: bytes) -> str:
        message = "\n".join([method.upper(), path, str(timestamp), node_id, hashlib.sha256(body).hexdigest()])
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def sign(self, method: str, path: str, body: bytes = b"", *, now: float | None = None) -> str:
        timestamp = int(now if now is not None else time.time())
        return f"t={timestamp};n={self.node_id};s={self._mac(method, path, timestamp, self.node_id, body)}"

    def verify(self, header: str | None, method: str, path: str, body: bytes = b"", *, now: float | None = None) -> str:
        """The calling node's id, or :class:`BadSignatureError`."""
        if not header:
            raise BadSignatureError("internal cluster requests must be signed")
        try:
            parts = dict(part.split("=", 1) for part in header.split(";"))
            timestamp, node_id, mac = int(parts["t"]), parts["n"], parts["s"]
        except (ValueError, KeyError):
            raise BadSignatureError("malformed cluster signature") from None
        current = now if now is not None else time.time()
        if abs(current - timestamp) > self.max_skew_s:
            raise BadSignatureError("the cluster signature has expired")
        if not node_id or not hmac.compare_digest(mac, self._mac(method, path, timestamp, node_id, body)):
            raise BadSignatureError("bad cluster signature")
        return node_id
