"""Simulcast in SDP: reading a publisher's ``a=rid`` / ``a=simulcast`` lines and writing the answer's. Pure text in,
values out; nothing here touches aiortc (which parses neither attribute).

RFC 8851 (RID), section 10 grammar: ``a=rid:<rid-id> <send|recv> [pt=<fmt>,...;<restriction>=<value>;...]``,
``rid-id = 1*(ALPHA / DIGIT / "-" / "_")``. A rid names one RTP stream; the packets say which with the RtpStreamId
header extension, their retransmissions with RepairedRtpStreamId (RFC 8852, section 3).

RFC 8853 (simulcast), section 5.1 grammar: ``a=simulcast:<send|recv> <streams>[ <recv|send> <streams>]``; streams are
separated by ``;``, each stream a ``,``-separated list of alternative rids, a rid prefixed with ``~`` starts paused.
Every rid named there needs an ``a=rid`` line of the same direction in the same media section (section 5.2). The
answerer reverses the direction and may drop streams or alternatives it does not take (section 5.3).

What a browser sends (Chromium with three ``sendEncodings`` carrying ``rid``): ``a=rid:h send`` ... ``a=rid:l send``,
``a=simulcast:send h;m;l``, the mid / rtp-stream-id / repaired-rtp-stream-id header extensions, and no ``a=ssrc``
line for the video: the SFU learns each layer's SSRC from the first packets carrying its rid.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sfu.errors import InvalidSimulcastError

URI_RTP_STREAM_ID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RTP_STREAM_ID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"

#: Layers the SFU takes from one publisher; further streams are left out of the answer (RFC 8853 section 5.3).
MAX_LAYERS = 4
#: A rid travels in a one-byte header extension element (RFC 8285 section 4.2), which carries at most 16 octets.
MAX_RID_LENGTH = 16

_RID_ID = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class Rid:
    """One ``a=rid`` line (RFC 8851 section 4)."""

    rid: str
    direction: str
    payload_types: tuple[int, ...] = ()
    restrictions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SimulcastOffer:
    """What one media section of an offer sends as simulcast: the rids the SFU takes, in the offer's order (RFC 8853
    section 5.1: the order is the sender's preference), and the header extension ids that carry them."""

    mid: str
    rids: tuple[str, ...]
    paused: frozenset[str]
    rid_extension_id: int
    repaired_extension_id: int | None


def parse_rid(value: str) -> Rid:
    """The value of an ``a=rid:`` attribute (the text after the colon)."""
    parts = value.split(" ", 2)
    if len(parts) < 2:
        raise InvalidSimulcastError("a=rid needs a rid and a direction (RFC 8851 section 10)")
    rid, direction = parts[0], parts[1]
    _check_rid_id(rid)
    if direction not in ("send", "recv"):
        raise InvalidSimulcastError(f"a=rid:{rid} has direction {direction!r}: it must be send or recv")
    payload_types: tuple[int, ...] = ()
    restrictions: list[tuple[str, str]] = []
    if len(parts) == 3 and parts[2].strip():
        for item in parts[2].strip().split(";"):
            name, sep, val = item.partition("=")
            if not name or not sep or not val:
                raise InvalidSimulcastError(f"a=rid:{rid} has a malformed restriction {item!r}")
            if name == "pt":
                try:
                    payload_types = tuple(int(pt) for pt in val.split(","))
                except ValueError:
                    raise InvalidSimulcastError(f"a=rid:{rid} lists a payload type that is not a number") from None
                if any(not 0 <= pt <= 127 for pt in payload_types):
                    raise InvalidSimulcastError(f"a=rid:{rid} lists a payload type outside 0-127")
            else:
                restrictions.append((name, val))
    return Rid(rid, direction, payload_types, tuple(restrictions))


def parse_simulcast(value: str) -> dict[str, tuple[tuple[tuple[str, bool], ...], ...]]:
    """The value of an ``a=simulcast:`` attribute: per direction, the streams, each a tuple of (rid, paused)
    alternatives."""
    tokens = value.split()
    if len(tokens) not in (2, 4):
        raise InvalidSimulcastError("a=simulcast needs a direction and a stream list, once or twice (RFC 8853 5.1)")
    result: dict[str, tuple[tuple[tuple[str, bool], ...], ...]] = {}
    for direction, listing in zip(tokens[::2], tokens[1::2], strict=True):
        if direction not in ("send", "recv"):
            raise InvalidSimulcastError(f"a=simulcast has direction {direction!r}: it must be send or recv")
        if direction in result:
            raise InvalidSimulcastError(f"a=simulcast names the {direction} direction twice")
        streams: list[tuple[tuple[str, bool], ...]] = []
        for stream in listing.split(";"):
            alternatives: list[tuple[str, bool]] = []
            for alternative in stream.split(","):
                paused = alternative.startswith("~")
                rid = alternative[1:] if paused else alternative
                _check_rid_id(rid)
                alternatives.append((rid, paused))
            streams.append(tuple(alternatives))
        result[direction] = tuple(streams)
    return result


