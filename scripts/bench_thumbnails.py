"""Thumbnail cost: CPU time to turn one cached keyframe into a directory picture (depayload, decode with a fresh
decoder, scale, encode), as ``ThumbnailMaker`` does once per stream per interval in its one thread.

Keyframes are made by aiortc's own encoders (VP8 and H.264, the way a publisher packetizes them) from a moving
test pattern at each source size; each is rendered ``--rounds`` times and the thread CPU time per picture reported
(median and p90), with the picture's size in bytes, and what that means per 100 live streams at the default interval.

    .venv/bin/python scripts/bench_thumbnails.py --sizes 640x360,1280x720,1920x1080 --rounds 20
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import av  # noqa: E402
from aiortc.codecs.h264 import H264Encoder  # noqa: E402
from aiortc.codecs.vpx import Vp8Encoder  # noqa: E402

from rooms.settings import RoomsSettings  # noqa: E402
from sfu.thumbnail import KeyframeSnapshot, render_thumbnail  # noqa: E402


def pattern(width: int, height: int) -> av.VideoFrame:
    """Smooth gradients with some texture: closer to a camera picture than noise (which no encoder compresses)."""
    frame = av.VideoFrame(width, height, "yuv420p")
    for index, plane in enumerate(frame.planes):
        line = plane.line_size
        rows = plane.buffer_size // line
        data = bytearray(plane.buffer_size)
        for y in range(rows):
            base = y * line
            for x in range(0, line, 4):
                value = (x // 3 + y // 2 + index * 40 + ((x * y) >> 9) % 17) & 0xFF
                data[base + x : base + x + 4] = bytes((value,)) * 4
        plane.update(bytes(data))
    frame.pts = 0
    frame.time_base = Fraction(1, 90000)
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--width", type=int, default=RoomsSettings().thumbnail_width)
    parser.add_argument("--formats", default="jpeg,webp")
    args = parser.parse_args()
    interval = RoomsSettings().thumbnail_interval_s
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; thumbnail width {args.width}")
    print("codec  source      format  keyframe_kB  picture_B  cpu_ms_p50  cpu_ms_p90  core_%_per_100_streams")
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        frame = pattern(width, height)
        for mime, make in (("video/VP8", Vp8Encoder), ("video/H264", H264Encoder)):
            encoder = make()
            if mime == "video/H264":
                encoder.target_bitrate = 3_000_000
            payloads, ts = encoder.encode(frame, force_keyframe=True)
            snap = KeyframeSnapshot("bench", mime, None, width, height, (), tuple(payloads), ts)
            keyframe_kb = sum(len(p) for p in payloads) / 1000
            for fmt in args.formats.split(","):
                cpu: list[float] = []
                image = b""
                for _ in range(args.rounds):
                    started = time.thread_time()
                    image = render_thumbnail(snap, width=args.width, fmt=fmt).image
                    cpu.append((time.thread_time() - started) * 1000)
                cpu.sort()
                p50 = statistics.median(cpu)
                p90 = cpu[min(len(cpu) - 1, round(0.9 * (len(cpu) - 1)))]
                per_100 = 100 * p50 / 1000 / interval * 100
                print(
                    f"{mime[6:]:<6} {size:<11} {fmt:<7} {keyframe_kb:>11.1f}  {len(image):>9}  {p50:>10.2f}  "
                    f"{p90:>10.2f}  {per_100:>22.1f}"
                )


if __name__ == "__main__":
    main()
