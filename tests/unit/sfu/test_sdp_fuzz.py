"""The SDP parser over offers shaped like Chromium's, Firefox's, Safari's and OBS's, with lines dropped,
duplicated, swapped, cut and mutated: it accepts or refuses with ``invalid_sdp`` (a 400), and never raises
anything else (which the HTTP edge would turn into a 500)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

from sfu.errors import InvalidSdpError, SdpTooLargeError
from sfu.sdp import announce, parse_offer
from tests.support.sdp_offers import OFFERS, mutated_offers, offer


@pytest.mark.parametrize("name", sorted(OFFERS))
def test_the_real_offers_are_accepted_as_they_are(name: str) -> None:
    publisher = parse_offer(offer(name, "sendonly"), max_bytes=64 * 1024, publishing=True)
    viewer = parse_offer(offer(name, "recvonly"), max_bytes=64 * 1024, publishing=False)
    assert publisher.video and publisher.audio and viewer.video and viewer.audio


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_offers())
def test_a_mutated_offer_is_accepted_or_refused_as_invalid_sdp(sdp: str) -> None:
    for publishing in (True, False):
        try:
            summary = parse_offer(sdp, max_bytes=64 * 1024, publishing=publishing)
        except (InvalidSdpError, SdpTooLargeError) as exc:
            assert 400 <= exc.status < 500
        else:
            assert summary.video and "video" in summary.kinds
    rewritten = announce(sdp, {"127.0.0.1": "203.0.113.7", "0.0.0.0": "203.0.113.8"})
    assert isinstance(rewritten, str)
