"""Adaptive quality under a changing link: drop, climb and rebuffer figures (issue #13).

Headless Chromium publishes three simulcast layers (960x540 at 15 fps: 240/480/960 wide, at most 150k/500k/1.5M
bit/s) over WHIP to an in-process hub. Viewers (aiortc, decoding every frame) each sit behind their own ``tc htb``
cap on ``lo`` in a network namespace of the script's own (needs root; the script re-runs itself under
``unshare -n``). The cap alternates between ``--low-kbit`` and ``--high-kbit`` every ``--period`` seconds.

Two runs, same link schedule:
- ``bwe``: transport-cc on (``HUB_SFU_TRANSPORT_CC=1``), viewers on Auto: each viewer's estimate picks its layer.
- ``single``: today's single-layer forwarding: the publisher sends one 960x540 stream (at most 1.5M bit/s, like the
  top layer), no estimate (``HUB_SFU_TRANSPORT_CC=0``); viewers get that stream whatever their link.

Figures per run: time from each drop to the viewer's first frame of a smaller size (p50/p95), time from each lift
to its first frame back at the top size, and the rebuffer ratio: frozen time over watched time, where a gap between
two decoded frames longer than 200 ms counts as frozen beyond its first 200 ms. Chromium viewers: the drop and climb
times are those of the first such frame leaving the decoder (read frame by frame in the page, session 7); until
session 6 they came from ``getStats`` polled every 100 ms, up to ~100 ms late (still in the JSON as
``drop_to_lower_frame_polled_s``; the rebuffer ratio still uses those samples). ``--timeline``: per drop and viewer,
the SFU's steps (first feedback showing loss or a queue, congestion, the move down, the PLI, the keyframe's arrival,
the switch) in ms after the cap fell.

    sudo .venv/bin/python scripts/bench_bwe.py --cycles 3 --viewers 2
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.shaping import NAMESPACE_ENV, Shaper, can_shape, in_namespace  # noqa: E402

FREEZE_S = 0.2
#: Today's forwarding: one 960x540 stream, the same as the top layer.
SINGLE = [{"maxBitrate": 1_500_000}]
ENCODINGS = [
    {"rid": "l", "scaleResolutionDownBy": 4, "maxBitrate": 150_000},
    {"rid": "m", "scaleResolutionDownBy": 2, "maxBitrate": 500_000},
    {"rid": "h", "scaleResolutionDownBy": 1, "maxBitrate": 1_500_000},
]


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def transitions(
    frames: _Frames, drops: list[float], lifts: list[float], top: int, period: float
) -> tuple[list[float], list[float], int, int]:
    """Seconds from each drop to the first frame narrower than ``top``, from each lift to the first frame at
    ``top``; and how many of each did not come within ``period``."""
    pairs = list(zip(frames.times, frames.widths, strict=False))
    down: list[float] = []
    up: list[float] = []
    never_down = never_up = 0
    for at in drops:
        smaller = next((t for t, w in pairs if t >= at and 0 < w < top), None)
        if smaller is None or smaller > at + period:
            never_down += 1
        else:
            down.append(smaller - at)
    for at in lifts:
        back = next((t for t, w in pairs if t >= at and w >= top), None)
        if back is None or back > at + period:
            never_up += 1
        else:
            up.append(back - at)
    return down, up, never_down, never_up


def frozen(times: list[float], start: float, end: float) -> float:
    stamps = [start, *[t for t in times if start <= t <= end], end]
    return sum(max(0.0, b - a - FREEZE_S) for a, b in itertools.pairwise(stamps) if b - a > FREEZE_S)


class _Frames:
    def __init__(self) -> None:
        self.times: list[float] = []
        self.widths: list[int] = []
        self.last_size = (0, 0)
        self.decoded = 0
        self.freezes_s = 0.0

    @property
    def count(self) -> int:
        return self.decoded


#: Every decoded frame of the page's video track, read as it leaves the decoder (``MediaStreamTrackProcessor``):
#: the time it was read (``performance.now()``, ms) and its width. Taken (and emptied) by ``takeFrames``.
FRAMES_JS = """
() => {
  const receiver = window.pc.getReceivers().find(r => r.track && r.track.kind === 'video');
  const reader = new MediaStreamTrackProcessor({track: receiver.track}).readable.getReader();
  window.frameLog = [];
  (async () => {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) return;
      window.frameLog.push([performance.now(), value.displayWidth]);
      value.close();
    }
  })();
  window.takeFrames = () => { const out = window.frameLog; window.frameLog = []; return out; };
}
"""


class ChromiumViewer:
    """A Chromium page watching over WHEP (its own transport-cc feedback, its own jitter buffer).

    Two views of its frames: ``video`` samples ``getStats`` every 100 ms (a sample where ``framesDecoded`` grew
    counts as a frame time, at the decoded width: the rebuffer ratio, as in earlier sessions), and ``exact`` holds
    every decoded frame with the time it left the decoder (``FRAMES_JS``), on this process's monotonic clock: the
    drop and climb times. The page's clock (``performance.now()``) is mapped onto ``time.monotonic()`` by the
    round trip that read it fastest (its midpoint; the error is at most half that round trip, reported)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.video: _Frames | None = _Frames()
        self.exact = _Frames()
        self._task: asyncio.Task[None] | None = None
        #: (round trip, page ms -> monotonic s offset) of the fastest calibration so far
        self.clock: tuple[float, float] = (float("inf"), 0.0)

    async def watch(self, url: str) -> None:
        await self.page.evaluate("(u) => window.watch(u)", url)
        await self.page.evaluate(FRAMES_JS)
        for _ in range(5):
            await self._calibrate()
        self._task = asyncio.ensure_future(self._sample())

    async def _calibrate(self) -> None:
        before = time.monotonic()
        page_ms = await self.page.evaluate("performance.now()")
        after = time.monotonic()
        if after - before < self.clock[0]:
            self.clock = (after - before, (before + after) / 2 - page_ms / 1000)

    async def _sample(self) -> None:
        frames = self.video
        assert frames is not None
        while True:
            stats = await self.page.evaluate("window.inbound()")
            video = stats.get("video") or {}
            decoded = video.get("framesDecoded", 0)
            if decoded > frames.decoded:
                frames.decoded = decoded
                frames.times.append(time.monotonic())
                frames.last_size = (video.get("width", 0), 0)
                frames.widths.append(video.get("width", 0))
            frames.freezes_s = video.get("freezesS", 0.0)
            await self._calibrate()
            offset = self.clock[1]
            for at_ms, width in await self.page.evaluate("window.takeFrames()"):
                self.exact.times.append(at_ms / 1000 + offset)
                self.exact.widths.append(width)
                self.exact.decoded += 1
            await asyncio.sleep(0.1)

    async def udp_port(self) -> int:
        port: int = await self.page.evaluate("window.localPort()")
        return port

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.page.close()


