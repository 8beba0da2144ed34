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
two decoded frames longer than 200 ms counts as frozen beyond its first 200 ms.

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


class ChromiumViewer:
    """A Chromium page watching over WHEP (its own transport-cc feedback, its own jitter buffer), sampled every
    100 ms: a sample where ``framesDecoded`` grew counts as a frame time, at the decoded width."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.video: _Frames | None = _Frames()
        self._task: asyncio.Task[None] | None = None

    async def watch(self, url: str) -> None:
        await self.page.evaluate("(u) => window.watch(u)", url)
        self._task = asyncio.ensure_future(self._sample())

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
            await asyncio.sleep(0.1)

    async def udp_port(self) -> int:
        port: int = await self.page.evaluate("window.localPort()")
        return port

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.page.close()


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
                missed_drops = missed_climbs = 0
                frozen_s = 0.0
                for viewer in viewers:
                    counter = viewer.video
                    assert counter is not None
                    frames = list(zip(counter.times, counter.widths, strict=False))
                    for at in drops:
                        smaller = next((t for t, w in frames if t >= at and 0 < w < top), None)
                        if smaller is None or smaller > at + args.period:
                            missed_drops += 1
                        else:
                            drop_s.append(smaller - at)
                    for at in lifts:
                        back = next((t for t, w in frames if t >= at and w >= top), None)
                        if back is None or back > at + args.period:
                            missed_climbs += 1
                        else:
                            climb_s.append(back - at)
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
                for viewer in viewers:
                    await viewer.close()
    finally:
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
    parser.add_argument("--trace", action="store_true", help="print each viewer's layer/estimate every 0.5 s")
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
