"""Recordings: start and stop (the stream's owner, admins), a streamer's list, one recording, its media (HTTP Range,
or a redirect to the S3 store), delete, and the "record when I go live" preference."""

from __future__ import annotations

import os
from typing import Any

from pydantic import Field
from starlette.responses import FileResponse, RedirectResponse, Response

from core.ids import StreamId, UserId
from mobile_api.routing import Api, Body, Call
from mobile_api.schemas import AutoRecordOut, RecordingListOut, RecordingOut

api = Api()


class AutoRecordBody(Body):
    auto_record: bool = Field(description="record every time I go live")


@api.route(
    "POST",
    "/streams/{stream_id}/recordings",
    summary="Start recording the live stream (its owner or an admin); the node with the publisher records",
    tags=("recordings",),
    response=RecordingOut,
    status=201,
    responses={
        403: "not your stream",
        404: "no such stream",
        409: "already recording, the stream ended, or the recordings quota is used up (recording_quota_exceeded)",
    },
)
async def start_recording(call: Call) -> dict[str, Any]:
    recording = await call.ctx.use.recordings.start(call.principal, StreamId(call.path["stream_id"]))
    return recording.to_dict()


@api.route(
    "POST",
    "/streams/{stream_id}/recordings/stop",
    summary="Stop the stream's recording: its last segment is finished and the recording joined into one file",
    tags=("recordings",),
    response=RecordingOut,
    responses={403: "not your stream", 404: "no such stream", 409: "not recording (not_recording)"},
)
async def stop_recording(call: Call) -> dict[str, Any]:
    recording = await call.ctx.use.recordings.stop(call.principal, StreamId(call.path["stream_id"]))
    return recording.to_dict()


@api.route(
    "GET",
    "/users/{user_id}/recordings",
    summary="A streamer's recordings, newest first: the ready ones; the streamer and admins also see the others",
    tags=("recordings",),
    auth="optional",
    response=RecordingListOut,
)
async def user_recordings(call: Call) -> dict[str, Any]:
    items = await call.ctx.use.recordings.of_user(call.principal, UserId(call.path["user_id"]))
    return {"items": [r.to_dict() for r in items]}


@api.route(
    "GET",
    "/recordings/{recording_id}",
    summary="One recording (ready ones for anyone; the others for the streamer and admins)",
    tags=("recordings",),
    auth="optional",
    response=RecordingOut,
    responses={404: "no such recording"},
)
async def get_recording(call: Call) -> dict[str, Any]:
    recording = await call.ctx.use.recordings.get(call.principal, call.path["recording_id"])
    return recording.to_dict()


@api.route(
    "GET",
    "/recordings/{recording_id}/media",
    summary="The recording's seekable file (WebM or MP4) with HTTP Range support (206), or 307 to the S3 store",
    tags=("recordings",),
    auth="optional",
    produces="video/*",
    responses={
        206: "the requested byte range",
        307: "the file is on the S3 store: Location is a presigned URL (it serves Range itself)",
        404: "no such recording, or not ready",
        416: "the range is outside the file",
    },
)
async def recording_media(call: Call) -> Response:
    recording, located = await call.ctx.use.recordings.media(call.principal, call.path["recording_id"])
    if located.url is not None:
        return RedirectResponse(located.url, status_code=307)
    assert located.path is not None
    return FileResponse(
        located.path,
        media_type=recording.media_type,
        filename=f"{recording.id}{os.path.splitext(located.path)[1]}",
        content_disposition_type="inline",
        headers={"Cache-Control": "private, max-age=3600"},
    )


@api.route(
    "DELETE",
    "/recordings/{recording_id}",
    summary="Delete a recording and its files (the streamer or an admin; not while it records)",
    tags=("recordings",),
    responses={403: "not yours", 404: "no such recording", 409: "still recording"},
)
async def delete_recording(call: Call) -> None:
    await call.ctx.use.recordings.delete(call.principal, call.path["recording_id"])


@api.route(
    "GET",
    "/me/recording-settings",
    summary="My recording preference",
    tags=("recordings",),
    response=AutoRecordOut,
)
async def my_recording_settings(call: Call) -> dict[str, Any]:
    return {"auto_record": await call.ctx.use.recordings.auto_record(call.principal)}


@api.route(
    "PUT",
    "/me/recording-settings",
    summary="Record automatically every time I go live (on or off)",
    tags=("recordings",),
    body=AutoRecordBody,
    response=AutoRecordOut,
)
async def set_my_recording_settings(call: Call) -> dict[str, Any]:
    b = call.body_as(AutoRecordBody)
    return {"auto_record": await call.ctx.use.recordings.set_auto_record(call.principal, b.auto_record)}
