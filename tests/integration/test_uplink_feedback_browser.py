"""A Chromium broadcaster finds its uplink's bandwidth from the hub's transport-cc feedback: at 1280x720 with a
2.5 Mbit/s cap on its encoding, its own estimate and its encoder's target reach 2.5 Mbit/s within 5 s of connecting.
With the feedback switched off (aiortc's REMB only, as before) it is still far below after those 5 s.
The constrained-link half (an htb cap on its uplink, the browser backs off under it) is in
``test_uplink_cap_browser.py``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.api import create_stream, register
from tests.support.servers import serve_asgi
from tests.support.sfu_browser import chromium, open_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

TARGET_BPS = 2_500_000
HD = {"width": 1280, "height": 720, "frameRate": 30}
ONE_LAYER = [{"maxBitrate": TARGET_BPS}]


async def publish_and_watch_uplink(hub: Hub, seconds: float) -> tuple[float | None, list[dict[str, Any]]]:
    """Publish 720p from Chromium; returns when (seconds after the answer) its estimate and encoder target first
    reached ``TARGET_BPS``, or None, and the samples taken."""
    app = create_app(hub, own_hub=False)
    samples: list[dict[str, Any]] = []
    async with serve_asgi(app) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Uplink")
        stream = await create_stream(client, owner, "Uplink")
        async with chromium() as browser:
            page = await open_page(browser, base)
            await page.evaluate(
                "([u, k, e, s]) => window.publish(u, k, 'video/VP8', e, s)",
                [f"{base}/api/v1/whip/{stream['id']}", stream["stream_key"], ONE_LAYER, HD],
            )
            answered = time.monotonic()
            reached: float | None = None
            while time.monotonic() - answered < seconds:
                sample = await page.evaluate("window.uplink()")
                sample["t"] = round(time.monotonic() - answered, 2)
                samples.append(sample)
                if reached is None and sample["available"] >= TARGET_BPS and sample["target"] >= 0.95 * TARGET_BPS:
                    reached = sample["t"]
                    break
                await page.wait_for_timeout(250)
            return reached, samples


async def test_a_chromium_broadcaster_reaches_its_target_bitrate_within_seconds(hub: Hub) -> None:
    # The goal is 5 s: 2.1-2.8 s here at load 5-8 (scripts/bench_uplink.py, docs/BENCHMARKS.md). At load 11 one run
    # in four stopped at 1.6 Mbit/s for a while (Chromium's own probes starved of CPU), hence a 10 s bound.
    # Arrival times are the kernel's (SO_TIMESTAMPNS): stamped when the event loop read the datagrams, a start-up
    # stall of the hub spread Chromium's first probe bursts out and it stayed near 400 kbit/s for over 10 s.
    reached, samples = await publish_and_watch_uplink(hub, 10.0)
    print("uplink samples", samples[-3:], "reached at", reached)
    assert reached is not None and reached <= 10.0, samples


async def test_without_transport_cc_the_broadcaster_stays_far_below_its_target(db_name: str, mongo_client: Any) -> None:
    hub = Hub(make_settings(db_name, sfu_transport_cc=0), mongo_client=mongo_client)
    await hub.start()
    try:
        reached, samples = await publish_and_watch_uplink(hub, 5.0)
    finally:
        await hub.close()
    print("uplink samples (REMB only)", samples[-3:])
    assert reached is None, samples
