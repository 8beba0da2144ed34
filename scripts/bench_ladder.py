"""Transcoded ladder cost: CPU of one stream's ladder (one decode of the publisher's video, one encode per extra
layer: half and quarter size) at several source sizes, in the hub's own SFU (in-process), with an aiortc publisher
sending VP8 (a moving pattern, 30 fps) and one viewer on each layer.

The figure is the ladder thread's own CPU time (``time.thread_time`` inside it) over the window, as a share of one
core, with the pictures decoded and encoded per second and the packets it had to drop (0: it kept up). The publisher's
own encoder runs in this process too but not in that thread, so it is not counted.

    .venv/bin/python scripts/bench_ladder.py --sizes 640x360,1280x720 --window 10
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiortc import RTCPeerConnection, VideoStreamTrack  # noqa: E402
from av import VideoFrame  # noqa: E402

from sfu import SfuService, SfuSettings  # noqa: E402
from sfu import aiortc_hooks as hooks  # noqa: E402


class Pattern(VideoStreamTrack):
    def __init__(self, width: int, height: int, fps: int = 30) -> None:
        super().__init__()
        self.width, self.height, self.fps = width, height, fps
        self.count = 0
        self.start: float | None = None
        self.ramp = bytes((i * 3) % 256 for i in range(width + height + 512))
        self.chroma = bytes([128]) * ((width // 2) * (height // 2))

    async def recv(self) -> VideoFrame:
        self.start = self.start or time.monotonic()
        self.count += 1
        wait = self.start + self.count / self.fps - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        shift = (self.count * 2) % 256
        luma = b"".join(self.ramp[y + shift : y + shift + self.width] for y in range(self.height))
        frame = VideoFrame(self.width, self.height, "yuv420p")
        frame.planes[0].update(luma)
        frame.planes[1].update(self.chroma)
        frame.planes[2].update(self.chroma)
        frame.pts = self.count * (90000 // self.fps)
        frame.time_base = fractions.Fraction(1, 90000)
        return frame


async def negotiate(pc: RTCPeerConnection, answer_of: Any) -> str:
    with hooks.host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    session, answer = await answer_of(pc.localDescription.sdp)
    await pc.setRemoteDescription(type(pc.localDescription)(sdp=answer, type="answer"))
    return str(session)


async def measure(width: int, height: int, window: float) -> dict[str, Any]:
    service = SfuService(SfuSettings(announced_ips=("127.0.0.1",), max_transcoded_streams=1))
    publisher = RTCPeerConnection()
    publisher.addTransceiver(Pattern(width, height), direction="sendonly")
    viewers: list[RTCPeerConnection] = []
    try:
        await negotiate(publisher, lambda sdp: service.publish("bench", sdp))
        deadline = time.monotonic() + 15
        while not service.is_live("bench") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
        assert await service.set_ladder("bench", True)
        for layer in ("high", "medium", "low"):
            viewer = RTCPeerConnection()
            viewer.addTransceiver("video", direction="recvonly")
            session = await negotiate(viewer, lambda sdp: service.subscribe("bench", sdp))
            await service.set_layer(session, layer)
            viewers.append(viewer)
        await asyncio.sleep(2.0)  # settle: viewers placed, encoders warm
        before = next(r for r in service.stats()["routers"] if r["stream_id"] == "bench")["ladder"]
        await asyncio.sleep(window)
        after = next(r for r in service.stats()["routers"] if r["stream_id"] == "bench")["ladder"]
        return {
            "source": f"{width}x{height}",
            "cpu_share": (after["cpu_s"] - before["cpu_s"]) / window,
            "decoded_fps": (after["frames_decoded"] - before["frames_decoded"]) / window,
            "encoded_fps": {
                rid: (n - before["frames_encoded"][rid]) / window for rid, n in after["frames_encoded"].items()
            },
            "dropped": after["dropped_packets"] - before["dropped_packets"],
        }
    finally:
        for pc in (*viewers, publisher):
            await pc.close()
        await service.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="640x360,1280x720")
    parser.add_argument("--window", type=float, default=10.0)
    args = parser.parse_args()
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        load = os.getloadavg()
        result = asyncio.run(measure(width, height, args.window))
        encoded = ", ".join(f"{rid} {fps:.1f}" for rid, fps in result["encoded_fps"].items())
        per_frame_ms = result["cpu_share"] / max(result["decoded_fps"], 1e-9) * 1000
        print(
            f"source {result['source']}: ladder thread {result['cpu_share'] * 100:.1f} % of a core, "
            f"{per_frame_ms:.1f} ms per source picture ({per_frame_ms * 3:.0f} % of a core at 30 fps); decoded "
            f"{result['decoded_fps']:.1f} fps, encoded {encoded} fps; dropped {result['dropped']} packets "
            f"(load average at start {load[0]:.2f} {load[1]:.2f})"
        )


if __name__ == "__main__":
    main()
