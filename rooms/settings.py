"""The rooms package's settings: plain values, each default written here once (``hub.settings`` reads ``HUB_*``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoomsSettings:
    #: Chat messages per user, every room together (token bucket: burst, then this many per second).
    chat_burst: int = 5
    chat_per_second: float = 1.0
    #: At most one ``viewers:count`` per room member per interval.
    viewers_interval_s: float = 2.0
    #: Likes are summed and sent as ``likes:update`` at most once per interval.
    likes_interval_s: float = 0.3
    #: Directory thumbnails: a new picture of each live stream at most this often (0: none are made). The node that
    #: holds the publisher decodes one cached keyframe per interval (a picture changes only with a new keyframe).
    thumbnail_interval_s: float = 10.0
    #: Thumbnail width in pixels (height in proportion; never wider than the stream).
    thumbnail_width: int = 320
    #: ``jpeg`` or ``webp``.
    thumbnail_format: str = "jpeg"
    #: Encoder quality, 1-100.
    thumbnail_quality: int = 75

    def __post_init__(self) -> None:
        if self.thumbnail_format not in ("jpeg", "webp"):
            raise ValueError("thumbnail_format must be jpeg or webp")
        if not 16 <= self.thumbnail_width <= 1920:
            raise ValueError("thumbnail_width must be 16 to 1920 pixels")
        if not 1 <= self.thumbnail_quality <= 100:
            raise ValueError("thumbnail_quality must be 1 to 100")
        if self.thumbnail_interval_s < 0:
            raise ValueError("thumbnail_interval_s must be 0 (off) or more")


DEFAULTS = RoomsSettings()
