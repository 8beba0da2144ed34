"""The SFU in worker processes: the same API and behaviour as in-process, media served by the workers."""

from __future__ import annotations

import asyncio
import os

import pytest

from sfu import (
    InvalidSdpError,
    PublisherStarted,
    SessionClosed,
    SfuEvent,
    SfuSettings,
    StreamNotLiveError,
    render_thumbnail,
)
from sfu.workers import SfuWorkerPool
from tests.support.sfu_peers import Publisher, Viewer, assert_keeping_up, keeps_up
from tests.support.waiting import until

pytestmark = pytest.mark.slow


async def test_streams_are_forwarded_by_worker_processes_behind_the_same_api() -> None:
    pool = SfuWorkerPool(SfuSettings(announced_ips=("127.0.0.1",)), workers=2)
    events: list[SfuEvent] = []

    async def record(event: SfuEvent) -> None:
        events.append(event)

    pool.add_listener(record)
    publishers: list[Publisher] = []
    viewers: list[Viewer] = []
    try:
        for stream in ("w-1", "w-2"):
            publisher = Publisher(audio=False)
            _, answer = await pool.publish(stream, await publisher.offer(), {"stream": stream})
            await publisher.accept(answer)
            publishers.append(publisher)
            for _ in range(2):
                viewer = Viewer(audio=False)
                _, answer = await pool.subscribe(stream, await viewer.offer())
                await viewer.accept(answer)
                viewers.append(viewer)
        assert await until(lambda: all(v.video and v.video.count >= 30 for v in viewers), timeout=15)
        for index, publisher in enumerate(publishers):  # each stream's viewers keep up with its publisher
            assert_keeping_up(await keeps_up(publisher, viewers[2 * index : 2 * index + 2]))
        assert pool.is_live("w-1") and pool.has_publisher("w-2") and not pool.is_live("nope")
        workers = pool.stats()["workers"]
        assert len({w["pid"] for w in workers}) == 2 and os.getpid() not in {w["pid"] for w in workers}
        assert sorted(w["streams"] for w in workers) == [1, 1]  # one stream per worker
        assert await until(lambda: sum(r["relay"] is None for r in pool.stats()["routers"]) == 2, timeout=3)
        assert await until(lambda: sum(c.get("viewers", 0) for c in pool.stats()["consumers"]) == 4, timeout=3)
        folded = pool.stats()["consumers"]
        per_stream: dict[str, int] = {}
        for entry in folded:
            per_stream[entry["stream_id"]] = per_stream.get(entry["stream_id"], 0) + entry["viewers"]
        assert per_stream == {"w-1": 2, "w-2": 2}
        assert all(c["packets"] > 0 for c in folded)
        assert {type(e) for e in events} >= {PublisherStarted}
        with pytest.raises(InvalidSdpError) as bad:
            await pool.publish("w-3", "v=0\r\nnot sdp")
        assert bad.value.status == 400 and bad.value.code == "invalid_sdp"
        with pytest.raises(StreamNotLiveError):
            await pool.subscribe("nobody", await Viewer().offer())
        viewer_session = next(e for e in events if isinstance(e, PublisherStarted)).session_id
        assert pool.session_stream(viewer_session) in ("w-1", "w-2")
        await pool.close_session(viewer_session)
        assert await until(lambda: any(isinstance(e, SessionClosed) for e in events), timeout=5)
    finally:
        for client in [*viewers, *publishers]:
            await client.close()
        await pool.close()
    assert all(not w.process.is_alive() for w in pool._workers)


async def test_a_dead_worker_fails_its_calls_cleanly_and_new_streams_go_to_the_others() -> None:
    pool = SfuWorkerPool(SfuSettings(announced_ips=("127.0.0.1",)), workers=2)
    publisher = Publisher(audio=False)
    try:
        _, answer = await pool.publish("d-1", await publisher.offer())
        await publisher.accept(answer)
        victim = next(w for w in pool._workers if "d-1" in w.state)
        victim.process.kill()
        assert await until(lambda: not victim.alive, timeout=5)
        assert not pool.is_live("d-1")
        with pytest.raises(StreamNotLiveError):
            await pool.subscribe("d-1", await Viewer().offer())
        other = Publisher(audio=False)
        _, answer = await pool.publish("d-2", await other.offer())
        await other.accept(answer)
        assert pool.has_publisher("d-2") and next(w for w in pool._workers if "d-2" in w.state) is not victim
        await other.close()
    finally:
        await publisher.close()
        await pool.close()