class Timeline:
    """Events of the SFU's side of each drop, stamped on ``time.monotonic()`` (``--timeline``): the SFU's classes are
    wrapped in this process for the run (measurement only; nothing they do changes). Per viewer: the first feedback
    after the drop that shows a lost packet or a queue (``sign``), congestion as ``DownlinkEstimate.congested`` sees it,
    the move down (``switch_in`` to a lower layer; ``cut``: its old layer stopped at once), each keyframe request
    (sent or throttled), the target layer's keyframe arriving at the SFU, and the viewer's switch to it."""

    def __init__(self) -> None:
        self.events: list[tuple[float, str, int, str]] = []
        self.viewer_of: dict[int, int] = {}  # id(consumer) / id(estimator) -> viewer index
        self._undo: list[tuple[Any, str, Any]] = []
        self._congested: dict[int, bool] = {}

    def log(self, kind: str, viewer: int = -1, detail: str = "") -> None:
        self.events.append((time.monotonic(), kind, viewer, detail))

    def follow(self, consumers: list[Any]) -> None:
        for index, consumer in enumerate(consumers):
            self.viewer_of[id(consumer)] = index
            if consumer.downlink is not None:
                self.viewer_of[id(consumer.downlink)] = index
                self.viewer_of[id(consumer.downlink.estimator)] = index

    def _wrap(self, owner: Any, name: str, make: Any) -> None:
        original = getattr(owner, name)
        self._undo.append((owner, name, original))
        setattr(owner, name, make(original))

    def install(self) -> None:
        from sfu.bwe import GccEstimator
        from sfu.downlink import DownlinkEstimate, now_us
        from sfu.producer import Producer
        from sfu.router import Router

        timeline = self

        def on_feedback(original: Any) -> Any:
            def wrapped(estimator: Any, results: Any, now: int) -> None:
                original(estimator, results, now)
                viewer = timeline.viewer_of.get(id(estimator), -1)
                lost = sum(1 for r in results if r.arrival_us is None and r.probe < 0)
                queue = estimator.newest_queue_us()
                if lost or (queue is not None and queue > 20_000):
                    timeline.log("sign", viewer, f"lost {lost}/{len(results)} queue {(queue or 0) // 1000} ms")
                timeline.log(
                    "fb",
                    -2 - viewer,
                    f"lost {lost}/{len(results)} q {(queue or 0) // 1000}"
                    f" sq {(estimator.standing_queue_us() or 0) // 1000}"
                    f" loss {estimator.loss:.2f} win {estimator._loss_lost}/{estimator._loss_sent}"
                    f" est {estimator.estimate_bps // 1000}k acked {(estimator.acked_bps() or 0) // 1000}k"
                    f" trend {min(estimator._trend.groups, 60) * estimator._trend.trend * 4:.1f}"
                    f"/{estimator._trend.threshold:.1f} {estimator.detector_state} g{estimator._trend.groups}",
                )

            return wrapped

        def on_rtcp(original: Any) -> Any:
            def wrapped(downlink: Any, datagram: bytes) -> None:
                original(downlink, datagram)
                viewer = timeline.viewer_of.get(id(downlink), -1)
                congested = downlink.congested(now_us())
                if congested and not timeline._congested.get(viewer, False):
                    timeline.log("congested", viewer, f"est {downlink.estimator.estimate_bps // 1000}k")
                timeline._congested[viewer] = congested

            return wrapped

        def place(original: Any) -> Any:
            def wrapped(router: Any, consumer: Any, infos: Any = None) -> None:
                downlink = consumer.downlink
                cut = downlink.cut_short if downlink is not None else 0
                original(router, consumer, infos)
                if downlink is not None and downlink.cut_short != cut:
                    timeline.log("cut", timeline.viewer_of.get(id(consumer), -1), f"est {consumer.estimate_bps}")

            return wrapped

        def switch_in(original: Any) -> Any:
            def wrapped(producer: Any, consumer: Any) -> None:
                was = consumer.pending
                original(producer, consumer)
                if was is not producer:
                    timeline.log("switch_in", timeline.viewer_of.get(id(consumer), -1), producer.rid or "")

            return wrapped

        def request_keyframe(original: Any) -> Any:
            def wrapped(producer: Any, reason: str) -> bool:
                sent: bool = original(producer, reason)
                if producer.kind == "video":
                    timeline.log("pli" if sent else "pli_throttled", -1, f"{producer.rid} {reason}")
                return sent

            return wrapped

        def switch_arrived(original: Any) -> Any:
            def wrapped(producer: Any, keyframe: Any) -> None:
                timeline.log("keyframe", -1, f"{producer.rid} waiting {len(producer._switch_in)}")
                original(producer, keyframe)

            return wrapped

        def switch(original: Any) -> Any:
            def wrapped(producer: Any, consumer: Any, source: Any, packets: Any, **options: Any) -> None:
                original(producer, consumer, source, packets, **options)
                timeline.log("switched", timeline.viewer_of.get(id(consumer), -1), producer.rid or "")

            return wrapped

        def pause(original: Any) -> Any:
            def wrapped(router: Any, consumer: Any) -> None:
                original(router, consumer)
                timeline.log("pause", timeline.viewer_of.get(id(consumer), -1))

            return wrapped

        def tick(original: Any) -> Any:
            def wrapped(downlink: Any, now: int, wanted: Any, step: Any = None) -> Any:
                cluster = original(downlink, now, wanted, step)
                if cluster is not None:
                    target = downlink._probe[1] if downlink._probe is not None else None
                    timeline.log("probe", -2 - timeline.viewer_of.get(id(downlink), -1), f"target {target}")
                return cluster

            return wrapped

        def settle(original: Any) -> Any:
            def wrapped(downlink: Any) -> None:
                original(downlink)
                timeline.log(
                    "probed",
                    -2 - timeline.viewer_of.get(id(downlink), -1),
                    f"{downlink.last_probe} interval {downlink.planner.interval_us // 1000}",
                )

            return wrapped

        self._wrap(DownlinkEstimate, "tick", tick)
        self._wrap(DownlinkEstimate, "_settle", settle)
        self._wrap(GccEstimator, "on_feedback", on_feedback)
        self._wrap(DownlinkEstimate, "on_rtcp", on_rtcp)
        self._wrap(Router, "place", place)
        self._wrap(Router, "_pause", pause)
        self._wrap(Producer, "switch_in", switch_in)
        self._wrap(Producer, "request_keyframe", request_keyframe)
        self._wrap(Producer, "_switch_arrived", switch_arrived)
        self._wrap(Producer, "_switch", switch)

    def uninstall(self) -> None:
        for owner, name, original in reversed(self._undo):
            setattr(owner, name, original)
        self._undo.clear()

    def drops(self, drops: list[float], viewers: list[Any], top: int, window: float) -> list[dict[str, Any]]:
        """One row per viewer and drop: ms from the drop to each step (None: not within ``window`` s)."""
        rows = []
        for index, viewer in enumerate(viewers):
            frames = viewer.exact if isinstance(viewer, ChromiumViewer) else viewer.video
            for at in drops:
                mine = [e for e in self.events if at <= e[0] <= at + window and e[2] in (index, -1)]

                def first(kind: str, detail: str = "", mine: list[Any] = mine) -> tuple[float, str] | None:
                    return next(((t, d) for t, k, v, d in mine if k == kind and v >= 0 and d.startswith(detail)), None)

                sign = first("sign")
                congested = first("congested")
                move = next(((t, d) for t, k, v, d in mine if k == "switch_in" and v == index and d != "h"), None)
                row: dict[str, Any] = {"viewer": index, "drop_at": round(at, 3)}

                def ms(t: float | None, at: float = at) -> int | None:
                    return None if t is None else round((t - at) * 1000)

                row["sign"] = ms(sign[0]) if sign else None
                row["congested"] = ms(congested[0]) if congested else None
                row["move"] = ms(move[0]) if move else None
                row["to"] = move[1] if move else None
                cut = next((t for t, k, v, _ in mine if k == "cut" and v == index), None)
                row["cut"] = ms(cut)
                if move is not None:
                    # the first layer the viewer actually switched to after the move (it may have moved again)
                    done = next(
                        ((t, d) for t, k, v, d in mine if k == "switched" and v == index and d != "h" and t >= move[0]),
                        None,
                    )
                    rid = done[1] if done is not None else move[1]
                    plis = [(t, k) for t, k, _, d in mine if k.startswith("pli") and d.split()[0] == rid]
                    asked = next((t for t, k in plis if k == "pli" and t >= move[0] - 0.35), None)
                    row["pli"] = ms(asked)
                    row["pli_throttled"] = sum(1 for t, k in plis if k == "pli_throttled" and t >= move[0])
                    key = next(
                        (t for t, k, _, d in mine if k == "keyframe" and d.startswith(rid) and t >= move[0]), None
                    )
                    row["keyframe"] = ms(key)
                    row["switched"] = ms(done[0]) if done is not None else None
                    row["switched_to"] = rid
                if frames is not None:
                    shown = next(
                        (t for t, w in zip(frames.times, frames.widths, strict=False) if t >= at and 0 < w < top), None
                    )
                    row["frame"] = ms(shown) if shown is not None and shown <= at + window else None
                rows.append(row)
        return rows


