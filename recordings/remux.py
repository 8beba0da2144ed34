"""Joining a recording's segments into one seekable file, without transcoding (PyAV demux → mux).

Each segment is a complete WebM or MP4 file on the recording's own timeline (``sfu/recorder.py``), so packets are
copied in order with their timestamps as they are; the joined file gets its index written at close (WebM cues,
an MP4 ``moov`` moved to the front), which is what lets a player seek with HTTP Range requests.
"""

from __future__ import annotations

from typing import Any

import av


def join(paths: list[str], out_path: str, fmt: str) -> tuple[int, int, float]:
    """Write ``paths`` (segment files, in order) into ``out_path`` as ``fmt`` (``webm`` or ``mp4``); returns (video
    packets, audio packets, duration in seconds from the first packet to the last one's end)."""
    options = {"movflags": "+faststart"} if fmt == "mp4" else {}
    counts = {"video": 0, "audio": 0}
    first: float | None = None
    last = 0.0
    with av.open(out_path, "w", format=fmt, options=options) as out:
        streams: dict[str, Any] = {}
        last_dts: dict[str, int] = {}
        for path in paths:
            with av.open(path) as source:
                mapping: dict[int, Any] = {}
                for stream in source.streams:
                    if stream.type not in ("video", "audio"):
                        continue
                    if stream.type not in streams:
                        streams[stream.type] = out.add_stream_from_template(stream)
                    mapping[stream.index] = streams[stream.type]
                for packet in source.demux():
                    target = mapping.get(packet.stream.index)
                    if target is None or packet.dts is None:
                        continue
                    kind = target.type
                    dts = round(packet.dts * packet.time_base / target.time_base) if target.time_base else packet.dts
                    if kind in last_dts and dts <= last_dts[kind]:
                        continue  # an overlap between segments: keep the earlier copy
                    last_dts[kind] = dts
                    seconds = float(packet.pts * packet.time_base) if packet.pts is not None else 0.0
                    end = seconds + float((packet.duration or 0) * packet.time_base)
                    first = seconds if first is None else min(first, seconds)
                    last = max(last, end)
                    packet.stream = target
                    out.mux(packet)
                    counts[kind] += 1
    return counts["video"], counts["audio"], (last - first) if first is not None else 0.0