def _check_rid_id(rid: str) -> None:
    if not _RID_ID.fullmatch(rid):
        raise InvalidSimulcastError(f"{rid!r} is not a rid (RFC 8851: letters, digits, '-' and '_')")
    if len(rid) > MAX_RID_LENGTH:
        raise InvalidSimulcastError(f"rid {rid[:20]!r} is longer than {MAX_RID_LENGTH} octets")


def _sections(sdp: str) -> list[list[str]]:
    """The media sections of an SDP, each as its lines (the ``m=`` line first)."""
    sections: list[list[str]] = []
    for line in sdp.splitlines():
        if line.startswith("m="):
            sections.append([line])
        elif sections:
            sections[-1].append(line)
    return sections


def read_simulcast(offer_sdp: str) -> dict[str, SimulcastOffer]:
    """Per media section that sends simulcast (by its ``a=mid``), what it sends. Sections without ``a=simulcast``
    are plain single-stream sections, also when they carry ``a=rid`` lines (RFC 8851 section 4: a rid alone only
    restricts the one stream). Anything malformed or contradictory is :class:`InvalidSimulcastError`."""
    found: dict[str, SimulcastOffer] = {}
    for lines in _sections(offer_sdp):
        rids: dict[str, Rid] = {}
        simulcast: list[str] = []
        extensions: dict[str, int] = {}
        mid = ""
        for line in lines:
            if line.startswith("a=rid:"):
                described = parse_rid(line[6:])
                if described.rid in rids:
                    raise InvalidSimulcastError(f"a=rid:{described.rid} appears twice in one media section")
                rids[described.rid] = described
            elif line.startswith("a=simulcast:"):
                simulcast.append(line[12:])
            elif line.startswith("a=mid:"):
                mid = line[6:].strip()
            elif line.startswith("a=extmap:"):
                head, _, rest = line[9:].partition(" ")
                uri = rest.split(" ", 1)[0]
                try:
                    extensions[uri] = int(head.split("/", 1)[0])
                except ValueError:
                    continue  # aiortc's own parser judges extmap lines
        if not simulcast:
            continue
        if len(simulcast) > 1:
            raise InvalidSimulcastError("a media section has more than one a=simulcast line")
        kind = lines[0][2:].split(" ", 1)[0]
        if kind != "video":
            raise InvalidSimulcastError("simulcast is for video sections only")
        directions = parse_simulcast(simulcast[0])
        if "recv" in directions:
            raise InvalidSimulcastError("the SFU sends one stream per viewer: a=simulcast:recv cannot be offered")
        chosen: list[str] = []
        paused: set[str] = set()
        for stream in directions["send"]:
            for rid, _ in stream:
                line_of = rids.get(rid)
                if line_of is None or line_of.direction != "send":
                    raise InvalidSimulcastError(
                        f"a=simulcast names rid {rid!r} without an a=rid:{rid} send line (RFC 8853 section 5.2)"
                    )
            rid, is_paused = stream[0]  # the preferred alternative; the others are left out of the answer
            if rid in chosen:
                raise InvalidSimulcastError(f"a=simulcast names rid {rid!r} twice")
            if len(chosen) < MAX_LAYERS:
                chosen.append(rid)
                if is_paused:
                    paused.add(rid)
        rid_id = extensions.get(URI_RTP_STREAM_ID)
        if rid_id is None:
            raise InvalidSimulcastError(
                "simulcast needs the rtp-stream-id header extension (RFC 8852): without it the layers cannot be told "
                "apart"
            )
        if not mid:
            raise InvalidSimulcastError("a simulcast media section needs an a=mid")
        found[mid] = SimulcastOffer(
            mid, tuple(chosen), frozenset(paused), rid_id, extensions.get(URI_REPAIRED_RTP_STREAM_ID)
        )
    return found


def answer_simulcast(answer_sdp: str, offers: dict[str, SimulcastOffer]) -> str:
    """The answer with, in each media section the offer sent simulcast in, one ``a=rid:<rid> recv`` line per layer
    taken and ``a=simulcast:recv`` listing them (RFC 8853 section 5.3), placed after the section's ``a=mid``."""
    if not offers:
        return answer_sdp
    newline = "\r\n" if "\r\n" in answer_sdp else "\n"
    out: list[str] = []
    current: str | None = None
    for line in answer_sdp.split(newline):
        out.append(line)
        if line.startswith("m="):
            current = None
        elif line.startswith("a=mid:") and current is None:
            current = line[6:].strip()
            offer = offers.get(current)
            if offer is not None:
                out.extend(f"a=rid:{rid} recv" for rid in offer.rids)
                listing = ";".join(("~" if rid in offer.paused else "") + rid for rid in offer.rids)
                out.append(f"a=simulcast:recv {listing}")
    return newline.join(out)
