"""VP8 PictureID / TL0PICIDX kept continuous for a viewer across simulcast layer switches (``sfu/vp8.py``)."""

from __future__ import annotations

import itertools

from sfu.vp8 import descriptor_ids, shift_ids


def descriptor(picture_id: int | None, tl0: int | None, start: bool = True, long_id: bool = True) -> bytes:
    """A VP8 payload descriptor (RFC 7741 section 4.2) with the optional I (PictureID) and L (TL0PICIDX) fields."""
    x = (0x80 if picture_id is not None else 0) | (0x40 if tl0 is not None else 0)
    out = bytes(((0x80 if x else 0) | (0x10 if start else 0),))
    if x:
        out += bytes((x,))
    if picture_id is not None:
        out += bytes((0x80 | picture_id >> 8, picture_id & 0xFF)) if long_id else bytes((picture_id & 0x7F,))
    if tl0 is not None:
        out += bytes((tl0,))
    return out


def test_the_two_numbers_are_read_from_any_descriptor_layout() -> None:
    assert descriptor_ids(descriptor(0x1234, 77) + b"\x9d") == (0x1234, 77)
    assert descriptor_ids(descriptor(100, None, long_id=False)) == (100, None)
    assert descriptor_ids(descriptor(None, 5)) == (None, 5)
    assert descriptor_ids(descriptor(None, None) + b"\x00\x9d") == (None, None)
    assert descriptor_ids(b"") == (None, None)
    assert descriptor_ids(bytes((0x90, 0x80))) == (None, None)  # cut short: nothing read past the end


def test_shifting_moves_both_numbers_with_wrap_and_leaves_the_rest_alone() -> None:
    head = b"\xbe\xde\x00\x01\x10\x00\x00\x00"  # an extension block before the payload
    data = head + descriptor(0x7FFE, 255) + b"payload"
    out = shift_ids(data, len(head), 3, 2)
    assert out[: len(head)] == head and out.endswith(b"payload") and len(out) == len(data)
    assert descriptor_ids(out, len(head)) == (1, 1)
    short = descriptor(127, None, long_id=False) + b"x"
    assert descriptor_ids(shift_ids(short, 0, 2, 0)) == (1, None)
    plain = descriptor(None, None) + b"x"
    assert shift_ids(plain, 0, 5, 5) is plain
    for cut in range(len(data)):
        shift_ids(data[:cut], min(len(head), cut), 3, 2)  # never raises on a truncated packet


def test_numbers_stay_continuous_across_shifted_epochs() -> None:
    # what the viewer sees: layer A's pictures, then layer B's from its keyframe, B numbered on from A's last
    a = [(5000 + i, 40 + i) for i in range(5)]
    b = [(30000 + i, 200 + i) for i in range(5)]
    last_pid, last_tl0 = a[-1]
    pid_shift = (last_pid + 1 - b[0][0]) % 0x8000
    tl0_shift = (last_tl0 + 1 - b[0][1]) % 0x100
    seen = a + [descriptor_ids(shift_ids(descriptor(p, t), 0, pid_shift, tl0_shift)) for p, t in b]
    assert all((q[0] - p[0]) % 0x8000 == 1 and (q[1] - p[1]) % 0x100 == 1 for p, q in itertools.pairwise(seen))
