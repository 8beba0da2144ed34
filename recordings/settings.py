"""Recordings' tunables (``hub/settings.py`` reads them from the environment)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RecordingsSettings:
    #: Where recordings are written (segments while recording, then the joined file), on the recording node.
    directory: str = "var/recordings"
    #: A new segment file starts at the first keyframe after this many seconds: a crash loses at most one segment.
    segment_s: float = 10.0
    #: Packets the recorder's queue holds; more are dropped from the recording (counted), never waited for.
    queue_packets: int = 8192
    #: Finished recordings older than this are deleted (oldest first); 0 keeps them forever.
    retention_days: float = 30.0
    #: Bytes of recordings per streamer; a recording that would pass it stops (and a new one is refused).
    quota_bytes_per_streamer: int = 5 * 1024**3
    #: Bytes of recordings on the whole platform; same rule.
    quota_bytes_total: int = 100 * 1024**3
    #: ``local`` (default) or ``s3``.
    storage: str = "local"
    #: S3-compatible store: endpoint URL (empty: AWS), bucket, region, keys (empty: the SDK's own chain).
    s3_endpoint: str = ""
    s3_bucket: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = ""
    s3_secret_key: str = ""

    def __post_init__(self) -> None:
        if self.segment_s <= 0 or self.queue_packets < 1:
            raise ValueError("segment_s and queue_packets must be positive")
        if self.retention_days < 0 or self.quota_bytes_per_streamer < 0 or self.quota_bytes_total < 0:
            raise ValueError("retention and quotas must not be negative")
        if self.storage not in ("local", "s3"):
            raise ValueError("storage must be local or s3")
        if self.storage == "s3" and not self.s3_bucket:
            raise ValueError("s3 storage needs a bucket")
