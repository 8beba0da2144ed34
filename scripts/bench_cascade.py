"""Relay benchmark: what one hop of the relay pipe costs, and what spreading one stream over worker processes buys.

Part 1, **hop** (one process, loopback): an origin ``SfuService`` and an edge ``SfuService`` joined by one pipe (the
same code two nodes run). A real aiortc publisher sets the origin's producer up, then its packets are replaced by
synthetic 1100-byte VP8 packets pushed through the producer's tap:
- CPU per relayed packet (thread CPU time): at the origin the pipe consumer's forward (rewrite, SRTP protect,
  ``sendto``), at the edge the pipe's receive path (SRTP unprotect, parse, NACK bookkeeping, the relayed producer's
  ingest). Against them, in the same run: one viewer's forward at the edge (``--edge-viewers`` aiortc viewers).
- Added latency: packets paced every ``--pace-ms``, time from the origin's tap to the edge producer's tap.
- Recovery: the pipe drops one new packet in 50 on its way out (test hook, before SRTP); the time from the lost
  packet's first push to its repaired arrival at the edge.

Part 2, **workers**: one stream (the pre-encoded 1.4 Mbps VP8 publisher of ``bench_sfu.py``) and ``--viewers``
viewers in viewer processes (``bench_sfu.py --role viewers``), served by ``SfuWorkerPool`` with 1 worker, then with
2 (viewers spread by least load; the root worker pipes one copy to the other). Per worker: CPU from /proc over the
window and the packets delivered to viewers; packets per CPU-second gives the forwarding capacity of a core.

    .venv/bin/python scripts/bench_cascade.py --hop-packets 2000 --viewers 40 --window 8
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

import bench_sfu  # noqa: E402
from benchlib import cpu_seconds  # noqa: E402

KEY = bytes((0x10, 0x00, 0x9D, 0x01, 0x2A)) + bytes(1095)
DELTA = bytes((0x10, 0x01)) + bytes(1098)
SECRET = "bench-cascade"


def _pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return bench_sfu._pct(ordered, q)


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# -- part 1: one hop, in one process ------------------------------------------------------------------------------


async def run_hop(packets: int, edge_viewers: int, pace_ms: float, loss_packets: int) -> dict[str, Any]:
    from aiortc.rtp import RtpPacket

    from sfu import SfuService, SfuSettings, aiortc_hooks
    from tests.support.sfu_peers import Publisher, Viewer

    settings = SfuSettings(
        announced_ips=("127.0.0.1",), relay_secret=SECRET, gop_refresh_s=600.0, media_timeout_s=60, pli_interval_s=600
    )
    origin, edge = SfuService(settings), SfuService(settings)
    publisher = Publisher(audio=False)
    await publisher.accept((await origin.publish("hop", await publisher.offer()))[1])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and ("hop" not in origin._routers or not origin._routers["hop"].producers):
        await asyncio.sleep(0.05)
    producer = origin._routers["hop"].producers["video"]
    while time.monotonic() < deadline and producer.media_ssrc is None:
        await asyncio.sleep(0.05)
    # from here on the origin's producer gets only the synthetic packets
    session = next(s for s in origin._sessions.values() if s.role == "publisher")
    for transceiver in session.pc.getTransceivers():
        aiortc_hooks.install_receiver_tap(transceiver.receiver, lambda packet: None)
    await edge.attach_relay("hop", await origin.open_origin_pipe("hop"))
    pipe_out = next(iter(origin._pipes.values()))
    relay = edge._routers["hop"].relay
    assert relay is not None
    pipe_in = relay.pipe
    relayed = edge._routers["hop"].producers["video"]

    edge_cpu = [0.0]
    handler = pipe_in._datagram

    def timed_datagram(data: bytes, addr: Any) -> None:
        start = time.thread_time()
        handler(data, addr)
        edge_cpu[0] += time.thread_time() - start

    pipe_in._transport.get_protocol().on_datagram = timed_datagram
    arrivals: dict[int, float] = {}
    ingest = relayed.on_packet

    def stamped(packet: Any) -> None:
        arrivals.setdefault(packet.sequence_number, time.perf_counter())
        ingest(packet)

    pipe_in._producers = {ssrc: _Stamp(stamped) for ssrc in pipe_in._producers}  # type: ignore[dict-item]

    seq, ts = producer.max_seq, producer.max_ts
    pushed: dict[int, float] = {}

    def push(payload: bytes, marker: int = 1) -> int:
        nonlocal seq, ts
        seq = (seq + 1) & 0xFFFF
        ts = (ts + 3000) & 0xFFFFFFFF
        packet = RtpPacket(payload_type=97, sequence_number=seq, timestamp=ts, marker=marker)
        packet.ssrc = producer.media_ssrc or 0
        packet.payload = payload
        pushed[seq] = time.perf_counter()
        producer.on_packet(packet)
        return seq

    # wait for the pipe to latch, then open with a keyframe so edge viewers can start
    while time.monotonic() < deadline and not pipe_out.connected:
        await asyncio.sleep(0.02)
    push(KEY)
    await asyncio.sleep(0.2)

    async def measure_cpu() -> tuple[float, float, float | None, float | None, float | None, int]:
        """Rounds of 25 packets pushed back to back; the edge drains between rounds. Thread CPU per packet."""
        origin_fanout, origin_forwarded = producer.fanout_s, producer.forwarded
        edge_cpu[0] = 0.0
        received_before = pipe_in.received
        edge_fanout, edge_forwarded = relayed.fanout_s, relayed.forwarded
        origin_tap_cpu = 0.0
        for _ in range(max(1, packets // 25)):
            start = time.thread_time()
            for _ in range(25):
                push(DELTA)
            origin_tap_cpu += time.thread_time() - start
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        relayed_count = producer.forwarded - origin_forwarded
        received = pipe_in.received - received_before
        forwards = relayed.forwarded - edge_forwarded
        fanout = relayed.fanout_s - edge_fanout
        return (
            (producer.fanout_s - origin_fanout) / relayed_count * 1e6,
            origin_tap_cpu / relayed_count * 1e6,
            edge_cpu[0] / received * 1e6 if received else None,
            (edge_cpu[0] - fanout) / received * 1e6 if received else None,
            fanout / forwards * 1e6 if forwards else None,
            relayed_count,
        )

    origin_us, origin_tap_us, edge_us, _, _, relayed_count = await measure_cpu()

    # latency: paced packets, origin tap → edge tap
    arrivals.clear()
    pushed.clear()
    sent_seqs = []
    for _ in range(packets // 2):
        sent_seqs.append(push(DELTA))
        await asyncio.sleep(pace_ms / 1000)
    await asyncio.sleep(0.3)
    consumer = next(c for c in pipe_out.consumers.values() if c.kind == "video")
    off = consumer._seq_off
    latency = [(arrivals[(s + off) & 0xFFFF] - pushed[s]) * 1000 for s in sent_seqs if (s + off) & 0xFFFF in arrivals]

    # recovery: one new packet in 50 dropped by the pipe on its way out
    seen: set[int] = set()
    dropped: list[int] = []

    def drop(data: bytes) -> bool:
        number = int.from_bytes(data[2:4], "big")
        if number in seen:
            return False
        seen.add(number)
        if len(seen) % 50 == 0:
            dropped.append(number)
            return True
        return False

    pipe_out.drop = drop
    arrivals.clear()
    pushed.clear()
    out_seqs: dict[int, int] = {}
    for _ in range(loss_packets):
        in_seq = push(DELTA)
        out_seqs[(in_seq + consumer._seq_off) & 0xFFFF] = in_seq
        await asyncio.sleep(pace_ms / 1000)
    pipe_out.drop = None
    for _ in range(5):  # the last loss is revealed by the packets after it
        push(DELTA)
        await asyncio.sleep(pace_ms / 1000)
    await asyncio.sleep(0.5)
    recovery = [(arrivals[d] - pushed[out_seqs[d]]) * 1000 for d in dropped if d in arrivals and d in out_seqs]
    viewers = []
    for _ in range(edge_viewers):
        viewer = Viewer(audio=False)
        await viewer.accept((await edge.subscribe("hop", await viewer.offer()))[1])
        viewers.append(viewer)
    joined_by = time.monotonic() + 30
    while time.monotonic() < joined_by and len(relayed._live) < edge_viewers:
        push(KEY)
        await asyncio.sleep(0.3)
    for viewer in viewers:  # the viewers only drain their sockets
        viewer.pc.getTransceivers()[0].receiver.__dict__["_RTCRtpReceiver__jitter_buffer"] = _Drop()

    _, _, edge_with_viewers_us, edge_ingest_us, viewer_us, _ = await measure_cpu()
    result = {
        "part": "hop",
        "relayed_packets": relayed_count,
        "origin_pipe_forward_us_per_packet": _r(origin_us, 2),
        "origin_tap_to_pipe_us_per_packet": _r(origin_tap_us, 2),
        "edge_receive_us_per_packet": _r(edge_us, 2),
        "edge_receive_with_viewers_us_per_packet": _r(edge_with_viewers_us, 2),
        "edge_receive_excl_fanout_us_per_packet": _r(edge_ingest_us, 2),
        "edge_viewers": edge_viewers,
        "edge_viewer_forward_us_per_packet": _r(viewer_us, 2),
        "latency_packets": len(latency),
        "latency_p50_ms": _r(_pct(latency, 50), 3),
        "latency_p99_ms": _r(_pct(latency, 99), 3),
        "latency_max_ms": _r(max(latency) if latency else None, 3),
        "pace_ms": pace_ms,
        "lost_on_hop": len(dropped),
        "recovered": len(recovery),
        "recovery_p50_ms": _r(_pct(recovery, 50), 2),
        "recovery_p99_ms": _r(_pct(recovery, 99), 2),
        "recovery_max_ms": _r(max(recovery) if recovery else None, 2),
        "unrepaired": pipe_in.unrepaired,
        "loadavg": os.getloadavg()[0],
    }
    for viewer in viewers:
        await viewer.close()
    await publisher.close()
    await edge.close()
    await origin.close()
    return result


class _Stamp:
    """Stands in for the relayed producer in the pipe's table: stamps, then ingests."""

    def __init__(self, on_packet: Any) -> None:
        self.on_packet = on_packet


