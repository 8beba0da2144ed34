"""Offers shaped like the ones real publishers send: Chromium, Firefox and Safari (``RTCPeerConnection`` in a
WHIP/WHEP page) and OBS Studio's WHIP output. Written for these tests from the lines such clients typically send
(payload types, header extensions, feedback, SSRC groups); credentials and addresses are made up.

``offer(name, direction)`` gives a publisher's offer (``sendonly``) or a viewer's (``recvonly``).
"""

from __future__ import annotations

import re
from typing import Any

_FP = ":".join(f"{(i * 37 + 11) % 256:02X}" for i in range(32))

CHROMIUM = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS 5c1d1e3a",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=candidate:1467250027 1 udp 2122260223 127.0.0.1 52000 typ host generation 0 network-id 1",
        "a=ice-ufrag:Chr1",
        "a=ice-pwd:chromiumpassword0123456789",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {_FP}",
        "a=setup:actpass",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=DIRECTION",
        "a=msid:5c1d1e3a 0f9a2b7c-audio",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "a=ssrc:3735928559 cname:chromiumcname",
        "a=ssrc:3735928559 msid:5c1d1e3a 0f9a2b7c-audio",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 102 103 104 105 98 99",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:Chr1",
        "a=ice-pwd:chromiumpassword0123456789",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {_FP}",
        "a=setup:actpass",
        "a=mid:1",
        "a=extmap:14 urn:ietf:params:rtp-hdrext:toffset",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:13 urn:3gpp:video-orientation",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:10 urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id",
        "a=extmap:11 urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id",
        "a=DIRECTION",
        "a=msid:5c1d1e3a 7e41c0d2-video",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 goog-remb",
        "a=rtcp-fb:96 transport-cc",
        "a=rtcp-fb:96 ccm fir",
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 nack pli",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:102 H264/90000",
        "a=rtcp-fb:102 nack",
        "a=rtcp-fb:102 nack pli",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
        "a=rtpmap:103 rtx/90000",
        "a=fmtp:103 apt=102",
        "a=rtpmap:104 H264/90000",
        "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
        "a=rtpmap:105 rtx/90000",
        "a=fmtp:105 apt=104",
        "a=rtpmap:98 VP9/90000",
        "a=fmtp:98 profile-id=0",
        "a=rtpmap:99 rtx/90000",
        "a=fmtp:99 apt=98",
        "a=ssrc-group:FID 2882400001 2882400002",
        "a=ssrc:2882400001 cname:chromiumcname",
        "a=ssrc:2882400001 msid:5c1d1e3a 7e41c0d2-video",
        "a=ssrc:2882400002 cname:chromiumcname",
        "a=ssrc:2882400002 msid:5c1d1e3a 7e41c0d2-video",
        "",
    ]
)

