"""Simulcast end to end: headless Chromium publishes three layers over WHIP (rid + scaleResolutionDownBy); aiortc
viewers over WHEP ask for layers and decode what they get; a viewer moved between layers sees one continuous RTP
stream (no sequence gap, no decoder error) and the SFU does no codec work."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from typing import Any

import httpx
import pytest
from aiortc.rtp import RtpPacket

from hub.app import create_app
from hub.wiring import Hub
from sfu import SfuService, SfuSettings, aiortc_hooks
from tests.integration.test_sfu_forwarding import count_codec_work, encoders_created
from tests.support.api import create_stream, register
from tests.support.servers import serve_asgi
from tests.support.sfu_browser import chromium, open_page
from tests.support.sfu_peers import Viewer
from tests.support.waiting import until

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SDP = {"Content-Type": "application/sdp"}
#: The three layers the studio page sends, with bit rates low enough that Chromium keeps all three on while its
#: estimate of the uplink to aiortc is still at its start (~300 kbit/s; the bandwidth feedback is another task).
ENCODINGS = [
    {"rid": "l", "scaleResolutionDownBy": 4, "maxBitrate": 60_000},
    {"rid": "m", "scaleResolutionDownBy": 2, "maxBitrate": 100_000},
    {"rid": "h", "scaleResolutionDownBy": 1, "maxBitrate": 150_000},
]


def video_layers(hub: Hub, stream_id: str) -> list[dict[str, Any]]:
    for router in hub.sfu.stats()["routers"]:
        if router["stream_id"] == stream_id:
            return [p for p in router["producers"] if p["kind"] == "video"]
    return []


class SeqLog:
    """Every video RTP packet a viewer receives (before its jitter buffer), in arrival order."""

    def __init__(self, viewer: Viewer) -> None:
        receiver = next(t for t in viewer.pc.getTransceivers() if t.kind == "video").receiver
        self.packets: list[tuple[int, int, int]] = []
        self.plis = 0
        original = receiver._handle_rtp_packet
        original_pli = getattr(receiver, aiortc_hooks.RECEIVER_SEND_PLI)

        async def handle(packet: RtpPacket, arrival_time_ms: int) -> None:
            self.packets.append((packet.ssrc, packet.sequence_number, packet.timestamp))
            await original(packet, arrival_time_ms=arrival_time_ms)

        async def pli(media_ssrc: int) -> None:
            self.plis += 1
            await original_pli(media_ssrc)

        receiver._handle_rtp_packet = handle  # type: ignore[method-assign]
        setattr(receiver, aiortc_hooks.RECEIVER_SEND_PLI, pli)

    def gaps(self, ssrc: int, since: int = 0) -> list[tuple[int, int]]:
        seqs = [seq for s, seq, _ in self.packets[since:] if s == ssrc]
        return [(a, b) for a, b in itertools.pairwise(seqs) if (b - a) & 0xFFFF != 1]


async def test_chromium_publishes_three_layers_and_viewers_get_the_layer_they_ask_for(
    hub: Hub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="aiortc.rtcrtpreceiver")
    app = create_app(hub, own_hub=False)
    async with serve_asgi(app) as base, httpx.AsyncClient(base_url=base) as client:
        owner = await register(client, "Layered")
        stream = await create_stream(client, owner, "Three layers")
        whip = f"{base}/api/v1/whip/{stream['id']}"
        whep = f"{base}/api/v1/whep/{stream['id']}"
        low, high, far = Viewer(), Viewer(), Viewer()
        try:
            async with chromium() as browser:
                publisher = await open_page(browser, base)
                await publisher.evaluate(
                    "([u, k, e]) => window.publish(u, k, 'video/VP8', e)", [whip, stream["stream_key"], ENCODINGS]
                )

                async def two_layers_live() -> bool:
                    live = [p for p in video_layers(hub, stream["id"]) if p["keyframes"] and p["width"]]
                    return len({p["width"] for p in live}) >= 3

                assert await until(two_layers_live, 30), (video_layers(hub, stream["id"]), await _sent(publisher))
                assert {p["rid"] for p in video_layers(hub, stream["id"])} == {"l", "m", "h"}

                sessions = {}
                for viewer, layer in ((low, "low"), (high, "high")):
                    r = await client.post(f"{whep}?layer={layer}", content=await viewer.offer(), headers=SDP)
                    assert r.status_code == 201, r.text
                    await viewer.accept(r.text)
                    sessions[layer] = r.headers["Location"]

                async def both_decode() -> bool:
                    return all(v.video is not None and v.video.count >= 20 for v in (low, high))

                assert await until(both_decode, 30), hub.sfu.stats()["consumers"]
                service = hub.sfu_wiring.local_sfu  # the node's own SFU, under the cluster plane
                assert isinstance(service, SfuService)
                codec_work = count_codec_work(service)  # the publisher's receivers and both viewers' senders
                assert low.video is not None and high.video is not None
                # on a loaded machine Chromium may pause its upper layers for a while: the high viewer follows them
                if not await until(lambda: _latest(low)[0] < _latest(high)[0], 20):
                    raise AssertionError((_latest(low), _latest(high), _brief(hub.sfu), await _sent(publisher)))
                low_size = _latest(low)
                high_size = _latest(high)
                print("low viewer", low_size, "high viewer", high_size, "publisher", await _sent(publisher))

                # Move the low viewer up: its RTP stream goes on without a gap, and it decodes bigger frames.
                log = SeqLog(low)
                await asyncio.sleep(0.5)
                mark = len(log.packets)
                asked = time.monotonic()
                r = await client.post(f"{sessions['low']}/layer", json={"layer": "high"})
                assert r.status_code == 200, r.text

                async def low_grew() -> bool:
                    return _latest(low)[0] > low_size[0]

                assert await until(low_grew, 15), (_latest(low), hub.sfu.stats()["consumers"])
                print(f"switch low -> high: first bigger frame {time.monotonic() - asked:.2f} s after the request")
                await asyncio.sleep(1.0)
                ssrcs = {s for s, _, _ in log.packets}
                assert len(ssrcs) == 1, "the viewer saw another SSRC"
                assert log.gaps(ssrcs.pop(), since=0) == [], "a sequence gap across the switch"
                assert len(log.packets) > mark
                switched = [c for c in hub.sfu.stats()["consumers"] if c["kind"] == "video" and c["switches"]]
                assert switched, hub.sfu.stats()["consumers"]
                assert log.plis == 0, "the viewer's decoder asked for a keyframe (a decode error or a gap)"
                assert codec_work["decoder_frames"] == 0 and encoders_created(service) == 0  # forwarding only

                # A relay pipe to another SFU (another node or worker) carries every layer: a viewer there gets the
                # top one by default and the bottom one when it asks.
                edge = SfuService(SfuSettings(announced_ips=("127.0.0.1",), relay_secret=hub.sfu.settings.relay_secret))
                try:
                    await edge.attach_relay(stream["id"], await hub.sfu.open_origin_pipe(stream["id"]))
                    far_session, answer = await edge.subscribe(stream["id"], await far.offer())
                    await far.accept(answer)
                    assert await until(lambda: far.video is not None and far.video.count >= 20, 20)
                    # Chromium may resize its layers meanwhile (CPU or bandwidth): compare with what the high viewer
                    # on the origin decodes now, not with its size minutes ago.
                    assert await until(lambda: _latest(far) == _latest(high), 10), (
                        _latest(far),
                        _latest(high),
                        _brief(edge),
                    )
                    relayed = edge.stats()["routers"][0]["producers"]
                    assert sorted(p["rid"] or "" for p in relayed if p["kind"] == "video") == ["h", "l", "m"]
                    await edge.set_layer(far_session, "low")
                    assert await until(lambda: _latest(far)[0] < _latest(high)[0], 10), (_latest(far), _latest(high))
                finally:
                    await far.close()
                    await edge.close()
        finally:
            await low.close()
            await high.close()
    assert not [r for r in caplog.records if "failed to decode" in r.getMessage()]


def _brief(sfu: Any) -> Any:
    stats = sfu.stats()
    keys = ("rid", "width", "height", "bitrate_bps", "keyframes", "packets", "plis_sent", "consumers")
    producers = [{k: p[k] for k in keys} for r in stats["routers"] for p in r["producers"] if p["kind"] == "video"]
    viewers = [{k: c[k] for k in ("layer", "preference", "switches", "plis")} for c in stats["consumers"]]
    return producers, viewers


def _latest(viewer: Viewer) -> tuple[int, int]:
    assert viewer.video is not None
    return viewer.video.last_size


async def _sent(page: Any) -> Any:
    return await page.evaluate("window.layers()")