async def test_one_streams_viewers_spread_over_both_workers_each_fed_exactly_one_copy() -> None:
    # ingest_cost_viewers=0: four viewers split 2 + 2 (with the publisher's cost counted they would all go to the
    # worker without it; tests/unit/sfu/test_worker_placement.py covers that arithmetic)
    pool = SfuWorkerPool(
        SfuSettings(announced_ips=("127.0.0.1",), gop_refresh_s=60.0), workers=2, ingest_cost_viewers=0
    )
    events: list[SfuEvent] = []

    async def record(event: SfuEvent) -> None:
        events.append(event)

    pool.add_listener(record)
    publisher = Publisher()
    viewers: list[Viewer] = []
    try:
        _, answer = await pool.publish("one", await publisher.offer())
        await publisher.accept(answer)
        assert await until(lambda: pool.is_live("one"), timeout=10)
        viewers.extend(Viewer() for _ in range(4))
        offers = [await viewer.offer() for viewer in viewers]
        # all four join at once: placement counts a viewer from the moment its worker is chosen
        answers = await asyncio.gather(*(pool.subscribe("one", offer) for offer in offers))
        for viewer, (_, answer) in zip(viewers, answers, strict=True):
            await viewer.accept(answer)
        assert await until(lambda: all(v.video and v.video.count >= 30 for v in viewers), timeout=20)
        assert_keeping_up(await keeps_up(publisher, viewers))
        for viewer in viewers:
            assert viewer.audio is not None and viewer.audio.count > 10  # Opus decoded through the pipe too
        workers = pool.stats()["workers"]
        assert sorted(w["viewers"] for w in workers) == [2, 2]  # least-loaded placement
        assert sorted(w["streams"] for w in workers) == [0, 1] and sorted(w["relayed_streams"] for w in workers) == [
            0,
            1,
        ]
        routers = pool.stats()["routers"]
        root = next(r for r in routers if r["relay"] is None)
        relayed = next(r for r in routers if r["relay"] is not None)
        assert len(root["pipes"]) == 1  # one copy to the other worker, whatever its audience
        root_video = next(p for p in root["producers"] if p["kind"] == "video")
        relayed_video = next(p for p in relayed["producers"] if p["kind"] == "video")
        assert relayed_video["consumers"] == 2 and root_video["consumers"] == 3  # 2 viewers + the pipe
        # stats are pushed by each worker every second, so the two counts are up to a second apart
        assert 0.6 * root_video["packets"] <= relayed_video["packets"] <= 1.4 * root_video["packets"]
        assert [w["codec_objects"] for w in workers] == [0, 0]  # no decoder, no encoder in either worker
        # A thumbnail's keyframe leaves the root worker as RTP payloads: decoded in this process, not in a worker.
        snap = await pool.keyframe("one", 160)
        assert snap is not None and snap.mime_type.lower() == "video/vp8" and snap.payloads
        assert render_thumbnail(snap, width=160).width == 160
        assert not [e for e in events if type(e).__name__.startswith("Relay")]  # internal plumbing stays inside
        assert pool.has_publisher("one") and not pool.has_relay("one")
        # A transcoded ladder runs in the stream's root worker (next to the producer it reads), capped node-wide.
        assert await pool.set_ladder("one", True) is True

        def ladder_reported() -> bool:
            return any(r["ladder"] and r["ladder"]["frames_decoded"] > 0 for r in pool.stats()["routers"])

        assert await until(ladder_reported, timeout=10)
        assert await pool.set_ladder("one", False) is False
        await pool.end_stream("one", "stream_ended")
        assert await until(lambda: not pool.is_live("one"), timeout=3)
        assert await until(lambda: sum(isinstance(e, SessionClosed) and e.role == "viewer" for e in events) == 4, 5)
    finally:
        for client in [*viewers, publisher]:
            await client.close()
        await pool.close()