class _Drop:
    def add(self, packet: Any) -> tuple[bool, None]:
        return False, None


# -- part 2: one stream over 1 and 2 worker processes --------------------------------------------------------------


async def run_workers(workers: int, viewers: int, per_process: int, window: float, source: Path) -> dict[str, Any]:
    from sfu import SfuSettings, SfuWorkerPool

    pool = SfuWorkerPool(
        SfuSettings(announced_ips=("127.0.0.1",), connect_timeout_s=60, media_timeout_s=30), workers=workers
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        message = json.loads(await reader.readline())
        try:
            if message["op"] == "publish":
                reply: dict[str, Any] = {"sdp": (await pool.publish("bench", message["sdp"]))[1]}
            else:
                reply = {"sdp": (await pool.subscribe("bench", message["sdp"]))[1]}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 22)
    port = str(server.sockets[0].getsockname()[1])
    procs = []
    loop = asyncio.get_running_loop()
    try:
        procs.append(bench_sfu.spawn("--role", "publisher", "--port", port, "--source", str(source)))
        deadline = time.monotonic() + 60
        while not pool.is_live("bench") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        groups = [per_process] * (viewers // per_process) + ([viewers % per_process] if viewers % per_process else [])
        viewer_procs = [bench_sfu.spawn("--role", "viewers", "--port", port, "--count", str(n)) for n in groups]
        procs += viewer_procs
        for proc in viewer_procs:
            assert proc.stdout is not None
            await loop.run_in_executor(None, proc.stdout.readline)  # joined
        await asyncio.sleep(4.0)
        pids = [w["pid"] for w in pool.stats()["workers"]]
        stats_before = _worker_counts(pool)
        cpu_before = [cpu_seconds(pid) for pid in pids]
        counts_before = [await loop.run_in_executor(None, bench_sfu.ask, p, "counts") for p in viewer_procs]
        started = time.monotonic()
        await asyncio.sleep(window)
        cpu_after = [cpu_seconds(pid) for pid in pids]
        counts_after = [await loop.run_in_executor(None, bench_sfu.ask, p, "counts") for p in viewer_procs]
        wall = time.monotonic() - started
        await asyncio.sleep(1.1)  # one more stats push covers the window's end
        stats_after = _worker_counts(pool)
        received = [
            b - a
            for x, y in zip(counts_before, counts_after, strict=True)
            for a, b in zip(x["packets"], y["packets"], strict=True)
        ]
        frames = [
            b - a
            for x, y in zip(counts_before, counts_after, strict=True)
            for a, b in zip(x["frames"], y["frames"], strict=True)
        ]
        placement = [w["viewers"] for w in pool.stats()["workers"]]
        pipes = [len(r["pipes"]) for r in pool.stats()["routers"]]
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                await loop.run_in_executor(None, proc.wait, 10)
            except Exception:
                proc.kill()
        server.close()
        await pool.close()
    per_worker = []
    for index in range(len(pids)):
        cpu = cpu_after[index] - cpu_before[index]
        delivered = stats_after[index]["delivered"] - stats_before[index]["delivered"]
        per_worker.append(
            {
                "worker": index,
                "viewers": placement[index],
                "cpu_pct": round(cpu / wall * 100, 1),
                "delivered_pps": round(delivered / wall),
                "relayed_in_pps": round((stats_after[index]["relay_in"] - stats_before[index]["relay_in"]) / wall),
                "pkt_per_cpu_s": round(delivered / cpu) if cpu else None,
                "codec_objects": stats_after[index]["codec_objects"],
            }
        )
    total_cpu = sum(cpu_after) - sum(cpu_before)
    total_delivered = sum(w["delivered_pps"] for w in per_worker) * wall
    return {
        "part": "workers",
        "workers": workers,
        "viewers": viewers,
        "per_worker": per_worker,
        "pipes_per_router": pipes,
        "delivered_pps": round(total_delivered / wall),
        "cpu_pct_all_workers": round(total_cpu / wall * 100, 1),
        "pkt_per_cpu_s": round(total_delivered / total_cpu) if total_cpu else None,
        "viewer_pps_median": round(statistics.median(received) / wall, 1) if received else None,
        "viewer_fps_min": round(min(frames) / wall, 1) if frames else None,
        "loadavg": os.getloadavg()[0],
    }


def _worker_counts(pool: Any) -> list[dict[str, Any]]:
    """Per worker: packets sent to viewers (cumulative), packets received over internal relays, codec objects."""
    result = []
    for worker in pool._workers:
        stats = worker.stats
        delivered = sum(c.get("packets", 0) for c in stats.get("consumers", []))
        relay_in = sum((r.get("relay") or {}).get("received", 0) for r in stats.get("routers", []))
        result.append({"delivered": delivered, "relay_in": relay_in, "codec_objects": stats.get("codec_objects")})
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hop-packets", type=int, default=2000, help="packets per hop measurement (0: skip)")
    parser.add_argument("--edge-viewers", type=int, default=10)
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--loss-packets", type=int, default=1500)
    parser.add_argument("--viewers", type=int, default=40, help="viewers of the one stream (0: skip part 2)")
    parser.add_argument("--per-process", type=int, default=20)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    if args.hop_packets:
        results.append(asyncio.run(run_hop(args.hop_packets, args.edge_viewers, args.pace_ms, args.loss_packets)))
        print(json.dumps(results[-1]), flush=True)
    if args.viewers:
        with tempfile.TemporaryDirectory() as tmp:
            source = Path(tmp) / "source.json"
            bench_sfu.encode_source(source)
            for workers in (1, 2):
                results.append(asyncio.run(run_workers(workers, args.viewers, args.per_process, args.window, source)))
                print(json.dumps(results[-1]), flush=True)
        one, two = results[-2], results[-1]
        if one.get("pkt_per_cpu_s") and two.get("pkt_per_cpu_s"):
            summary = {
                "part": "summary",
                "pkt_per_cpu_s_2_workers_vs_1": round(two["pkt_per_cpu_s"] / one["pkt_per_cpu_s"], 3),
                "capacity_2_cores_vs_1_worker": round(2 * two["pkt_per_cpu_s"] / one["pkt_per_cpu_s"], 2),
            }
            results.append(summary)
            print(json.dumps(summary), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
