"""Trickle ICE SDP fragments (RFC 8840) as the WHIP/WHEP clients in the wild write them."""

from __future__ import annotations

import pytest

from sfu.errors import InvalidSdpError, SdpTooLargeError
from sfu.trickle import MAX_FRAGMENT_CANDIDATES, parse_fragment

HOST = "candidate:1 1 udp 2122260223 192.0.2.10 50000 typ host generation 0"
SRFLX = "candidate:2 1 udp 1686052607 198.51.100.7 40000 typ srflx raddr 192.0.2.10 rport 50000"


def test_a_medooze_style_fragment_gives_credentials_mid_candidates_and_end() -> None:
    text = (
        "a=ice-ufrag:abcd\r\na=ice-pwd:secretsecret\r\nm=video 9 UDP/TLS/RTP/SAVPF 0\r\na=mid:0\r\n"
        f"a={HOST}\r\na={SRFLX}\r\na=end-of-candidates\r\n"
    )
    fragment = parse_fragment(text)
    assert (fragment.ufrag, fragment.pwd) == ("abcd", "secretsecret")
    [media] = fragment.media
    assert media.mid == "0" and media.end_of_candidates
    assert [(c.ip, c.port, c.type) for c in media.candidates] == [
        ("192.0.2.10", 50000, "host"),
        ("198.51.100.7", 40000, "srflx"),
    ]
    assert media.candidates[1].relatedAddress == "192.0.2.10"


def test_an_eyevinn_style_fragment_repeats_the_candidate_for_every_mid() -> None:
    bad_component = HOST.replace(" 1 udp", " 0 udp")  # whip-web-client 1.1.x writes component 0 for RTP
    text = (
        "a=ice-ufrag:abcd\r\na=ice-pwd:pw\r\n"
        f"m=audio 9 RTP/AVP 0\r\na=mid:0\r\na={bad_component}\r\n"
        f"m=audio 9 RTP/AVP 0\r\na=mid:1\r\na={bad_component}\r\n"
    )
    fragment = parse_fragment(text)
    assert [m.mid for m in fragment.media] == ["0", "1"]
    assert fragment.candidate_count == 2


def test_candidates_without_an_m_line_belong_to_the_first_section() -> None:
    fragment = parse_fragment(f"a={HOST}\na=end-of-candidates\n")
    assert fragment.ufrag is None and len(fragment.media) == 1
    assert fragment.media[0].mid is None and fragment.media[0].end_of_candidates


@pytest.mark.parametrize(
    "text",
    [
        "garbage",
        "a=candidate:1 1 udp 1 192.0.2.1 5000 type host",
        "a=candidate:1 1 udp notanumber 192.0.2.1 5000 typ host",
        "a=candidate:1 1 udp 1 192.0.2.1 70000 typ host",
        "a=candidate:1 1 sctp 1 192.0.2.1 5000 typ host",
        "a=ice-ufrag:one\na=ice-ufrag:two",
        "a=ice-pwd:has space",
        "a=mid:",
    ],
)
def test_malformed_fragments_are_invalid_sdp(text: str) -> None:
    with pytest.raises(InvalidSdpError):
        parse_fragment(text)


def test_fragments_are_bounded_in_size_and_candidates() -> None:
    with pytest.raises(SdpTooLargeError):
        parse_fragment("a=ice-ufrag:x\n" * 2000)
    many = "".join(
        f"a=candidate:{i} 1 udp 1 192.0.2.1 {5000 + i} typ host\n" for i in range(MAX_FRAGMENT_CANDIDATES + 1)
    )
    with pytest.raises(InvalidSdpError):
        parse_fragment(many)