async def run(mode: str, args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from hub.app import create_app
    from hub.wiring import Hub
    from tests.conftest import make_settings
    from tests.support.api import create_stream, register
    from tests.support.db import configured_mongo_url, fresh_db_name, open_client
    from tests.support.servers import serve_asgi
    from tests.support.sfu_browser import chromium, open_page
    from tests.support.sfu_peers import Viewer
    from tests.support.waiting import until

    shaper = Shaper()
    timeline = Timeline() if args.timeline else None
    if timeline is not None:
        timeline.install()
    mongo = open_client(configured_mongo_url())
    hub = Hub(make_settings(fresh_db_name(), sfu_transport_cc=1 if mode == "bwe" else 0), mongo_client=mongo)
    await hub.start()
    result: dict[str, Any] = {"mode": mode}
    try:
        app = create_app(hub, own_hub=False)
        async with serve_asgi(app) as base, httpx.AsyncClient(base_url=base) as client:
            owner = await register(client, "Bench")
            stream = await create_stream(client, owner, "Bench")
            async with chromium() as browser:
                page = await open_page(browser, base)
                await page.evaluate(
                    "([u, k, e, s]) => window.publish(u, k, 'video/VP8', e, s)",
                    [
                        f"{base}/api/v1/whip/{stream['id']}",
                        stream["stream_key"],
                        ENCODINGS if mode == "bwe" else SINGLE,
                        {"width": 960, "height": 540, "frameRate": 15},
                    ],
                )

                def widths() -> set[int]:
                    routers = hub.sfu.stats()["routers"]
                    return {p["width"] for r in routers for p in r["producers"] if p["kind"] == "video" and p["width"]}

                if not await until(lambda: len(widths()) >= (3 if mode == "bwe" else 1), 40):
                    raise RuntimeError(f"the publisher's three layers did not arrive: {widths()}")
                await asyncio.sleep(3)
                top = max(widths())
                viewers: list[Any] = []
                for _ in range(args.viewers):
                    if args.viewer == "chromium":
                        chromium_viewer = ChromiumViewer(await open_page(browser, base))
                        await chromium_viewer.watch(f"{base}/api/v1/whep/{stream['id']}")
                        viewers.append(chromium_viewer)
                        continue
                    viewer = Viewer(transport_cc=(mode == "bwe"))
                    r = await client.post(
                        f"{base}/api/v1/whep/{stream['id']}",
                        content=await viewer.offer(),
                        headers={"Content-Type": "application/sdp"},
                    )
                    r.raise_for_status()
                    await viewer.accept(r.text)
                    viewers.append(viewer)

                def at_top() -> bool:
                    return all(v.video is not None and v.video.last_size[0] >= top for v in viewers)

                if not await until(at_top, 30):
                    raise RuntimeError("the viewers did not reach the top layer on the open link")
                ports = [
                    (await viewer.udp_port()) if isinstance(viewer, ChromiumViewer) else viewer.udp_port()
                    for viewer in viewers
                ]
                if timeline is not None:
                    local = getattr(hub.sfu, "local", hub.sfu)  # the node's own SfuService behind the cluster facade
                    timeline.follow([c for s in local._sessions.values() for c in s.consumers if c.kind == "video"])
                freezes_before = [v.video.freezes_s if isinstance(v, ChromiumViewer) else 0.0 for v in viewers]
                for port in ports:
                    shaper.cap(port, args.high_kbit)
                await asyncio.sleep(2)
                start = time.monotonic()
                trace: list[str] = []
                layer_log: list[tuple[float, list[str | None]]] = []

                async def tracer() -> None:
                    while True:
                        video = [c for c in hub.sfu.stats()["consumers"] if c["kind"] == "video"]
                        layer_log.append((time.monotonic(), [c["layer"] for c in video]))
                        row = [
                            f"{c['layer']}/{c['estimate_bps']}/{(c['bwe'] or {}).get('loss')}/"
                            f"f{v.video.count if v.video else 0}/w{v.video.last_size[0] if v.video else 0}"
                            for c, v in zip(video, viewers, strict=False)
                        ]
                        trace.append(f"{time.monotonic() - start:6.2f} " + " | ".join(row))
                        await asyncio.sleep(0.1)

                trace_task = asyncio.ensure_future(tracer())
                drops: list[float] = []
                lifts: list[float] = []
                for _ in range(args.cycles):
                    for port in ports:
                        shaper.cap(port, args.low_kbit)
                    drops.append(time.monotonic())
                    await asyncio.sleep(args.period)
                    for port in ports:
                        shaper.cap(port, args.high_kbit)
                    lifts.append(time.monotonic())
                    await asyncio.sleep(args.period)
                end = time.monotonic()
                trace_task.cancel()
                if args.trace:
                    print("\n".join(trace), file=sys.stderr)
                # the SFU's side: when each viewer's consumer left the top layer after a drop / came back after a lift
                sfu_drop: list[float] = []
                sfu_climb: list[float] = []
                top_rid = "h" if mode == "bwe" else None
                for index in range(len(viewers)):
                    for at in drops:
                        when = next(
                            (t for t, ls in layer_log if t >= at and index < len(ls) and ls[index] != top_rid), None
                        )
                        if when is not None and when <= at + args.period:
                            sfu_drop.append(when - at)
                    for at in lifts:
                        when = next(
                            (t for t, ls in layer_log if t >= at and index < len(ls) and ls[index] == top_rid), None
                        )
                        if when is not None and when <= at + args.period:
                            sfu_climb.append(when - at)
                drop_s: list[float] = []
                climb_s: list[float] = []
                polled_drop_s: list[float] = []
                missed_drops = missed_climbs = 0
                frozen_s = 0.0
                for viewer in viewers:
                    counter = viewer.video
                    assert counter is not None
                    exact = viewer.exact if isinstance(viewer, ChromiumViewer) else counter
                    down, up, never_down, never_up = transitions(exact, drops, lifts, top, args.period)
                    drop_s += down
                    climb_s += up
                    missed_drops += never_down
                    missed_climbs += never_up
                    polled_drop_s += transitions(counter, drops, lifts, top, args.period)[0]
                    frozen_s += frozen(counter.times, start, end)
                watched = (end - start) * len(viewers)
                chromium_frozen = sum(
                    v.video.freezes_s - before
                    for v, before in zip(viewers, freezes_before, strict=True)
                    if isinstance(v, ChromiumViewer)
                )
                result |= {
                    "viewers": len(viewers),
                    "watched_s": round(watched, 1),
                    "frozen_s": round(frozen_s, 2),
                    "rebuffer_ratio": round(frozen_s / watched, 4),
                    "chromium_freezes_s": round(chromium_frozen, 2),
                    "drop_to_lower_frame_s": {
                        "p50": percentile(drop_s, 50),
                        "p95": percentile(drop_s, 95),
                        "n": len(drop_s),
                        "never": missed_drops,
                    },
                    "drop_to_lower_frame_polled_s": {
                        "p50": percentile(polled_drop_s, 50),
                        "p95": percentile(polled_drop_s, 95),
                        "n": len(polled_drop_s),
                    },
                    "clock_error_ms": [round(v.clock[0] * 500, 2) for v in viewers if isinstance(v, ChromiumViewer)],
                    "climb_to_top_frame_s": {
                        "p50": percentile(climb_s, 50),
                        "p95": percentile(climb_s, 95),
                        "n": len(climb_s),
                        "never": missed_climbs,
                    },
                    "sfu_layer_down_s": {
                        "p50": percentile(sfu_drop, 50),
                        "p95": percentile(sfu_drop, 95),
                        "n": len(sfu_drop),
                    },
                    "sfu_layer_up_s": {
                        "p50": percentile(sfu_climb, 50),
                        "p95": percentile(sfu_climb, 95),
                        "n": len(sfu_climb),
                    },
                    "consumers": [
                        {k: c.get(k) for k in ("layer", "switches", "estimate_bps", "bwe")}
                        for c in hub.sfu.stats()["consumers"]
                        if c["kind"] == "video"
                    ],
                }
                if timeline is not None:
                    rows = timeline.drops(drops, viewers, top, args.period)
                    result["timeline"] = rows
                    for row in rows:
                        print("timeline " + json.dumps(row), file=sys.stderr)
                    for at in drops:
                        for t, kind, viewer_index, detail in timeline.events:
                            if at - 0.1 <= t <= at + 1.2 and kind not in ("probe", "probed"):
                                print(f"event {t - at:+.3f} {kind} v{viewer_index} {detail}", file=sys.stderr)
                    for at in lifts:
                        for t, kind, viewer_index, detail in timeline.events:
                            if at - 3 <= t <= at + 8 and kind in ("probe", "probed", "switched", "pause"):
                                print(f"lift-event {t - at:+.3f} {kind} v{viewer_index} {detail}", file=sys.stderr)
                for viewer in viewers:
                    await viewer.close()
    finally:
        if timeline is not None:
            timeline.uninstall()
        await hub.close()
    return result


async def bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    for mode in args.modes.split(","):
        load = os.getloadavg()[0]
        result = await run(mode, args)
        result["load_before"] = round(load, 2)
        result["load_after"] = round(os.getloadavg()[0], 2)
        print(json.dumps(result, default=str), flush=True)
        results.append(result)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--modes", default="bwe,single")
    parser.add_argument("--viewers", type=int, default=2)
    parser.add_argument("--viewer", default="chromium", choices=["chromium", "aiortc"])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--period", type=float, default=10.0)
    parser.add_argument("--low-kbit", type=int, default=300)
    parser.add_argument("--high-kbit", type=int, default=3000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--trace", action="store_true", help="print each viewer's layer/estimate every 0.1 s")
    parser.add_argument("--timeline", action="store_true", help="per drop: feedback, switch, PLI, keyframe, frame")
    args = parser.parse_args()
    if os.environ.get(NAMESPACE_ENV) != "1":
        if not can_shape():
            raise SystemExit("needs root with unshare, ip and tc")
        done = in_namespace([sys.executable, *sys.argv], dict(os.environ), timeout=1800)
        sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr[-400000:])
        raise SystemExit(done.returncode)
    results = asyncio.run(bench(args))
    for r in results:
        d, c = r["drop_to_lower_frame_s"], r["climb_to_top_frame_s"]
        print(
            f"{r['mode']:>6}: rebuffer {r['rebuffer_ratio']:.4f} ({r['frozen_s']} s of {r['watched_s']} s); "
            f"drop->lower frame p50 {d['p50']} p95 {d['p95']} (n={d['n']}, never {d['never']}); "
            f"climb->top frame p50 {c['p50']} p95 {c['p95']} (n={c['n']}, never {c['never']}); "
            f"load {r['load_before']}->{r['load_after']}"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