FIREFOX = "\r\n".join(
    [
        "v=0",
        "o=mozilla...THIS_IS_SDPARTA-128.0 8113447522071402312 0 IN IP4 0.0.0.0",
        "s=-",
        "t=0 0",
        f"a=fingerprint:sha-256 {_FP}",
        "a=group:BUNDLE 0 1",
        "a=ice-options:trickle",
        "a=msid-semantic:WMS *",
        "m=audio 9 UDP/TLS/RTP/SAVPF 109 9 0 8 101",
        "c=IN IP4 0.0.0.0",
        "a=DIRECTION",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:2/recvonly urn:ietf:params:rtp-hdrext:csrc-audio-level",
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=fmtp:109 maxplaybackrate=48000;stereo=1;useinbandfec=1",
        "a=fmtp:101 0-15",
        "a=ice-pwd:firefoxpassword9876543210ab",
        "a=ice-ufrag:ff01",
        "a=mid:0",
        "a=msid:{6f1a} {a1b2}",
        "a=rtcp-mux",
        "a=rtpmap:109 opus/48000/2",
        "a=rtpmap:9 G722/8000/1",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:101 telephone-event/8000",
        "a=setup:actpass",
        "a=ssrc:1111111111 cname:{9c0ffee0}",
        "m=video 9 UDP/TLS/RTP/SAVPF 120 124 121 125 126 127 97 98",
        "c=IN IP4 0.0.0.0",
        "a=DIRECTION",
        "a=extmap:3 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:4 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:5 urn:ietf:params:rtp-hdrext:toffset",
        "a=extmap:6/recvonly http://www.webrtc.org/experiments/rtp-hdrext/playout-delay",
        "a=extmap:7 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=fmtp:126 profile-level-id=42e01f;level-asymmetry-allowed=1;packetization-mode=1",
        "a=fmtp:97 profile-level-id=42e01f;level-asymmetry-allowed=1",
        "a=fmtp:120 max-fs=12288;max-fr=60",
        "a=fmtp:124 apt=120",
        "a=fmtp:121 max-fs=12288;max-fr=60",
        "a=fmtp:125 apt=121",
        "a=fmtp:127 apt=126",
        "a=fmtp:98 apt=97",
        "a=ice-pwd:firefoxpassword9876543210ab",
        "a=ice-ufrag:ff01",
        "a=mid:1",
        "a=msid:{6f1a} {c3d4}",
        "a=rtcp-fb:120 nack",
        "a=rtcp-fb:120 nack pli",
        "a=rtcp-fb:120 ccm fir",
        "a=rtcp-fb:120 goog-remb",
        "a=rtcp-fb:120 transport-cc",
        "a=rtcp-fb:126 nack",
        "a=rtcp-fb:126 nack pli",
        "a=rtcp-fb:126 ccm fir",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:120 VP8/90000",
        "a=rtpmap:124 rtx/90000",
        "a=rtpmap:121 VP9/90000",
        "a=rtpmap:125 rtx/90000",
        "a=rtpmap:126 H264/90000",
        "a=rtpmap:127 rtx/90000",
        "a=rtpmap:97 H264/90000",
        "a=rtpmap:98 rtx/90000",
        "a=setup:actpass",
        "a=ssrc:2222222222 cname:{9c0ffee0}",
        "a=ssrc:2222222223 cname:{9c0ffee0}",
        "a=ssrc-group:FID 2222222222 2222222223",
        "",
    ]
)

SAFARI = "\r\n".join(
    [
        "v=0",
        "o=- 1893741029384756102 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS",
        "m=video 9 UDP/TLS/RTP/SAVPF 96 97 98 99 100 101 127",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:sAf1",
        "a=ice-pwd:safaripassword00112233445",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {_FP}",
        "a=setup:actpass",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:toffset",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:3 urn:3gpp:video-orientation",
        "a=extmap:5 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=DIRECTION",
        "a=msid:- 8d8e3c11-video",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:96 H264/90000",
        "a=rtcp-fb:96 goog-remb",
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 nack pli",
        "a=fmtp:96 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
        "a=rtpmap:97 rtx/90000",
        "a=fmtp:97 apt=96",
        "a=rtpmap:98 H264/90000",
        "a=rtcp-fb:98 nack",
        "a=rtcp-fb:98 nack pli",
        "a=fmtp:98 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtpmap:99 rtx/90000",
        "a=fmtp:99 apt=98",
        "a=rtpmap:100 VP8/90000",
        "a=rtcp-fb:100 nack",
        "a=rtcp-fb:100 nack pli",
        "a=rtpmap:101 rtx/90000",
        "a=fmtp:101 apt=100",
        "a=rtpmap:127 red/90000",
        "a=ssrc-group:FID 3000000001 3000000002",
        "a=ssrc:3000000001 cname:safaricname",
        "a=ssrc:3000000002 cname:safaricname",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 103 9 0 8 105 13 110",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:sAf1",
        "a=ice-pwd:safaripassword00112233445",
        "a=ice-options:trickle",
        f"a=fingerprint:sha-256 {_FP}",
        "a=setup:actpass",
        "a=mid:1",
        "a=extmap:14 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:5 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=DIRECTION",
        "a=msid:- 8d8e3c11-audio",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:103 ISAC/16000",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:105 CN/16000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=ssrc:3000000003 cname:safaricname",
        "",
    ]
)

