"""Recordings through the hub: a streamer publishes over WHIP (a real aiortc peer), records over the HTTP API,
stops; the recording is joined into one seekable WebM that anyone plays with Range requests; the streamer's
profile lists it; quota, retention and who may do what."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from recordings.storage_s3 import S3Storage
from tests.conftest import make_settings
from tests.support.api import auth, create_stream, register
from tests.support.recording_peers import SyncedPublisher, decode
from tests.support.servers import free_port
from tests.support.waiting import until

pytestmark = pytest.mark.slow

SDP = {"Content-Type": "application/sdp"}


@pytest.fixture
async def rec_hub(db_name: str, mongo_client: Any, tmp_path: Path) -> AsyncIterator[Hub]:
    hub = Hub(
        make_settings(db_name, recordings_dir=str(tmp_path / "rec"), recordings_segment_s=2),
        mongo_client=mongo_client,
    )
    await hub.start()
    yield hub
    await hub.close()


@pytest.fixture
async def rec_client(rec_hub: Hub) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(rec_hub, own_hub=False), client=("127.0.0.1", 50002))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
        yield client


async def _publish(client: httpx.AsyncClient, stream: dict[str, Any], hub: Hub) -> SyncedPublisher:
    publisher = SyncedPublisher()
    r = await client.post(
        f"/api/v1/whip/{stream['id']}",
        content=await publisher.offer(),
        headers={**SDP, "Authorization": f"Bearer {stream['stream_key']}"},
    )
    assert r.status_code == 201, r.text
    await publisher.accept(r.text)

    def flowing() -> bool:
        routers = hub.sfu_wiring.local_sfu.stats()["routers"]
        return bool(routers) and sum(p["packets"] > 20 for p in routers[0]["producers"]) == 2

    assert await until(flowing, 15)
    return publisher


async def _ready(client: httpx.AsyncClient, recording_id: str, headers: dict[str, str]) -> dict[str, Any]:
    async def state() -> bool:
        r = await client.get(f"/api/v1/recordings/{recording_id}", headers=headers)
        return r.status_code == 200 and r.json()["state"] in ("playable", "failed")

    assert await until(state, 20)
    return (await client.get(f"/api/v1/recordings/{recording_id}", headers=headers)).json()  # type: ignore[no-any-return]


async def test_a_streamer_records_and_anyone_plays_the_recording_back_with_range_requests(
    rec_client: httpx.AsyncClient, rec_hub: Hub, tmp_path: Path
) -> None:
    client = rec_client
    owner = await register(client, "Recorder")
    viewer = await register(client, "Watcher")
    stream = await create_stream(client, owner, "Recorded stream")
    base = f"/api/v1/streams/{stream['id']}/recordings"
    assert (await client.post(base, headers=auth(viewer))).status_code == 403
    publisher = await _publish(client, stream, rec_hub)
    try:
        r = await client.post(base, headers=auth(owner))
        assert r.status_code == 201, r.text
        recording = r.json()
        assert recording["state"] == "recording" and recording["media_url"] is None
        assert (await client.post(base, headers=auth(owner))).json()["code"] == "already_recording"
        # While it records, the viewer does not see it; the owner sees its finished segments grow.
        assert (await client.get(f"/api/v1/recordings/{recording['id']}", headers=auth(viewer))).status_code == 404
        await asyncio.sleep(6.5)
        r = await client.post(f"{base}/stop", headers=auth(owner))
        assert r.status_code == 200, r.text
    finally:
        await publisher.close()
    done = await _ready(client, recording["id"], auth(owner))
    assert done["state"] == "playable", done
    assert done["stop_reason"] == "stopped"
    # From the latest keyframe before the start (at most the SFU's GOP refresh, 4 s, earlier) to the stop.
    assert 6.0 <= done["duration_s"] <= 11.5, done
    # Listed on the streamer's profile, for anyone.
    listed = (await client.get(f"/api/v1/users/{owner['user']['id']}/recordings")).json()["items"]
    assert [item["id"] for item in listed] == [recording["id"]]
    # The media: whole, then a byte range (206) as a player seeking asks it.
    url = done["media_url"]
    whole = await client.get(url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "video/webm"
    assert whole.headers["accept-ranges"] == "bytes"
    size = len(whole.content)
    part = await client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{size}"
    assert part.content == whole.content[100:200]
    tail = await client.get(url, headers={"Range": f"bytes={size - 50}-"})
    assert tail.status_code == 206 and tail.content == whole.content[-50:]
    assert (await client.get(url, headers={"Range": f"bytes={size + 10}-"})).status_code == 416
    # The file decodes as one recording, in sync, and has cues (a player can seek without reading it all).
    path = tmp_path / "joined.webm"
    path.write_bytes(whole.content)
    decoded = decode(str(path))
    assert abs(decoded.duration_s - done["duration_s"]) < 0.3, decoded
    assert decoded.video_frames >= 0.7 * 30 * decoded.duration_s, decoded
    offsets = decoded.sync_offsets()
    assert len(offsets) >= 2 and all(abs(o) < 0.1 for o in offsets), (offsets, decoded)
    assert b"\x1c\x53\xbb\x6b" in whole.content  # the Matroska Cues element
    # The segments were replaced by the joined file.
    folder = tmp_path / "rec" / recording["id"]
    assert await until(lambda: sorted(os.listdir(folder)) == [f"{recording['id']}.webm"], 10), os.listdir(folder)
    # Only the streamer (or an admin) deletes it.
    assert (await client.delete(f"/api/v1/recordings/{recording['id']}", headers=auth(viewer))).status_code == 403
    assert (await client.delete(f"/api/v1/recordings/{recording['id']}", headers=auth(owner))).status_code == 204
    assert (await client.get(url)).status_code == 404
    assert not (tmp_path / "rec" / recording["id"]).exists()


async def test_a_recording_stops_when_it_reaches_the_quota_and_a_new_one_is_refused(
    db_name: str, mongo_client: Any, tmp_path: Path
) -> None:
    hub = Hub(
        make_settings(
            db_name,
            recordings_dir=str(tmp_path / "rec"),
            recordings_segment_s=1,
            recordings_quota_bytes_per_streamer=20_000,
        ),
        mongo_client=mongo_client,
    )
    await hub.start()
    transport = httpx.ASGITransport(app=create_app(hub, own_hub=False), client=("127.0.0.1", 50003))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            owner = await register(client, "Quota")
            stream = await create_stream(client, owner, "Quota stream")
            publisher = await _publish(client, stream, hub)
            try:
                r = await client.post(f"/api/v1/streams/{stream['id']}/recordings", headers=auth(owner))
                assert r.status_code == 201, r.text
                done = await _ready(client, r.json()["id"], auth(owner))
                assert done["state"] == "playable"
                assert done["stop_reason"] == "recording_quota_exceeded"
                r = await client.post(f"/api/v1/streams/{stream['id']}/recordings", headers=auth(owner))
                assert r.status_code == 409 and r.json()["code"] == "recording_quota_exceeded"
            finally:
                await publisher.close()
    finally:
        await hub.close()


async def test_retention_deletes_the_oldest_finished_recordings_first(
    rec_client: httpx.AsyncClient, rec_hub: Hub
) -> None:
    client = rec_client
    owner = await register(client, "Keeper")
    stream = await create_stream(client, owner, "Kept")
    base = f"/api/v1/streams/{stream['id']}/recordings"
    ids = []
    for _ in range(3):  # nobody publishes: each recording ends with no segment (failed), which retention also sweeps
        ids.append((await client.post(base, headers=auth(owner))).json()["id"])
        await client.post(f"{base}/stop", headers=auth(owner))
    store = rec_hub.recording_store
    # Age the first two beyond the retention (30 days by default).
    old = rec_hub.clock.now() - timedelta(days=31)
    for recording_id in ids[:2]:
        await store._recordings.update_one({"_id": recording_id}, {"$set": {"started_at": old}})
    assert await rec_hub.recording_service.purge_expired() == 2
    mine = (await client.get(f"/api/v1/users/{owner['user']['id']}/recordings", headers=auth(owner))).json()["items"]
    assert [item["id"] for item in mine] == [ids[2]]


@pytest.fixture
def s3_server() -> Iterator[str]:
    """moto's S3-compatible server on a loopback port (server mode: real HTTP, real SigV4 requests from boto3)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


