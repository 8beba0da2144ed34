"""MongoDB access for recordings. Collection owned here: ``recordings`` (one document per recording: ``_id``,
``stream_id``, ``streamer_id``, ``title``, ``state``, ``node``, ``started_at``, ``ended_at``, ``segments`` (a list of
finished segments), ``media_key``, ``media_type``, ``size_bytes`` (every stored file of the recording),
``duration_s``, ``stop_reason``, ``dropped_packets``, ``stop_requested``), ``recording_prefs`` (``_id`` = the
streamer, ``auto``: record every time they go live)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING

from recordings.models import Recording, RecordingState, Segment


def _segment(doc: dict[str, Any]) -> Segment:
    return Segment(
        int(doc["index"]),
        str(doc["key"]),
        float(doc["start_s"]),
        float(doc["duration_s"]),
        int(doc["size_bytes"]),
        int(doc["video_frames"]),
        int(doc["audio_frames"]),
    )


def _recording(doc: dict[str, Any]) -> Recording:
    return Recording(
        id=str(doc["_id"]),
        stream_id=str(doc["stream_id"]),
        streamer_id=str(doc["streamer_id"]),
        title=str(doc.get("title", "")),
        state=RecordingState(doc["state"]),
        node_id=str(doc.get("node", "")),
        started_at=doc["started_at"],
        ended_at=doc.get("ended_at"),
        segments=tuple(sorted((_segment(s) for s in doc.get("segments", ())), key=lambda s: s.index)),
        media_key=doc.get("media_key"),
        media_type=str(doc.get("media_type", "video/webm")),
        size_bytes=int(doc.get("size_bytes", 0)),
        duration_s=float(doc.get("duration_s", 0.0)),
        stop_reason=doc.get("stop_reason"),
        dropped_packets=int(doc.get("dropped_packets", 0)),
    )


class RecordingStore:
    def __init__(self, db: Any) -> None:
        self._recordings = db["recordings"]
        self._prefs = db["recording_prefs"]

    async def create_indexes(self) -> None:
        await self._recordings.create_index([("streamer_id", ASCENDING), ("started_at", DESCENDING)])
        await self._recordings.create_index([("state", ASCENDING)])

    async def insert(self, recording: Recording) -> None:
        await self._recordings.insert_one(
            {
                "_id": recording.id,
                "stream_id": recording.stream_id,
                "streamer_id": recording.streamer_id,
                "title": recording.title,
                "state": recording.state.value,
                "node": recording.node_id,
                "started_at": recording.started_at,
                "segments": [],
                "media_type": recording.media_type,
                "size_bytes": 0,
                "duration_s": 0.0,
                "stop_requested": None,
            }
        )

    async def claim(self, recording_id: str, node_id: str) -> bool:
        """A running recording not held by another node becomes this node's (the node with the publisher)."""
        result = await self._recordings.update_one(
            {"_id": recording_id, "state": RecordingState.RECORDING.value, "node": {"$in": ["", node_id]}},
            {"$set": {"node": node_id}},
        )
        return bool(result.matched_count)

    async def release(self, recording_id: str, node_id: str) -> None:
        """The publisher left this node (it may come back elsewhere): any node with the publisher may continue."""
        await self._recordings.update_one(
            {"_id": recording_id, "state": RecordingState.RECORDING.value, "node": node_id},
            {"$set": {"node": ""}},
        )

    async def request_stop(self, recording_id: str, reason: str) -> None:
        """Ask the recording node to stop (the first reason asked is kept)."""
        await self._recordings.update_one(
            {"_id": recording_id, "state": RecordingState.RECORDING.value, "stop_requested": None},
            {"$set": {"stop_requested": reason}},
        )

    async def stop_reason(self, recording_id: str) -> str | None:
        """Why a stop was asked (``stopped``, ``recording_quota_exceeded``), None if none was."""
        doc = await self._recordings.find_one({"_id": recording_id}, {"stop_requested": True})
        reason = doc.get("stop_requested") if doc else None
        return str(reason) if reason else None

    async def auto_record(self, streamer_id: str) -> bool:
        doc = await self._prefs.find_one({"_id": streamer_id})
        return bool(doc and doc.get("auto"))

    async def set_auto_record(self, streamer_id: str, auto: bool) -> None:
        await self._prefs.update_one({"_id": streamer_id}, {"$set": {"auto": auto}}, upsert=True)

    async def get(self, recording_id: str) -> Recording | None:
        doc = await self._recordings.find_one({"_id": recording_id})
        return _recording(doc) if doc is not None else None

    async def running_of_stream(self, stream_id: str) -> Recording | None:
        doc = await self._recordings.find_one({"stream_id": stream_id, "state": RecordingState.RECORDING.value})
        return _recording(doc) if doc is not None else None

    async def running(self) -> list[Recording]:
        docs = await self._recordings.find({"state": RecordingState.RECORDING.value}).to_list(None)
        return [_recording(d) for d in docs]

    async def of_streamer(self, streamer_id: str, states: tuple[RecordingState, ...], limit: int) -> list[Recording]:
        docs = (
            await self._recordings.find({"streamer_id": streamer_id, "state": {"$in": [s.value for s in states]}})
            .sort("started_at", DESCENDING)
            .to_list(limit)
        )
        return [_recording(d) for d in docs]

    async def add_segment(self, recording_id: str, segment: Segment, media_type: str) -> bool:
        """Append a finished segment once (a repeated event adds nothing); False if it was there already."""
        result = await self._recordings.update_one(
            {"_id": recording_id, "segments.index": {"$ne": segment.index}},
            {
                "$push": {
                    "segments": {
                        "index": segment.index,
                        "key": segment.key,
                        "start_s": segment.start_s,
                        "duration_s": segment.duration_s,
                        "size_bytes": segment.size_bytes,
                        "video_frames": segment.video_frames,
                        "audio_frames": segment.audio_frames,
                    }
                },
                "$inc": {"size_bytes": segment.size_bytes, "duration_s": segment.duration_s},
                "$set": {"media_type": media_type},
            },
        )
        return bool(result.modified_count)

    async def mark_finishing(self, recording_id: str, at: datetime, reason: str, dropped: int) -> bool:
        """recording → finishing, once."""
        result = await self._recordings.update_one(
            {"_id": recording_id, "state": RecordingState.RECORDING.value},
            {
                "$set": {
                    "state": RecordingState.FINISHING.value,
                    "ended_at": at,
                    "stop_reason": reason,
                    "dropped_packets": dropped,
                }
            },
        )
        return bool(result.modified_count)

    async def mark_ready(self, recording_id: str, media_key: str, size_bytes: int, duration_s: float) -> None:
        """The joined file replaces the segments (their files are deleted by the caller)."""
        await self._recordings.update_one(
            {"_id": recording_id},
            {
                "$set": {
                    "state": RecordingState.PLAYABLE.value,
                    "media_key": media_key,
                    "size_bytes": size_bytes,
                    "duration_s": duration_s,
                }
            },
        )

    async def mark_failed(self, recording_id: str, reason: str) -> None:
        await self._recordings.update_one(
            {"_id": recording_id},
            {"$set": {"state": RecordingState.FAILED.value, "stop_reason": reason}},
        )

    async def stuck_finishing(self, node_id: str) -> list[Recording]:
        """Recordings this node was joining when it stopped (they are joined again at start-up)."""
        docs = await self._recordings.find({"state": RecordingState.FINISHING.value, "node": node_id}).to_list(None)
        return [_recording(d) for d in docs]

    async def running_on(self, node_id: str) -> list[Recording]:
        docs = await self._recordings.find({"state": RecordingState.RECORDING.value, "node": node_id}).to_list(None)
        return [_recording(d) for d in docs]

    async def bytes_used(self, streamer_id: str | None = None) -> int:
        query: dict[str, Any] = {} if streamer_id is None else {"streamer_id": streamer_id}
        total = 0
        async for doc in self._recordings.find(query, {"size_bytes": True}):
            total += int(doc.get("size_bytes", 0))
        return total

    async def oldest_finished(self, streamer_id: str | None, limit: int) -> list[Recording]:
        query: dict[str, Any] = {"state": {"$in": [RecordingState.PLAYABLE.value, RecordingState.FAILED.value]}}
        if streamer_id is not None:
            query["streamer_id"] = streamer_id
        docs = await self._recordings.find(query).sort("started_at", ASCENDING).to_list(limit)
        return [_recording(d) for d in docs]

    async def finished_before(self, before: datetime, limit: int) -> list[Recording]:
        docs = (
            await self._recordings.find(
                {
                    "state": {"$in": [RecordingState.PLAYABLE.value, RecordingState.FAILED.value]},
                    "started_at": {"$lt": before},
                }
            )
            .sort("started_at", ASCENDING)
            .to_list(limit)
        )
        return [_recording(d) for d in docs]

    async def delete(self, recording_id: str) -> None:
        await self._recordings.delete_one({"_id": recording_id})
