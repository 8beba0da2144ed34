"""Internal node-to-node requests are signed with the cluster secret; anything else is refused."""

from __future__ import annotations

import pytest

from cluster.errors import BadSignatureError
from cluster.signing import RequestSigner

SECRET = "s" * 32


def test_a_signed_request_verifies_and_names_its_node() -> None:
    signer = RequestSigner(SECRET, "node-1")
    header = signer.sign("POST", "/internal/v1/streams/abc/pipe", b"{}", now=1000)
    assert RequestSigner(SECRET, "node-2").verify(header, "POST", "/internal/v1/streams/abc/pipe", b"{}", now=1001) == (
        "node-1"
    )


@pytest.mark.parametrize(
    ("method", "path", "body", "now"),
    [
        ("GET", "/internal/v1/streams/abc/pipe", b"{}", 1000),  # another method
        ("POST", "/internal/v1/streams/xyz/pipe", b"{}", 1000),  # another stream
        ("POST", "/internal/v1/streams/abc/pipe", b'{"a":1}', 1000),  # another body
        ("POST", "/internal/v1/streams/abc/pipe", b"{}", 1031),  # too late
        ("POST", "/internal/v1/streams/abc/pipe", b"{}", 969),  # from the future
    ],
)
def test_a_signature_for_something_else_or_out_of_time_is_refused(
    method: str, path: str, body: bytes, now: float
) -> None:
    header = RequestSigner(SECRET, "node-1").sign("POST", "/internal/v1/streams/abc/pipe", b"{}", now=1000)
    with pytest.raises(BadSignatureError):
        RequestSigner(SECRET, "node-2").verify(header, method, path, body, now=now)


def test_another_secret_missing_or_garbled_headers_are_refused() -> None:
    header = RequestSigner("o" * 32, "node-1").sign("POST", "/p", now=1000)
    verifier = RequestSigner(SECRET, "node-2")
    for bad in (header, None, "", "garbage", "t=abc;n=node-1;s=00", header.replace("n=node-1", "n=node-9")):
        with pytest.raises(BadSignatureError):
            verifier.verify(bad, "POST", "/p", now=1000)


def test_a_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        RequestSigner("short", "node-1")
