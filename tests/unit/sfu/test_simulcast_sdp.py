"""Reading a publisher's rid/simulcast lines and answering them (RFC 8851, RFC 8852, RFC 8853)."""

from __future__ import annotations

import pytest
from aiortc import sdp as aiortc_sdp

from sfu.errors import InvalidSdpError, InvalidSimulcastError
from sfu.simulcast import (
    MAX_LAYERS,
    URI_REPAIRED_RTP_STREAM_ID,
    URI_RTP_STREAM_ID,
    answer_simulcast,
    parse_rid,
    parse_simulcast,
    read_simulcast,
)
from tests.support.sdp_offers import chromium_simulcast, offer


def test_chromiums_three_layer_offer_is_read_in_its_order_with_the_rid_extension_ids() -> None:
    found = read_simulcast(chromium_simulcast())
    assert list(found) == ["1"]  # the video section's mid
    layers = found["1"]
    assert layers.rids == ("l", "m", "h")
    assert layers.paused == frozenset()
    # RFC 8852 section 4: the ids the offer gave the RtpStreamId and RepairedRtpStreamId extensions
    assert (layers.rid_extension_id, layers.repaired_extension_id) == (10, 11)


def test_an_offer_without_simulcast_has_no_layers_even_with_rid_lines() -> None:
    # RFC 8851 section 4: a=rid alone restricts the one stream; it is not simulcast.
    assert read_simulcast(offer("chromium", "sendonly")) == {}
    single = chromium_simulcast(("only",)).replace("a=simulcast:send only\r\n", "")
    assert read_simulcast(single) == {}


def test_one_layer_is_accepted_as_simulcast_of_one() -> None:
    assert read_simulcast(chromium_simulcast(("solo",)))["1"].rids == ("solo",)


def test_rid_lines_follow_rfc_8851_grammar() -> None:
    rid = parse_rid("h send pt=96,97;max-width=1280;max-height=720")
    assert (rid.rid, rid.direction, rid.payload_types) == ("h", "send", (96, 97))
    assert rid.restrictions == (("max-width", "1280"), ("max-height", "720"))
    assert parse_rid("q_1-x recv").rid == "q_1-x"


@pytest.mark.parametrize(
    "value",
    ["h", "h sideways", "h! send", "h send pt=x", "h send pt=200", "h send max-width", "", " send", "a" * 17 + " send"],
)
def test_malformed_rid_lines_are_refused(value: str) -> None:
    with pytest.raises(InvalidSimulcastError) as error:
        parse_rid(value)
    assert error.value.status == 400 and error.value.code == "invalid_simulcast"


def test_simulcast_lines_follow_rfc_8853_grammar_with_alternatives_and_paused_streams() -> None:
    parsed = parse_simulcast("send 1,~4;2;3 recv c")
    assert parsed["send"] == ((("1", False), ("4", True)), (("2", False),), (("3", False),))
    assert parsed["recv"] == ((("c", False),),)


@pytest.mark.parametrize("value", ["send", "send a b", "sideways a", "send a send b", "send a;;b", "send ~", "send a,"])
def test_malformed_simulcast_lines_are_refused(value: str) -> None:
    with pytest.raises(InvalidSimulcastError):
        parse_simulcast(value)


@pytest.mark.parametrize(
    ("rids", "simulcast", "why"),
    [
        (("l", "m"), "send l;m;h", "without an a=rid"),  # RFC 8853 section 5.2
        (("l", "m"), "recv l;m", "cannot be offered"),
        (("l", "m"), "send l;l", "twice"),
        (("l", "m"), "send l;m recv x", "cannot be offered"),
    ],
)
def test_contradictory_simulcast_offers_are_refused(rids: tuple[str, ...], simulcast: str, why: str) -> None:
    with pytest.raises(InvalidSimulcastError, match=why):
        read_simulcast(chromium_simulcast(rids, simulcast))


def test_a_duplicate_rid_line_is_refused() -> None:
    sdp = chromium_simulcast().replace("a=rid:l send", "a=rid:l send\r\na=rid:l send")
    with pytest.raises(InvalidSimulcastError, match="twice"):
        read_simulcast(sdp)


def test_a_rid_declared_for_receiving_cannot_be_sent() -> None:
    sdp = chromium_simulcast().replace("a=rid:m send", "a=rid:m recv")
    with pytest.raises(InvalidSimulcastError, match="send line"):
        read_simulcast(sdp)


def test_simulcast_without_the_rtp_stream_id_extension_is_refused() -> None:
    sdp = chromium_simulcast().replace(f"a=extmap:10 {URI_RTP_STREAM_ID}\r\n", "")
    with pytest.raises(InvalidSimulcastError, match="RFC 8852"):
        read_simulcast(sdp)


def test_simulcast_on_audio_is_refused() -> None:
    sdp = chromium_simulcast().replace("m=audio", "m=audio").split("\r\n")
    audio_at = next(i for i, line in enumerate(sdp) if line.startswith("m=audio"))
    sdp.insert(audio_at + 1, "a=rid:a send")
    sdp.insert(audio_at + 2, "a=simulcast:send a")
    with pytest.raises(InvalidSdpError):
        read_simulcast("\r\n".join(sdp))


def test_only_the_first_alternative_and_at_most_max_layers_are_taken() -> None:
    rids = tuple(f"r{i}" for i in range(MAX_LAYERS + 2))
    taken = read_simulcast(chromium_simulcast(rids, "send r0,r1;" + ";".join(rids[2:])))["1"]
    assert taken.rids == ("r0", *rids[2 : MAX_LAYERS + 1])


def test_the_answer_receives_the_layers_taken_in_the_offered_section() -> None:
    layers = read_simulcast(chromium_simulcast(simulcast="send l;~m;h"))
    answer = "\r\n".join(
        ["v=0", "m=audio 9 UDP/TLS/RTP/SAVPF 111", "a=mid:0", "m=video 9 UDP/TLS/RTP/SAVPF 96", "a=mid:1", "a=sendrecv"]
    )
    written = answer_simulcast(answer, layers)
    lines = written.split("\r\n")
    video = lines[lines.index("a=mid:1") + 1 :]
    # RFC 8853 section 5.3: the answerer reverses the direction, for every rid it keeps
    assert video[:4] == ["a=rid:l recv", "a=rid:m recv", "a=rid:h recv", "a=simulcast:recv l;~m;h"]
    assert "a=rid" not in "\r\n".join(lines[: lines.index("a=mid:1")])
    parsed = aiortc_sdp.SessionDescription.parse(written)  # still SDP aiortc reads
    assert [m.kind for m in parsed.media] == ["audio", "video"]
    assert answer_simulcast(answer, {}) == answer


def test_the_repaired_stream_id_extension_is_optional() -> None:
    sdp = chromium_simulcast().replace(f"a=extmap:11 {URI_REPAIRED_RTP_STREAM_ID}\r\n", "")
    assert read_simulcast(sdp)["1"].repaired_extension_id is None
