"""VP8 payload descriptor numbering (RFC 7741 section 4.2) kept continuous for a viewer across layer switches.

Each simulcast layer of a publisher numbers its pictures on its own: PictureID (7 or 15 bits) and TL0PICIDX (the
running index of temporal-layer-0 pictures, 8 bits) jump when a viewer moves from one layer to another. A receiver
takes those numbers as frame ids and references (libwebrtc's VP8 reference finder keeps the ids it never received
between the old and the new numbering as missing, and holds frames back that seem to depend on them): after a switch
Chromium viewers stopped assembling frames for seconds without any packet lost, until a keyframe request. So, as
other SFUs do (mediasoup, Janus, LiveKit rewrite the same two fields), a consumer that changed layers shifts both
numbers by per-epoch offsets chosen at the new layer's keyframe, so that the viewer sees one continuous sequence.

Pure functions over bytes; the consumer applies them only after its first switch (offsets zero: nothing to do).
"""

from __future__ import annotations

PICTURE_ID_MOD = 0x8000
TL0_MOD = 0x100


def descriptor_ids(payload: bytes | bytearray, offset: int = 0) -> tuple[int | None, int | None]:
    """(PictureID, TL0PICIDX) of the VP8 payload descriptor at ``offset`` (None where the field is absent or the
    descriptor is cut short)."""
    end = len(payload)
    if offset >= end or not payload[offset] & 0x80:
        return None, None
    i = offset + 1
    if i >= end:
        return None, None
    x = payload[i]
    i += 1
    picture_id: int | None = None
    if x & 0x80:
        if i >= end:
            return None, None
        if payload[i] & 0x80:
            if i + 1 >= end:
                return None, None
            picture_id = ((payload[i] & 0x7F) << 8) | payload[i + 1]
            i += 2
        else:
            picture_id = payload[i]
            i += 1
    tl0: int | None = None
    if x & 0x40:
        if i >= end:
            return picture_id, None
        tl0 = payload[i]
    return picture_id, tl0


def shift_ids(data: bytes, offset: int, picture_id_shift: int, tl0_shift: int) -> bytes:
    """``data`` with the PictureID and TL0PICIDX of the descriptor at ``offset`` moved on by the two shifts (mod
    2^15 or 2^7, and 2^8); unchanged when the descriptor has neither."""
    end = len(data)
    if offset + 1 >= end or not data[offset] & 0x80:
        return data
    x = data[offset + 1]
    if not x & 0xC0:
        return data
    out = bytearray(data)
    i = offset + 2
    if x & 0x80:
        if i >= end:
            return data
        if out[i] & 0x80:
            if i + 1 >= end:
                return data
            picture_id = ((((out[i] & 0x7F) << 8) | out[i + 1]) + picture_id_shift) % PICTURE_ID_MOD
            out[i] = 0x80 | (picture_id >> 8)
            out[i + 1] = picture_id & 0xFF
            i += 2
        else:
            out[i] = (out[i] + picture_id_shift) & 0x7F
            i += 1
    if x & 0x40 and i < end:
        out[i] = (out[i] + tl0_shift) % TL0_MOD
    return bytes(out)
