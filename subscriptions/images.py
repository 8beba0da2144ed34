"""What an uploaded emote image is: the type from its magic bytes (PNG, WebP, GIF; the declared type is never
trusted) and its size from its header, without decoding it."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from subscriptions.errors import BadEmoteError

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True, slots=True)
class ImageInfo:
    content_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """The image's type and size, or ``bad_emote`` for anything but a well-formed PNG, WebP or GIF header."""
    if data.startswith(PNG_MAGIC):
        # The IHDR chunk comes first (PNG spec 5.6): length 13, type, then width and height as big-endian 32 bits.
        if len(data) < 33 or data[12:16] != b"IHDR":
            raise BadEmoteError("the PNG has no image header", field="image")
        width, height = struct.unpack(">II", data[16:24])
        return _sized("image/png", width, height)
    if data[:6] in (b"GIF87a", b"GIF89a"):
        if len(data) < 13:
            raise BadEmoteError("the GIF has no screen descriptor", field="image")
        width, height = struct.unpack("<HH", data[6:10])  # the logical screen (GIF89a spec section 18)
        return _sized("image/gif", width, height)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return _webp(data)
    raise BadEmoteError("an emote must be a PNG, WebP or GIF image", field="image")


def _webp(data: bytes) -> ImageInfo:
    chunk = data[12:16]
    if chunk == b"VP8X" and len(data) >= 30:
        # Extended format: canvas width and height minus one, 24-bit little-endian.
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return _sized("image/webp", width, height)
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        # Lossy: a VP8 keyframe header (RFC 6386 section 9.1), 14-bit sizes.
        width, height = struct.unpack("<HH", data[26:30])
        return _sized("image/webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        # Lossless: 14-bit width and height minus one, packed after the signature byte.
        bits = int.from_bytes(data[21:25], "little")
        return _sized("image/webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    raise BadEmoteError("the WebP image header is not readable", field="image")


def _sized(content_type: str, width: int, height: int) -> ImageInfo:
    if width <= 0 or height <= 0:
        raise BadEmoteError("the image has no size", field="image")
    return ImageInfo(content_type, width, height)