async def test_with_s3_storage_segments_are_uploaded_as_they_finish_and_any_node_serves_the_recording(
    db_name: str, mongo_client: Any, tmp_path: Path, s3_server: str
) -> None:
    s3 = {
        "recordings_storage": "s3",
        "recordings_s3_endpoint": s3_server,
        "recordings_s3_bucket": "recordings",
        "recordings_s3_access_key": "testing",
        "recordings_s3_secret_key": "testing-secret",
        "recordings_segment_s": 1,
    }
    recorder = Hub(make_settings(db_name, recordings_dir=str(tmp_path / "a"), **s3), mongo_client=mongo_client)
    other = Hub(make_settings(db_name, recordings_dir=str(tmp_path / "b"), **s3), mongo_client=mongo_client)
    await recorder.start()
    await other.start()
    bucket = recorder.recording_storage
    assert isinstance(bucket, S3Storage)

    def keys() -> list[str]:
        listed = bucket._client.list_objects_v2(Bucket="recordings")
        return sorted(o["Key"] for o in listed.get("Contents", ()))

    try:
        transport = httpx.ASGITransport(app=create_app(recorder, own_hub=False), client=("127.0.0.1", 50004))
        other_transport = httpx.ASGITransport(app=create_app(other, own_hub=False), client=("127.0.0.1", 50005))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client,
            httpx.AsyncClient(transport=other_transport, base_url="http://testserver", timeout=30) as elsewhere,
        ):
            owner = await register(client, "S3streamer")
            stream = await create_stream(client, owner, "On S3")
            publisher = await _publish(client, stream, recorder)
            try:
                # Started through the other node: the node holding the publisher records it.
                r = await elsewhere.post(f"/api/v1/streams/{stream['id']}/recordings", headers=auth(owner))
                assert r.status_code == 201, r.text
                recording_id = r.json()["id"]
                # Each finished segment is on the store while the recording goes on (a crash loses only the next).
                assert await until(lambda: len(keys()) >= 2, 20), keys()
                assert all(k.startswith(f"{recording_id}/{recording_id}-") for k in keys())
                r = await elsewhere.post(f"/api/v1/streams/{stream['id']}/recordings/stop", headers=auth(owner))
                assert r.status_code == 200, r.text
            finally:
                await publisher.close()
            done = await _ready(client, recording_id, auth(owner))
            assert done["state"] == "playable", done
            # The segments are replaced by the joined file (deleted right after it is marked playable), and nothing
            # stays on the recording node's disk.
            joined = [f"{recording_id}/{recording_id}.webm"]
            assert await until(lambda: keys() == joined and not any((tmp_path / "a").rglob("*.webm")), 10), keys()
            for node in (client, elsewhere):
                r = await node.get(done["media_url"])
                assert r.status_code == 307
                async with httpx.AsyncClient(timeout=30) as plain:
                    whole = await plain.get(r.headers["location"])
                    assert whole.status_code == 200 and len(whole.content) == done["size_bytes"]
                    part = await plain.get(r.headers["location"], headers={"Range": "bytes=0-99"})
                    assert part.status_code == 206 and part.content == whole.content[:100]
            path = tmp_path / "from-s3.webm"
            path.write_bytes(whole.content)
            decoded = decode(str(path))
            assert decoded.video_frames > 0 and abs(decoded.duration_s - done["duration_s"]) < 0.3
    finally:
        await other.close()
        await recorder.close()
