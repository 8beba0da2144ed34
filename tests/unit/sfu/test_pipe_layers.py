"""A relay offer names each simulcast layer's pipe track by its rid; a malformed rid makes the offer malformed."""

from __future__ import annotations

import json

import pytest
from aiortc import RTCRtpCodecParameters
from aiortc.rtp import RtcpRrPacket

from sfu.errors import InvalidRelayOfferError
from sfu.pipe import (
    APP_DEMAND,
    APP_LAYERS,
    APP_NAME,
    LAYER_LINGER_S,
    PipeIn,
    PipeOffer,
    PipeTrack,
    RemoteLayer,
    _app_messages,
    _b64,
    _mac,
    decode_demand,
    decode_layers,
    decode_offer,
    encode_demand,
    encode_layers,
    encode_offer,
)

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


def edge_pipe() -> PipeIn:
    tracks = (PipeTrack.of("audio", 1, OPUS), *(PipeTrack.of("video", 2 + i, VP8, rid) for i, rid in enumerate("lmh")))
    return PipeIn(offer(*tracks), (bytes(30), bytes(30)), lambda p: None, lambda p, r: None)


def test_the_layer_demand_and_the_layer_descriptions_cross_as_rtcp_app_packets() -> None:
    demand = encode_demand(0x1234, {4, 2})
    assert demand[1] == 204 and demand[8:12] == APP_NAME
    assert [(subtype, decode_demand(body)) for subtype, body in _app_messages(demand)] == [
        (APP_DEMAND, frozenset({2, 4}))
    ]
    layers = {2: RemoteLayer(320, 180, 150_000, True), 4: RemoteLayer(1280, 720, 2_500_000, False)}
    packet = encode_layers(9, layers)
    # after a receiver report in the same compound packet; a truncated APP after it is skipped
    compound = bytes(RtcpRrPacket(ssrc=9)) + packet + packet[:10]
    assert [(s, decode_layers(b)) for s, b in _app_messages(compound)] == [(APP_LAYERS, layers)]
    assert _app_messages(encode_demand(1, set())) == [(APP_DEMAND, b"")]


def test_an_edge_asks_for_the_layers_its_viewers_are_on_and_drops_one_only_after_the_linger() -> None:
    pipe = edge_pipe()
    assert pipe.demand is None  # nothing said yet: the origin sends every layer
    assert pipe.want(set(), fallback=2, now=100.0) == {2}  # nobody watches: the lowest only
    assert pipe.want({2, 4}, fallback=2, now=101.0) == {2, 4}  # a viewer on h: added at once
    assert pipe.want({2}, fallback=2, now=101.0 + LAYER_LINGER_S - 0.1) == {2, 4}  # left h: h lingers
    assert pipe.want({2, 4}, fallback=2, now=101.0 + LAYER_LINGER_S) == {2, 4}  # back on h within the linger
    later = 101.0 + 2 * LAYER_LINGER_S + 0.1
    assert pipe.want({2}, fallback=2, now=later) == {2}  # gone for longer than the linger: dropped
    assert pipe.want(set(), fallback=2, now=later + LAYER_LINGER_S) == {2}
    assert pipe.layers_added == 1 and pipe.layers_dropped == 3  # m and h at the first word, h again
