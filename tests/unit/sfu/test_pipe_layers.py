"""A relay offer names each simulcast layer's pipe track by its rid; a malformed rid makes the offer malformed."""

from __future__ import annotations

import json

import pytest
from aiortc import RTCRtpCodecParameters

from sfu.errors import InvalidRelayOfferError
from sfu.pipe import PipeOffer, PipeTrack, _b64, _mac, decode_offer, encode_offer

VP8 = RTCRtpCodecParameters(mimeType="video/VP8", clockRate=90000, payloadType=96)
OPUS = RTCRtpCodecParameters(mimeType="audio/opus", clockRate=48000, channels=2, payloadType=111)


def offer(*tracks: PipeTrack) -> PipeOffer:
    return PipeOffer("s", "p", "127.0.0.1", 5000, "n", 4e9, tracks)


def test_each_layer_crosses_as_its_own_track_named_by_its_rid() -> None:
    tracks = (PipeTrack.of("audio", 1, OPUS), *(PipeTrack.of("video", 2 + i, VP8, rid) for i, rid in enumerate("lmh")))
    decoded = decode_offer(encode_offer(offer(*tracks), "secret"), "secret", now=0)
    assert [(t.kind, t.rid) for t in decoded.tracks] == [
        ("audio", None),
        ("video", "l"),
        ("video", "m"),
        ("video", "h"),
    ]
    assert decoded.tracks[1].codec().mimeType == "video/VP8"


@pytest.mark.parametrize("rid", [7, "", "x" * 17])
def test_a_bad_rid_in_a_signed_offer_is_refused(rid: object) -> None:
    body = {
        "s": "s",
        "p": "p",
        "h": "h",
        "o": 1,
        "n": "n",
        "e": 4e9,
        "t": [["video", 1, "video/VP8", 90000, None, 96, [], rid]],
    }
    payload = _b64(json.dumps(body).encode())
    token = f"v1.{payload}.{_b64(_mac('secret', b'hub-relay-offer', payload))}"
    with pytest.raises(InvalidRelayOfferError):
        decode_offer(token, "secret", now=0)