async def test_a_relay_from_another_node_is_spread_over_the_workers_like_a_local_stream() -> None:
    from sfu import RelayStarted, SfuService

    secret = "cluster-secret"
    origin = SfuService(SfuSettings(announced_ips=("127.0.0.1",), relay_secret=secret, gop_refresh_s=60.0))
    pool = SfuWorkerPool(SfuSettings(announced_ips=("127.0.0.1",), relay_secret=secret, gop_refresh_s=60.0), 2)
    events: list[SfuEvent] = []

    async def record(event: SfuEvent) -> None:
        events.append(event)

    pool.add_listener(record)
    publisher = Publisher(audio=False)
    viewers = [Viewer(audio=False) for _ in range(2)]
    try:
        _, answer = await origin.publish("far", await publisher.offer())
        await publisher.accept(answer)
        relay_id = await pool.attach_relay("far", await origin.open_origin_pipe("far"))
        assert pool.is_live("far") and pool.has_relay("far") and not pool.has_publisher("far")
        offers = [await viewer.offer() for viewer in viewers]
        answers = await asyncio.gather(*(pool.subscribe("far", offer) for offer in offers))
        for viewer, (_, answer) in zip(viewers, answers, strict=True):
            await viewer.accept(answer)
        assert await until(lambda: all(v.video and v.video.count >= 30 for v in viewers), timeout=20)
        assert_keeping_up(await keeps_up(publisher, viewers))
        assert sorted(w["viewers"] for w in pool.stats()["workers"]) == [1, 1]
        assert len(origin._pipes) == 1  # the node pulls one copy; its second worker is fed inside the node
        assert [e.relay_id for e in events if isinstance(e, RelayStarted)] == [relay_id]
        await origin.end_stream("far", "stream_ended")  # a final end at the origin reaches every worker
        assert await until(lambda: not pool.is_live("far"), timeout=3)
    finally:
        for client in [*viewers, publisher]:
            await client.close()
        await pool.close()
        await origin.close()


async def test_a_workers_internal_relay_is_torn_down_after_its_last_viewer_leaves_but_not_on_churn() -> None:
    # ingest_cost_viewers=0: the first viewer stays on the root worker, the second goes to the other one
    pool = SfuWorkerPool(
        SfuSettings(announced_ips=("127.0.0.1",), gop_refresh_s=60.0),
        workers=2,
        relay_linger_s=1.0,
        ingest_cost_viewers=0,
    )
    publisher = Publisher(audio=False)
    clients: list[Viewer] = []

    async def join() -> tuple[str, Viewer]:
        viewer = Viewer(audio=False)
        session_id, answer = await pool.subscribe("idle", await viewer.offer())
        await viewer.accept(answer)
        clients.append(viewer)
        return session_id, viewer

    def pipes() -> list[str]:
        root = [r for r in pool.stats()["routers"] if r["stream_id"] == "idle" and r["relay"] is None]
        return [p["id"] for r in root for p in r["pipes"]]

    def relayed_streams() -> int:
        return sum(w["relayed_streams"] for w in pool.stats()["workers"])

    try:
        _, answer = await pool.publish("idle", await publisher.offer())
        await publisher.accept(answer)
        assert await until(lambda: pool.is_live("idle"), timeout=10)
        stay_id, stay = await join()
        far_id, far = await join()
        root = pool._worker_of("idle")
        assert pool._viewers[stay_id] is root and pool._viewers[far_id] is not root  # one viewer per worker
        assert await until(lambda: far.video is not None and far.video.count >= 10, timeout=20)
        assert await until(lambda: len(pipes()) == 1, timeout=3)
        first_pipe = pipes()[0]
        # churn: the other worker's viewer leaves and another joins there within the linger: the same pipe serves it
        await pool.close_session(far_id)
        again_id, again = await join()
        assert pool._viewers[again_id] is not root
        assert await until(lambda: again.video is not None and again.video.count >= 10, timeout=20)
        await asyncio.sleep(1.5)  # past the linger
        assert pipes() == [first_pipe] and relayed_streams() == 1
        # its last viewer leaves: after the linger the worker's copy and the root's pipe are gone
        await pool.close_session(again_id)
        assert await until(lambda: pipes() == [] and relayed_streams() == 0, timeout=6)
        assert not [k for k in pool._internal.get("idle", {})]
        before = stay.video.count if stay.video else 0
        assert await until(lambda: stay.video is not None and stay.video.count >= before + 10, timeout=10)
        # a new viewer on the other worker is piped a fresh copy and decodes
        late_id, late = await join()
        assert pool._viewers[late_id] is not root
        assert await until(lambda: late.video is not None and late.video.count >= 10, timeout=20)
        assert await until(lambda: len(pipes()) == 1 and pipes() != [first_pipe], timeout=3)
    finally:
        for client in [*clients, publisher]:
            await client.close()
        await pool.close()
