"""Trickle ICE SDP fragments (``application/trickle-ice-sdpfrag``, RFC 8840, as WHIP/WHEP PATCH bodies use them).

A fragment carries the sender's ICE credentials (``a=ice-ufrag``/``a=ice-pwd``, session or media level), and per
``m=`` section an ``a=mid``, ``a=candidate`` lines and maybe ``a=end-of-candidates``. Candidates before any ``m=``
line belong to the first (bundle) section. Fragments are never logged: they carry ICE credentials.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiortc import RTCIceCandidate
from aiortc.sdp import candidate_from_sdp

from sfu.errors import InvalidSdpError, SdpTooLargeError

#: Media type of a PATCH body (RFC 8840 section 9.2).
TRICKLE_ICE_SDPFRAG = "application/trickle-ice-sdpfrag"
#: A fragment with every candidate a browser gathers is well under this.
MAX_FRAGMENT_BYTES = 16 * 1024
#: Candidates one fragment may carry.
MAX_FRAGMENT_CANDIDATES = 64


@dataclass(frozen=True, slots=True)
class FragmentMedia:
    mid: str | None
    candidates: tuple[RTCIceCandidate, ...]
    end_of_candidates: bool


@dataclass(frozen=True, slots=True)
class Fragment:
    ufrag: str | None
    pwd: str | None
    media: tuple[FragmentMedia, ...]

    @property
    def candidate_count(self) -> int:
        return sum(len(m.candidates) for m in self.media)


class _Section:
    def __init__(self) -> None:
        self.mid: str | None = None
        self.candidates: list[RTCIceCandidate] = []
        self.end = False
        self.started = False

    def freeze(self) -> FragmentMedia:
        return FragmentMedia(self.mid, tuple(self.candidates), self.end)


def parse_fragment(text: str) -> Fragment:
    """Parse a fragment; anything malformed is an :class:`InvalidSdpError` naming the line's kind, never its text."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FRAGMENT_BYTES:
        raise SdpTooLargeError(f"the SDP fragment is larger than {MAX_FRAGMENT_BYTES} bytes")
    ufrag: str | None = None
    pwd: str | None = None
    sections: list[_Section] = [_Section()]  # the first holds what comes before any m= line
    count = 0
    for raw in text.replace("\r\n", "\n").split("\n"):
        line = raw.strip()
        if not line:
            continue
        if len(line) < 2 or line[1] != "=":
            raise InvalidSdpError("the SDP fragment has a line that is not <type>=<value>")
        kind, value = line[0], line[2:]
        section = sections[-1]
        if kind == "m":
            if section.started or section.candidates or section.end or section.mid is not None:
                sections.append(_Section())
            sections[-1].started = True
            continue
        if kind != "a":
            continue  # v=, o=, s=, c= ... carry nothing for trickling
        name, _, attr = value.partition(":")
        if name == "ice-ufrag":
            ufrag = _credential(attr, ufrag, "ice-ufrag")
        elif name == "ice-pwd":
            pwd = _credential(attr, pwd, "ice-pwd")
        elif name == "mid":
            if not attr or len(attr) > 32:
                raise InvalidSdpError("the SDP fragment has an empty or overlong a=mid")
            section.mid = attr
        elif name == "candidate":
            count += 1
            if count > MAX_FRAGMENT_CANDIDATES:
                raise InvalidSdpError(f"the SDP fragment has more than {MAX_FRAGMENT_CANDIDATES} candidates")
            section.candidates.append(_candidate(attr))
        elif name == "end-of-candidates":
            section.end = True
    media = tuple(s.freeze() for s in sections if s.started or s.candidates or s.end or s.mid is not None)
    return Fragment(ufrag, pwd, media)


def _credential(value: str, previous: str | None, name: str) -> str:
    value = value.strip()
    if not value or len(value) > 256 or any(c.isspace() for c in value):
        raise InvalidSdpError(f"the SDP fragment has an invalid a={name}")
    if previous is not None and previous != value:
        raise InvalidSdpError(f"the SDP fragment has two different a={name} values")
    return value


def _candidate(value: str) -> RTCIceCandidate:
    bits = value.split()
    if len(bits) < 8 or bits[6] != "typ":
        raise InvalidSdpError("the SDP fragment has a malformed a=candidate line")
    try:
        candidate = candidate_from_sdp(value)
    except (ValueError, IndexError, KeyError, TypeError, AttributeError, AssertionError):
        raise InvalidSdpError("the SDP fragment has a malformed a=candidate line") from None
    if candidate.port is None or not 0 < int(candidate.port) < 65536 or not candidate.ip:
        raise InvalidSdpError("the SDP fragment has a candidate without a usable address")
    if str(candidate.protocol).lower() not in ("udp", "tcp"):
        raise InvalidSdpError("the SDP fragment has a candidate with an unknown transport")
    return candidate
