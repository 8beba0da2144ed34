"""Keyframe detection on RTP payloads, without depacketizing or decoding.

VP8: RFC 7741 section 4.2 (payload descriptor) and 4.3 (payload header, P bit = 0 on a key frame).
H.264: RFC 6184 section 5.2 (NAL unit types 1-23, STAP-A = 24, FU-A = 28); an access unit that carries an IDR
slice (type 5) or a sequence parameter set (type 7) starts a decodable picture.
"""

from __future__ import annotations

from collections.abc import Callable

_H264_KEY_NALS = frozenset((5, 7))


def vp8_is_keyframe_start(payload: bytes) -> bool:
    """True for the first packet of a VP8 key frame."""
    size = len(payload)
    if size < 1:
        return False
    first = payload[0]
    # S bit set and partition index 0: this packet starts the frame.
    if not first & 0x10 or first & 0x0F:
        return False
    pos = 1
    if first & 0x80:  # X: extension octet follows
        if size < 2:
            return False
        ext = payload[1]
        pos = 2
        if ext & 0x80:  # I: picture id, 7 or 15 bits (M flag)
            if pos >= size:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:  # L: TL0PICIDX
            pos += 1
        if ext & 0x30:  # T or K: TID/Y/KEYIDX octet
            pos += 1
    if pos >= size:
        return False
    # VP8 payload header: the P bit (inverse key frame flag) is the lowest bit.
    return not payload[pos] & 0x01


def _vp8_payload_start(payload: bytes) -> int | None:
    """Offset of the VP8 payload header after the RTP payload descriptor (RFC 7741 section 4.2), None if short."""
    size = len(payload)
    if size < 1:
        return None
    first = payload[0]
    pos = 1
    if first & 0x80:
        if size < 2:
            return None
        ext = payload[1]
        pos = 2
        if ext & 0x80:
            if pos >= size:
                return None
            pos += 2 if payload[pos] & 0x80 else 1
        if ext & 0x40:
            pos += 1
        if ext & 0x30:
            pos += 1
    return pos if pos < size else None


def vp8_keyframe_size(payload: bytes) -> tuple[int, int] | None:
    """(width, height) of a VP8 key frame from its first packet: RFC 6386 section 9.1, the 3-octet frame tag, the
    start code 9d 01 2a, then 14-bit width and height (little-endian, 2 scaling bits above each). None if this is
    not the first packet of a key frame."""
    if not vp8_is_keyframe_start(payload):
        return None
    pos = _vp8_payload_start(payload)
    if pos is None or len(payload) < pos + 10 or payload[pos + 3 : pos + 6] != b"\x9d\x01\x2a":
        return None
    width = (payload[pos + 6] | payload[pos + 7] << 8) & 0x3FFF
    height = (payload[pos + 8] | payload[pos + 9] << 8) & 0x3FFF
    return (width, height) if width and height else None


def h264_is_keyframe(payload: bytes) -> bool:
    """True if this packet carries an IDR slice or SPS (single NAL, STAP-A, or the first FU-A fragment)."""
    size = len(payload)
    if size < 1:
        return False
    nal_type = payload[0] & 0x1F
    if nal_type in _H264_KEY_NALS:
        return True
    if nal_type == 24:  # STAP-A: 16-bit sizes, then NAL units
        pos = 1
        while pos + 2 < size:
            nalu_size = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if payload[pos] & 0x1F in _H264_KEY_NALS:
                return True
            pos += nalu_size
        return False
    if nal_type == 28 and size >= 2:  # FU-A: start bit and the fragmented NAL's type
        fu_header = payload[1]
        return bool(fu_header & 0x80) and (fu_header & 0x1F) in _H264_KEY_NALS
    return False


def h264_nal_types(payload: bytes) -> frozenset[int]:
    """NAL unit types in a packet: the one of a single NAL unit, those in a STAP-A, or the fragmented one of a
    FU-A start (RFC 6184 section 5.2)."""
    size = len(payload)
    if size < 1:
        return frozenset()
    nal_type = payload[0] & 0x1F
    if nal_type == 24:
        types = set()
        pos = 1
        while pos + 2 < size:
            nalu_size = (payload[pos] << 8) | payload[pos + 1]
            types.add(payload[pos + 2] & 0x1F)
            pos += 2 + nalu_size
        return frozenset(types)
    if nal_type == 28:
        return frozenset((payload[1] & 0x1F,)) if size >= 2 and payload[1] & 0x80 else frozenset()
    return frozenset((nal_type,))


#: H.264 sequence and picture parameter sets (RFC 6184 section 8.2.2: a decoder needs both before an IDR).
H264_SPS = 7
H264_PPS = 8


def keyframe_detector(mime_type: str) -> Callable[[bytes], bool] | None:
    """The keyframe test for a codec, or None for codecs without keyframes (audio)."""
    name = mime_type.lower()
    if name == "video/vp8":
        return vp8_is_keyframe_start
    if name == "video/h264":
        return h264_is_keyframe
    return None
