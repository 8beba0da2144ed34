"""Emote images are told by their bytes: PNG, GIF and the three WebP flavours give their size from the header;
anything else, or a truncated header, is ``bad_emote``."""

from __future__ import annotations

import struct

import pytest

from subscriptions.errors import BadEmoteError
from subscriptions.images import inspect_image


def _png(w: int, h: int) -> bytes:
    return (
        b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0) + b"crc!"
    )


def _riff(chunk: bytes, body: bytes) -> bytes:
    data = chunk + struct.pack("<I", len(body)) + body
    return b"RIFF" + struct.pack("<I", 4 + len(data)) + b"WEBP" + data


def _webp_lossy(w: int, h: int) -> bytes:
    # frame tag (3 bytes), start code, then 14-bit width and height (scale bits zero)
    return _riff(b"VP8 ", b"\x10\x02\x00" + b"\x9d\x01\x2a" + struct.pack("<HH", w, h) + b"\x00" * 8)


def _webp_lossless(w: int, h: int) -> bytes:
    bits = (w - 1) | ((h - 1) << 14)
    return _riff(b"VP8L", b"\x2f" + struct.pack("<I", bits) + b"\x00" * 8)


def _webp_extended(w: int, h: int) -> bytes:
    return _riff(b"VP8X", b"\x10\x00\x00\x00" + (w - 1).to_bytes(3, "little") + (h - 1).to_bytes(3, "little"))


@pytest.mark.parametrize(
    ("data", "kind", "size"),
    [
        (_png(112, 56), "image/png", (112, 56)),
        (b"GIF89a" + struct.pack("<HH", 64, 32) + b"\x00\x00\x00;", "image/gif", (64, 32)),
        (b"GIF87a" + struct.pack("<HH", 7, 9) + b"\x00\x00\x00;", "image/gif", (7, 9)),
        (_webp_lossy(100, 28), "image/webp", (100, 28)),
        (_webp_lossless(28, 112), "image/webp", (28, 112)),
        (_webp_extended(128, 1), "image/webp", (128, 1)),
    ],
)
def test_the_type_and_size_come_from_the_header(data: bytes, kind: str, size: tuple[int, int]) -> None:
    info = inspect_image(data)
    assert (info.content_type, (info.width, info.height)) == (kind, size)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"<svg xmlns='http://www.w3.org/2000/svg'/>",
        b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",  # a JPEG
        b"BM" + b"\x00" * 60,  # a BMP
        _png(28, 28)[:20],  # truncated before the size
        b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIEND" + b"\x00" * 20,  # no IHDR first
        _png(0, 28),  # no size
        b"GIF89a\x01",
        _riff(b"VP8 ", b"\x00" * 20),  # no keyframe start code
        b"RIFF\x00\x00\x00\x00WAVEfmt ",  # RIFF but not WebP
    ],
)
def test_anything_else_is_a_bad_emote(data: bytes) -> None:
    with pytest.raises(BadEmoteError):
        inspect_image(data)
