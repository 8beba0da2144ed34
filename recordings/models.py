"""A recording and its segments, as stored."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


class RecordingState(enum.StrEnum):
    RECORDING = "recording"  # segments are being written
    FINISHING = "finishing"  # stopped; the segments are being joined into one file
    PLAYABLE = "playable"  # the joined, seekable file exists
    FAILED = "failed"  # nothing playable (no segment was finished)


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    key: str  # the segment file's storage key
    start_s: float
    duration_s: float
    size_bytes: int
    video_frames: int
    audio_frames: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "start_s": self.start_s,
            "duration_s": self.duration_s,
            "size_bytes": self.size_bytes,
            "video_frames": self.video_frames,
            "audio_frames": self.audio_frames,
        }


@dataclass(frozen=True, slots=True)
class Recording:
    id: str
    stream_id: str
    streamer_id: str
    title: str
    state: RecordingState
    node_id: str
    started_at: datetime
    ended_at: datetime | None = None
    segments: tuple[Segment, ...] = ()
    #: The joined, seekable file (storage key), once ready.
    media_key: str | None = None
    media_type: str = "video/webm"
    size_bytes: int = 0
    duration_s: float = 0.0
    stop_reason: str | None = None
    dropped_packets: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stream_id": self.stream_id,
            "streamer_id": self.streamer_id,
            "title": self.title,
            "state": self.state.value,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration_s": round(self.duration_s, 3),
            "size_bytes": self.size_bytes,
            "media_type": self.media_type,
            "media_url": f"/api/v1/recordings/{self.id}/media" if self.state is RecordingState.PLAYABLE else None,
            "segments": [s.to_dict() for s in self.segments],
            "stop_reason": self.stop_reason,
        }
