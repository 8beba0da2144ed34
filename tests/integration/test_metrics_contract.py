"""``/metrics`` passes Prometheus's own linter (``promtool check metrics``) with every family populated, and its
label values come from closed sets: invented methods and paths add no series."""

from __future__ import annotations

import re
import shutil
import subprocess

import httpx
import pytest

from hub.wiring import Hub
from tests.support.api import auth, create_stream, register
from tests.support.live import LiveClient
from tests.support.servers import serve_asgi
from tests.support.sfu_peers import Publisher, Viewer
from tests.support.waiting import until

SDP = {"Content-Type": "application/sdp"}


def _series(text: str, family: str) -> set[str]:
    return {line.split(" ")[0] for line in text.splitlines() if line.startswith(family + "{")}


async def test_invented_methods_and_paths_add_no_metric_series(client: httpx.AsyncClient) -> None:
    await client.get("/api/v1/streams")
    await client.request("BREW", "/api/v1/streams")
    before = (await client.get("/metrics")).text
    for i in range(300):
        await client.request(f"X{i}METHOD", f"/api/v1/streams/{i}/nothing/{i}")
        await client.request(f"M{i}", "/api/v1/streams")
        await client.get(f"/random/{i}")
    after = (await client.get("/metrics")).text
    grown = _series(after, "hub_http_requests_total") - _series(before, "hub_http_requests_total")
    assert len(grown) <= 4, sorted(grown)
    methods = set(re.findall(r'hub_http_requests_total\{method="([^"]*)"', after))
    assert methods <= {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "other"}, methods
    routes = set(re.findall(r'hub_http_requests_total\{[^}]*route="([^"]*)"', after))
    assert routes <= {"/api/v1/streams", "/api/v1/streams/{stream_id}", "/metrics", "other"}, routes
    assert 'hub_http_requests_total{method="other",route="/api/v1/streams",status="405"}' in after


def _promtool(text: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        raise RuntimeError("promtool is not installed: run ./scripts/test, which installs Debian's prometheus")
    return subprocess.run([binary, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)


@pytest.mark.slow
async def test_a_busy_hubs_metrics_pass_promtool(hub: Hub) -> None:
    from hub.app import create_app

    async with serve_asgi(create_app(hub, own_hub=False)) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Metered")
        stream = await create_stream(client, owner)
        await client.get("/api/v1/nope")
        await client.request("BREW", "/api/v1/streams")
        publisher, viewer = Publisher(), Viewer()
        live = LiveClient()
        try:
            key = {"Authorization": f"Bearer {stream['stream_key']}", **SDP}
            r = await client.post(f"/api/v1/whip/{stream['id']}", content=await publisher.offer(), headers=key)
            assert r.status_code == 201, r.text
            await publisher.accept(r.text)
            r = await client.post(f"/api/v1/whep/{stream['id']}", content=await viewer.offer(), headers=SDP)
            assert r.status_code == 201, r.text
            await viewer.accept(r.text)

            async def decoding() -> bool:
                return viewer.video is not None and viewer.video.count >= 15

            assert await until(decoding, timeout=15)
            await live.connect(base, owner["access_token"])
            await live.call("stream:join", {"stream_id": stream["id"]})
            await live.call("chat:send", {"stream_id": stream["id"], "text": "hello"})
            await live.sio.emit("no:such:event", {}, namespace="/live")
            text = (await client.get("/metrics", headers=auth(owner))).text
        finally:
            await live.close()
            await viewer.close()
            await publisher.close()
    for family in (
        "hub_http_requests_total",
        "hub_sfu_producer_packets_total",
        "hub_sfu_residence_seconds_bucket",
        "hub_sfu_layers",
        "hub_sfu_layer_switches_total",
        "hub_sfu_viewers_on_layer",
        "hub_sfu_viewer_estimators",
    ):
        assert family + "{" in text, f"{family} has no samples, so the check would prove little"
    assert "microseconds" not in text
    done = _promtool(text)
    assert done.returncode == 0 and not done.stdout.strip() and not done.stderr.strip(), done.stdout + done.stderr
