from __future__ import annotations

import pytest
from aiortc import RTCPeerConnection

from sfu.errors import InvalidSdpError, SdpTooLargeError
from sfu.sdp import announce, parse_offer
from sfu.settings import SfuSettings
from tests.support.sfu_peers import offer


async def aiortc_offer(*kinds: tuple[str, str]) -> str:
    pc = RTCPeerConnection()
    try:
        for kind, direction in kinds:
            pc.addTransceiver(kind, direction=direction)
        return await offer(pc)
    finally:
        await pc.close()


async def test_a_publisher_offer_with_video_and_audio_is_accepted() -> None:
    summary = parse_offer(
        await aiortc_offer(("video", "sendonly"), ("audio", "sendonly")), max_bytes=65536, publishing=True
    )
    assert summary.video and summary.audio


@pytest.mark.parametrize(
    "body",
    ["", "   ", "hello", "v=0\r\nthis is not sdp", "v=0\r\nm=video notaport UDP/TLS/RTP/SAVPF 96\r\n"],
)
def test_malformed_offers_are_invalid_sdp(body: str) -> None:
    with pytest.raises(InvalidSdpError) as error:
        parse_offer(body, max_bytes=65536, publishing=True)
    assert error.value.status == 400 and error.value.code == "invalid_sdp"


async def test_a_bundle_whose_first_m_line_is_of_an_unknown_kind_is_refused() -> None:
    sdp = await aiortc_offer(("audio", "sendonly"), ("video", "sendonly"))
    assert "a=group:BUNDLE 0 1" in sdp
    with pytest.raises(InvalidSdpError, match="first m-line of the offer's a=group:BUNDLE"):
        parse_offer(sdp.replace("m=audio", "m=:audio", 1), max_bytes=65536, publishing=True)


async def test_an_offer_without_video_is_refused() -> None:
    audio_only = await aiortc_offer(("audio", "sendonly"))
    with pytest.raises(InvalidSdpError, match="no video"):
        parse_offer(audio_only, max_bytes=65536, publishing=True)


async def test_an_offer_with_only_unsupported_video_codecs_is_refused() -> None:
    sdp = await aiortc_offer(("video", "sendonly"))
    vp9 = sdp.replace("VP8/90000", "VP9/90000").replace("H264/90000", "AV1/90000")
    with pytest.raises(InvalidSdpError, match="no supported video codec"):
        parse_offer(vp9, max_bytes=65536, publishing=True)


async def test_a_viewer_offer_must_be_able_to_receive_video() -> None:
    sendonly = await aiortc_offer(("video", "sendonly"))
    with pytest.raises(InvalidSdpError, match="receive"):
        parse_offer(sendonly, max_bytes=65536, publishing=False)


async def test_an_oversized_offer_is_refused_with_413() -> None:
    sdp = await aiortc_offer(("video", "sendonly"))
    with pytest.raises(SdpTooLargeError) as error:
        parse_offer(sdp + "a=x-pad:" + "x" * 70000 + "\r\n", max_bytes=65536, publishing=True)
    assert error.value.status == 413


def test_nat_1_to_1_rewrites_host_candidates() -> None:
    sdp = "v=0\r\nc=IN IP4 10.0.0.5\r\na=candidate:abc 1 udp 2130706431 10.0.0.5 40000 typ host\r\n"
    out = announce(sdp, SfuSettings(announced_ips=("10.0.0.5=203.0.113.7",)).nat_map)
    assert "203.0.113.7 40000 typ host" in out and "c=IN IP4 203.0.113.7" in out
    assert SfuSettings(announced_ips=("10.0.0.5=203.0.113.7",)).bind_addresses == ("10.0.0.5",)
