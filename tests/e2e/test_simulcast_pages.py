"""The studio page publishes its camera as three simulcast layers; the viewer page's Auto/High/Medium/Low choice
reaches the SFU and picks the viewer's layer (headless Chromium, the hub's own pages)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from hub.app import create_app
from hub.wiring import Hub
from tests.e2e.browser import FRAMES_DECODED, PageLog, chromium, eventually, log_in, new_page
from tests.support.api import create_stream, register
from tests.support.servers import serve_asgi

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _video(hub: Hub, stream_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    stats = hub.sfu.stats()
    router = next((r for r in stats["routers"] if r["stream_id"] == stream_id), None)
    producers = [p for p in (router or {}).get("producers", []) if p["kind"] == "video"]
    consumers = [c for c in stats["consumers"] if c["stream_id"] == stream_id and c["kind"] == "video"]
    return producers, consumers


async def test_the_studio_sends_three_layers_and_the_viewer_page_picks_one(hub: Hub) -> None:
    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as client:
        star = await register(client, "Layers")
        fan = await register(client, "Watcher")
        stream = await create_stream(client, star, "Simulcast from the studio")
        async with chromium() as browser:
            studio = await new_page(browser)
            studio_log = PageLog(studio)
            await studio.goto(f"{base}/studio")
            await log_in(studio, star["email"], opener="#gate-login")
            await studio.wait_for_selector(f'#streams li[data-stream-id="{stream["id"]}"]')
            await studio.click(f'#streams li[data-stream-id="{stream["id"]}"]')
            await eventually(lambda: studio.is_enabled("#go-live"), 15, "the Go live button to be ready")
            await studio.click("#go-live")

            async def three_layers() -> bool:
                producers, _ = _video(hub, stream["id"])
                return {p["rid"] for p in producers} == {"l", "m", "h"} and any(p["keyframes"] for p in producers)

            await eventually(three_layers, 25, "the studio's three layers at the SFU")

            viewer = await new_page(browser)
            viewer_log = PageLog(viewer)
            await viewer.goto(f"{base}/watch/{stream['id']}")
            await log_in(viewer, fan["email"])
            await eventually(lambda: viewer.evaluate(FRAMES_DECODED), 25, "the viewer to decode video")
            await eventually(lambda: viewer.is_visible("#layer"), 10, "the quality choice")
            assert await viewer.input_value("#layer") == "auto"
            for choice in ("low", "high"):
                await viewer.select_option("#layer", choice)

                async def chosen(choice: str = choice) -> bool:
                    _, consumers = _video(hub, stream["id"])
                    return bool(consumers) and consumers[0]["preference"] == choice

                await eventually(chosen, 10, f"the SFU to hear {choice}")
            # Low is the bottom layer, whatever the uplink lets the browser send
            await viewer.select_option("#layer", "low")

            async def on_low() -> bool:
                _, consumers = _video(hub, stream["id"])
                return bool(consumers) and consumers[0]["layer"] == "l"

            await eventually(on_low, 15, "the viewer on layer l")
            assert not studio_log.errors, studio_log.errors
            assert not viewer_log.errors, viewer_log.errors
