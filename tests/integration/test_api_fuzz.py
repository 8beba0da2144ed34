"""Schema fuzzing: schemathesis generates requests from our OpenAPI description (valid and invalid ones)
and sends them to a real hub over HTTP. No request may produce a 5xx."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from mobile_api.app import PREFIX, build_api
from mobile_api.openapi import build_openapi
from tests.conftest import make_settings
from tests.support.threaded import hub_in_thread


@schemathesis.serializer("application/sdp", "application/trickle-ice-sdpfrag")
def _sdp_body(ctx: object, value: object) -> bytes:
    """WHIP/WHEP take SDP text (offers, and trickle ICE fragments on PATCH): send generated strings as they are
    (anything else as its JSON text)."""
    return value.encode() if isinstance(value, str) else json.dumps(value).encode()


schema = schemathesis.openapi.from_dict(build_openapi(build_api(), PREFIX))
# Valid requests and invalid ones (wrong types, missing fields, out-of-range values).
schema.config.generation.update(modes=list(schemathesis.GenerationMode), database="none")


@pytest.fixture(scope="module")
def live_hub() -> Iterator[tuple[str, dict[str, str]]]:
    with hub_in_thread(make_settings("fuzz_" + secrets.token_hex(4))) as url:
        r = httpx.post(
            url + "/api/v1/auth/register",
            json={"email": "fuzz@example.com", "password": "fuzzing pass", "nickname": "Fuzzer"},
        )
        r.raise_for_status()
        token = r.json()["access_token"]
        yield url, {"Authorization": f"Bearer {token}"}


@pytest.mark.slow
@schema.exclude(operation_id="logout").parametrize()
@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_makes_the_server_fail(case: schemathesis.Case, live_hub: tuple[str, dict[str, str]]) -> None:
    url, headers = live_hub
    response = case.call(base_url=url, headers=headers, timeout=10)
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text}"
    if response.status_code >= 400:
        content_type = response.headers.get("content-type") or response.headers.get("Content-Type") or [""]
        assert content_type[0].startswith("application/problem+json"), response.text
