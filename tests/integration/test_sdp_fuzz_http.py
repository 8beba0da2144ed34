"""Mutated offers (Chromium, Firefox, Safari, OBS; lines dropped, duplicated, swapped, cut, mutated) over real WHIP
and WHEP against a running hub: every answer is a 201 or a 4xx problem, never a 5xx, and no session is left behind
(the SFU's session gauges return to zero once the accepted ones are deleted)."""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from tests.conftest import make_settings
from tests.support.sdp_offers import mutated_offers, offer
from tests.support.threaded import hub_in_thread

pytestmark = pytest.mark.slow

SDP = "application/sdp"
FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


class Hub:
    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=20)
        r = self.http.post(
            "/api/v1/auth/register",
            json={"email": f"fuzz-{secrets.token_hex(4)}@example.com", "password": "correct horse", "nickname": "Fuzz"},
        )
        assert r.status_code == 201, r.text
        self.token = r.json()["access_token"]
        self.stream: dict[str, Any] = {}
        self.new_stream()

    def new_stream(self) -> None:
        r = self.http.post("/api/v1/streams", json={"title": "fuzz"}, headers={"Authorization": f"Bearer {self.token}"})
        assert r.status_code == 201, r.text
        self.stream = r.json()

    def whip(self, sdp: str) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.stream['stream_key']}", "Content-Type": SDP}
        return self.http.post(
            f"/api/v1/whip/{self.stream['id']}", content=sdp.encode("utf-8", "replace"), headers=headers
        )

    def whep(self, sdp: str) -> httpx.Response:
        return self.http.post(
            f"/api/v1/whep/{self.stream['id']}", content=sdp.encode("utf-8", "replace"), headers={"Content-Type": SDP}
        )

    def sessions(self) -> tuple[float, float]:
        text = self.http.get("/metrics").text
        publishers = re.search(r"^hub_sfu_publishers (\S+)$", text, re.M)
        viewers = re.search(r"^hub_sfu_viewers (\S+)$", text, re.M)
        assert publishers and viewers
        return float(publishers.group(1)), float(viewers.group(1))

    def settle(self, publishers: float | None, viewers: float, timeout: float = 5) -> None:
        """Wait until the gauges show this many sessions (``publishers=None``: any number of publishers)."""

        def settled() -> bool:
            now = self.sessions()
            return (publishers is None or now[0] == publishers) and now[1] == viewers

        deadline = time.monotonic() + timeout
        while not settled() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert settled(), f"a session was left behind: {self.sessions()}"


@pytest.fixture(scope="module")
def running() -> Iterator[Hub]:
    with hub_in_thread(make_settings("hubtest_fuzz_" + secrets.token_hex(4))) as base:
        yield Hub(base)


def _check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.text[:300])
    if r.status_code != 201:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text[:200]
        assert 400 <= r.json()["status"] < 500


@FUZZ
@given(sdp=mutated_offers(("sendonly", "sendrecv", "recvonly")))
def test_whip_answers_a_mutated_offer_with_201_or_4xx_and_leaves_no_session(running: Hub, sdp: str) -> None:
    r = running.whip(sdp)
    _check(r)
    if r.status_code == 201:
        assert running.http.delete(r.headers["location"]).status_code == 200
        running.new_stream()  # deleting the publisher ended that stream
    running.settle(0, 0)


@FUZZ
@given(sdp=mutated_offers(("recvonly", "sendrecv", "sendonly")))
def test_whep_answers_a_mutated_offer_with_201_or_4xx_and_leaves_no_session(running: Hub, sdp: str) -> None:
    if running.sessions()[0] == 0:
        # A publisher that never completes ICE (nobody answers its candidates) keeps the stream live for a while:
        # long enough for WHEP offers to reach negotiation. Replaced whenever it has gone.
        running.new_stream()
        published = running.whip(offer("chromium", "sendonly"))
        assert published.status_code == 201, published.text
    r = running.whep(sdp)
    _check(r)
    if r.status_code == 201:
        assert running.http.delete(r.headers["location"]).status_code == 200
    # the publisher never completes ICE and may time out meanwhile: only the viewers are counted here
    running.settle(None, 0)
