from __future__ import annotations

import struct

from sfu.keyframe import h264_is_keyframe, keyframe_detector, vp8_is_keyframe_start


def vp8(*, start: bool = True, pid: int = 0, key: bool = True, picture_id: int | None = None) -> bytes:
    first = (0x10 if start else 0) | pid
    descriptor = bytes((first,))
    if picture_id is not None:
        descriptor = bytes((first | 0x80, 0x80)) + (
            struct.pack("!H", 0x8000 | picture_id) if picture_id > 127 else bytes((picture_id,))
        )
    return descriptor + bytes((0x00 if key else 0x01, 0x9D, 0x01, 0x2A))


def test_vp8_keyframe_start_is_detected_with_and_without_picture_id() -> None:
    assert vp8_is_keyframe_start(vp8())
    assert vp8_is_keyframe_start(vp8(picture_id=5))
    assert vp8_is_keyframe_start(vp8(picture_id=3000))


def test_vp8_interframes_and_continuation_packets_are_not_keyframe_starts() -> None:
    assert not vp8_is_keyframe_start(vp8(key=False))
    assert not vp8_is_keyframe_start(vp8(start=False))
    assert not vp8_is_keyframe_start(vp8(pid=1))
    assert not vp8_is_keyframe_start(b"")
    assert not vp8_is_keyframe_start(b"\x90")


def test_h264_idr_sps_stap_a_and_fu_a_start_are_keyframes() -> None:
    assert h264_is_keyframe(bytes((0x65, 0x88)))  # IDR slice
    assert h264_is_keyframe(bytes((0x67, 0x42)))  # SPS
    stap_a = bytes((0x78,)) + struct.pack("!H", 2) + bytes((0x67, 0x42)) + struct.pack("!H", 2) + bytes((0x68, 0xCE))
    assert h264_is_keyframe(stap_a)
    assert h264_is_keyframe(bytes((0x7C, 0x85, 0x00)))  # FU-A, start bit, IDR


def test_h264_non_idr_slices_and_fu_a_continuations_are_not_keyframes() -> None:
    assert not h264_is_keyframe(bytes((0x41, 0x9A)))  # non-IDR slice
    assert not h264_is_keyframe(bytes((0x7C, 0x05, 0x00)))  # FU-A continuation of an IDR
    assert not h264_is_keyframe(bytes((0x7C, 0x81, 0x00)))  # FU-A start of a non-IDR slice
    stap_a = bytes((0x78,)) + struct.pack("!H", 2) + bytes((0x41, 0x9A))
    assert not h264_is_keyframe(stap_a)
    assert not h264_is_keyframe(b"")


def test_audio_has_no_keyframe_detector() -> None:
    assert keyframe_detector("audio/opus") is None
    assert keyframe_detector("video/VP8") is vp8_is_keyframe_start
    assert keyframe_detector("video/H264") is h264_is_keyframe