OBS = "\r\n".join(
    [
        "v=0",
        "o=rtc 2630497125 0 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1",
        "a=group:LS 0 1",
        "a=msid-semantic:WMS *",
        "a=ice-options:ice2,trickle",
        f"a=fingerprint:sha-256 {_FP}",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=mid:0",
        "a=DIRECTION",
        "a=ssrc:4100000001 cname:obs-studio",
        "a=ssrc:4100000001 msid:obs-studio obs-audio",
        "a=msid:obs-studio obs-audio",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=fmtp:111 minptime=10;maxaveragebitrate=96000;stereo=1;sprop-stereo=1;useinbandfec=1",
        "a=setup:actpass",
        "a=ice-ufrag:obsU",
        "a=ice-pwd:obspassword112233445566778",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=mid:1",
        "a=DIRECTION",
        "a=ssrc:4100000002 cname:obs-studio",
        "a=ssrc:4100000002 msid:obs-studio obs-video",
        "a=msid:obs-studio obs-video",
        "a=rtcp-mux",
        "a=rtpmap:96 H264/90000",
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 nack pli",
        "a=rtcp-fb:96 goog-remb",
        "a=fmtp:96 profile-level-id=42e01f;packetization-mode=1;level-asymmetry-allowed=1",
        "a=setup:actpass",
        "a=ice-ufrag:obsU",
        "a=ice-pwd:obspassword112233445566778",
        "",
    ]
)

OFFERS = {"chromium": CHROMIUM, "firefox": FIREFOX, "safari": SAFARI, "obs": OBS}


def offer(name: str, direction: str) -> str:
    """``direction``: ``sendonly`` (a publisher), ``recvonly`` (a viewer) or ``sendrecv``."""
    return OFFERS[name].replace("a=DIRECTION", f"a={direction}")


def mutated_offers(directions: tuple[str, ...] = ("sendonly", "recvonly", "sendrecv", "inactive")) -> Any:
    """A hypothesis strategy: one of the offers above with 1-6 lines dropped, duplicated, swapped, cut short,
    given odd numbers or junk, and sometimes bare ``\\n`` line ends."""
    from hypothesis import strategies as st

    odd_numbers = st.sampled_from(["-1", "0", "65536", "4294967296", "99999999999999999999999", "x", "", "1.5"])

    @st.composite
    def build(draw: Any) -> str:
        lines = offer(draw(st.sampled_from(sorted(OFFERS))), draw(st.sampled_from(directions))).split("\r\n")
        for _ in range(draw(st.integers(1, 6))):
            if not lines:
                break
            i = draw(st.integers(0, len(lines) - 1))
            op = draw(st.sampled_from(["drop", "duplicate", "swap", "cut", "number", "junk"]))
            if op == "drop":
                del lines[i]
            elif op == "duplicate":
                lines.insert(draw(st.integers(0, len(lines))), lines[i])
            elif op == "swap":
                j = draw(st.integers(0, len(lines) - 1))
                lines[i], lines[j] = lines[j], lines[i]
            elif op == "cut":
                lines[i] = lines[i][: draw(st.integers(0, max(0, len(lines[i]) - 1)))]
            elif op == "number":
                numbers = list(re.finditer(r"\d+", lines[i]))
                if numbers:
                    m = numbers[draw(st.integers(0, len(numbers) - 1))]
                    value = draw(odd_numbers | st.integers(-(2**40), 2**40).map(str))
                    lines[i] = lines[i][: m.start()] + value + lines[i][m.end() :]
            else:
                at = draw(st.integers(0, len(lines[i])))
                junk = draw(st.sampled_from([":", " ", "/", "=", ";", "a=", "\x00", "é", "{", "BUNDLE", "m=video"]))
                lines[i] = lines[i][:at] + junk + lines[i][at:]
        return draw(st.sampled_from(["\r\n", "\n"])).join(lines)

    return build()


def chromium_simulcast(rids: tuple[str, ...] = ("l", "m", "h"), simulcast: str | None = None) -> str:
    """Chromium's publisher offer as it looks with three ``sendEncodings`` carrying rids: an ``a=rid:<rid> send``
    line per layer and ``a=simulcast:send l;m;h`` in the video section, and no ``a=ssrc`` line for the video.
    ``simulcast`` replaces the value of the ``a=simulcast`` line."""
    out: list[str] = []
    video = False
    for line in offer("chromium", "sendonly").split("\r\n"):
        if line.startswith("m="):
            video = line.startswith("m=video")
        if video and line.startswith(("a=ssrc:", "a=ssrc-group:")):
            continue
        out.append(line)
        if video and line == "a=rtcp-rsize":
            out.extend(f"a=rid:{rid} send" for rid in rids)
            out.append("a=simulcast:" + (simulcast if simulcast is not None else "send " + ";".join(rids)))
    return "\r\n".join(out)
