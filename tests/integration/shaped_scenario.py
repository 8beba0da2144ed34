"""The shaped-links scenario of ``test_bandwidth_shaped.py``: not collected on its own (no ``test_`` prefix: it shapes
``lo``, so it runs only inside a network namespace of its own, which that test starts; ``Shaper`` refuses otherwise).

Headless Chromium publishes three simulcast layers over WHIP; three Chromium viewers (WHEP, their own transport-cc
feedback and jitter buffers) sit behind different caps (``tc`` htb on ``lo``, per viewer UDP port). Each settles on a
different layer, stays on it for most of a 6 s window, and keeps decoding without a freeze over 1 s (the longest time
without a newly decoded frame, polled in the page, and Chromium's own freeze statistics); lifting a cap moves that
viewer up within a few seconds, without a decoder error (no keyframe request); an aiortc viewer asking for Low gets Low.
A timeline of every viewer's layer and estimate is printed (on failure the wrapper shows it).

Run alone: ``unshare -n sh -c 'ip link set lo up && HUB_TEST_IN_NETNS=1 .venv/bin/pytest -s
tests/integration/shaped_scenario.py'``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.support.api import create_stream, register
from tests.support.servers import serve_asgi
from tests.support.sfu_browser import chromium, open_page
from tests.support.sfu_peers import Viewer
from tests.support.shaping import Shaper
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SDP = {"Content-Type": "application/sdp"}
ENCODINGS = [
    {"rid": "l", "scaleResolutionDownBy": 4, "maxBitrate": 120_000},
    {"rid": "m", "scaleResolutionDownBy": 2, "maxBitrate": 400_000},
    {"rid": "h", "scaleResolutionDownBy": 1, "maxBitrate": 1_200_000},
]
#: Audio and RTCP share each viewer's cap.
AUDIO_KBIT = 70
#: The issue's bound: no freeze longer than this.
LONGEST_FREEZE_S = 1.0
#: Seconds of watching measured once settled.
WINDOW_S = 6.0
#: The share of the watched window each viewer must spend on its layer (read every 0.25 s).
ON_ITS_LAYER = 0.8


async def inbound_video(page: Any) -> dict[str, Any]:
    stats: dict[str, Any] = (await page.evaluate("window.inbound()"))["video"] or {}
    return stats


def consumer_of(hub: Hub, viewer_session: str) -> dict[str, Any]:
    service: Any = hub.sfu_wiring.local_sfu
    session = service._sessions[viewer_session]
    stats: dict[str, Any] = next(c.stats() for c in session.consumers if c.kind == "video")
    return stats


def viewer_port_of(hub: Hub, viewer_session: str) -> int:
    """The UDP port the SFU sends this viewer's media to: the remote candidate of its nominated ICE pair (the page's
    own view, ``window.localPort()``, can be 0 or another pair's port while Chromium is still checking pairs; a cap on
    that port shaped nothing in one run)."""
    service: Any = hub.sfu_wiring.local_sfu
    pc = service._sessions[viewer_session].pc
    ice = pc.getTransceivers()[0].sender.transport.transport
    pair = ice._connection._nominated.get(1)
    return int(pair.remote_candidate.port) if pair is not None else 0


def moment(stats: dict[str, Any]) -> str:
    """One viewer at one moment as the SFU sees it, for the timeline: layer (> the one it waits for), usable estimate,
    loss, standing queue, delay state, probes (successes), holds, retransmissions refused and sent, PLIs from the
    viewer, the last probe (kbit/s measured, needed, offered)."""
    bwe = stats["bwe"] or {}
    estimate = stats["estimate_bps"]
    return (
        f"{stats['layer'] or '-'}{'>' + stats['pending'] if stats.get('pending') else ''}"
        f" {estimate // 1000 if estimate else '-'}k"
        f" loss {bwe.get('loss', 0):.2f} q {bwe.get('standing_queue_ms')} {str(bwe.get('delay_state', ''))[:2]}"
        f" p {bwe.get('probes', 0)}/{bwe.get('probe_successes', 0)} h {bwe.get('holds', 0)}"
        f" r {bwe.get('retransmits_refused', 0)} rtx {stats['retransmits']} kf {stats['plis']}"
        f" lp {bwe.get('last_probe')}"
    )


def seen_by(video: dict[str, Any]) -> str:
    """The same viewer as its page sees it: frames decoded / received / dropped / keyframes decoded, PLIs, NACKs."""
    return (
        f"f {video.get('framesDecoded')}/{video.get('framesReceived')}/{video.get('framesDropped')}"
        f"/{video.get('keyFramesDecoded')} pli {video.get('pliCount')} nk {video.get('nackCount')}"
    )


async def test_shaped_scenario(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    shaper = Shaper()
    app = create_app(hub, own_hub=False)
    async with serve_asgi(app) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Shaped")
        stream = await create_stream(client, owner, "Shaped links")
        whip = f"{base}/api/v1/whip/{stream['id']}"
        whep = f"{base}/api/v1/whep/{stream['id']}"
        asks_low = Viewer()
        sessions: dict[str, str] = {}
        sampler: asyncio.Future[None] | None = None
        #: every viewer's layer, estimate and decoding twice a second from the shaping on (printed at the end, also on
        #: a failure)
        timeline: list[str] = []
        try:
            async with chromium() as browser:
                publisher = await open_page(browser, base)
                await publisher.evaluate(
                    "([u, k, e]) => window.publish(u, k, 'video/VP8', e)", [whip, stream["stream_key"], ENCODINGS]
                )

                def layers() -> list[dict[str, Any]]:
                    routers = hub.sfu.stats()["routers"]
                    return [p for r in routers for p in r["producers"] if p["kind"] == "video" and p["rid"]]

                async def three_layers_flowing() -> bool:
                    live = [p for p in layers() if p["keyframes"] and p["width"] and p["bitrate_bps"] > 20_000]
                    return len(live) == 3

                assert await until(three_layers_flowing, 40), layers()
                await asyncio.sleep(2)  # bitrates settle (the uplink reaches the encodings' caps in ~2 s)
                # each layer's bitrate varies with the picture: the mean of three one-second readings
                samples: list[dict[str, int]] = []
                for _ in range(3):
                    await asyncio.sleep(1.05)
                    samples.append({p["rid"]: p["bitrate_bps"] for p in layers()})
                rates = {rid: sum(sample[rid] for sample in samples) // len(samples) for rid in samples[0]}
                print("layer bitrates", rates, "readings", samples)
                # caps between the layers, with room for audio and the estimate's headroom (sfu/downlink.py USABLE)
                middle_cap = int((rates["m"] / 0.85 + rates["h"]) / 2 / 1000) + AUDIO_KBIT
                narrow_cap = int((rates["l"] / 0.85 + rates["m"]) / 2 / 1000) + AUDIO_KBIT
                pages = {name: await open_page(browser, base) for name in ("wide", "middle", "narrow")}
                for name, page in pages.items():
                    location = await page.evaluate("(u) => window.watch(u)", whep)
                    sessions[name] = location.rsplit("/", 1)[-1]
                r = await client.post(f"{whep}?layer=low", content=await asks_low.offer(), headers=SDP)
                assert r.status_code == 201, r.text
                await asks_low.accept(r.text)
                sessions["asks_low"] = r.headers["Location"].rsplit("/", 1)[-1]

                async def all_decoding() -> bool:
                    decoded = [(await inbound_video(page)).get("framesDecoded", 0) for page in pages.values()]
                    return all(n > 10 for n in decoded) and asks_low.video is not None and asks_low.video.count > 10

                assert await until(all_decoding, 30)
                assert await until(lambda: all(viewer_port_of(hub, sessions[n]) for n in pages), 10)
                ports = {name: viewer_port_of(hub, sessions[name]) for name in pages}
                seen = {name: await page.evaluate("window.localPort()") for name, page in pages.items()}
                print("viewers' ports: the SFU sends to", ports, "the pages report", seen)
                assert len(set(ports.values())) == len(ports), ports
                shaper.cap(ports["middle"], middle_cap)
                shaper.cap(ports["narrow"], narrow_cap)
                print("caps kbit/s: middle", middle_cap, "narrow", narrow_cap)

                def layer(name: str) -> str | None:
                    return consumer_of(hub, sessions[name])["layer"]

                sessions_in_order = ("wide", "middle", "narrow", "asks_low")

                def settled() -> bool:
                    return tuple(layer(name) for name in sessions_in_order) == ("h", "m", "l", "l")

                shaped_at = time.monotonic()

                async def sample() -> None:
                    while True:
                        rows = []
                        for name in ("wide", "middle", "narrow"):
                            with contextlib.suppress(KeyError, StopIteration):
                                seen = seen_by(await inbound_video(pages[name]))
                                dropped = shaper.dropped(ports[name])
                                rows.append(f"{name} {moment(consumer_of(hub, sessions[name]))} {seen} dr {dropped}")
                        # each layer: bitrate / keyframes / PLIs sent / packets
                        made = " ".join(
                            f"{p['rid']}:{p['bitrate_bps'] // 1000}k/{p['keyframes']}/{p['plis_sent']}/{p['packets']}"
                            for p in layers()
                        )
                        timeline.append(f"{time.monotonic() - shaped_at:5.2f} | {made} | " + " | ".join(rows))
                        await asyncio.sleep(0.5)

                sampler = asyncio.ensure_future(sample())
                ok = await until(settled, 30, every=0.25)
                brief: dict[str, Any] = {
                    n: {k: consumer_of(hub, sessions[n])[k] for k in ("layer", "estimate_bps", "bwe")} for n in sessions
                }
                print(f"after shaping ({time.monotonic() - shaped_at:.1f} s):", brief)
                assert ok, brief

                # they keep decoding, without a freeze over a second: the longest time without a new frame (polled
                # every 50 ms in each page), and Chromium's own freeze accounting (frozen time in all)
                for page in pages.values():
                    await page.evaluate("window.watchGaps()")
                await asyncio.sleep(0.3)
                for page in pages.values():
                    await page.evaluate("window.longestGap()")
                before = {name: await inbound_video(page) for name, page in pages.items()}
                timeline.append("-- watching")
                on_its_layer = dict.fromkeys(sessions, 0)
                readings = 0
                watch_until = time.monotonic() + WINDOW_S
                while time.monotonic() < watch_until:
                    await asyncio.sleep(0.25)
                    readings += 1
                    for name, expected in zip(sessions_in_order, ("h", "m", "l", "l"), strict=True):
                        on_its_layer[name] += layer(name) == expected
                timeline.append("-- watched")
                longest = {n: round(await page.evaluate("window.longestGap()"), 2) for n, page in pages.items()}
                after = {name: await inbound_video(page) for name, page in pages.items()}
                frozen = {n: round(after[n]["freezesS"] - before[n]["freezesS"], 2) for n in pages}
                freezes = {n: after[n]["freezeCount"] - before[n]["freezeCount"] for n in pages}
                decoded = {n: after[n]["framesDecoded"] - before[n]["framesDecoded"] for n in pages}
                layers_after = {n: consumer_of(hub, sessions[n])["layer"] for n in sessions}
                print(f"in {WINDOW_S:.0f} s: longest freeze (s)", longest, "frozen in all (s)", frozen)
                print("freezes", freezes, "frames decoded", decoded, "layers", layers_after)
                assert all(gap <= LONGEST_FREEZE_S for gap in longest.values()), longest
                assert all(n >= 5 * WINDOW_S for n in decoded.values()), decoded  # 15 fps sent
                # it stays there: on its layer for most of the window (a step down and back up while the machine is
                # short of CPU is allowed: the freezes above are what a viewer sees)
                share = {n: round(on_its_layer[n] / readings, 2) for n in sessions}
                print("share of the window on its layer", share)
                assert all(part >= ON_ITS_LAYER for part in share.values()), (share, layers_after)

                # lifting the narrow viewer's cap moves it up; no keyframe request from its decoder, no loss
                narrow_before = await inbound_video(pages["narrow"])
                small = narrow_before["width"]
                shaper.cap(ports["narrow"], None)
                lifted = time.monotonic()
                assert await until(lambda: layer("narrow") in ("m", "h"), 15), consumer_of(hub, sessions["narrow"])
                moved = time.monotonic() - lifted

                async def bigger() -> bool:
                    return (await inbound_video(pages["narrow"]))["width"] > small

                assert await until(bigger, 10)
                print(
                    f"cap lifted: layer up after {moved:.2f} s, bigger frames after {time.monotonic() - lifted:.2f} s"
                )
                assert moved <= 8.0
                await asyncio.sleep(1)
                narrow_after = await inbound_video(pages["narrow"])
                assert narrow_after["pliCount"] == narrow_before["pliCount"], "the decoder asked for a keyframe"
                assert consumer_of(hub, sessions["narrow"])["bwe"]["probe_successes"] >= 1
                assert asks_low.video is not None and asks_low.video.last_size[0] == min(
                    p["width"] for p in layers() if p["width"]
                )
        finally:
            if sampler is not None:
                sampler.cancel()
            print("\n".join(timeline))
            await asks_low.close()
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]
