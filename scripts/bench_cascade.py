"""Relay benchmark: what one hop of the relay pipe costs, and what spreading one stream over worker processes buys.

Part 1, **hop** (one process, loopback): an origin ``SfuService`` and an edge ``SfuService`` joined by one pipe (the
same code two nodes run). A real aiortc publisher sets the origin's producer up, then its packets are replaced by
synthetic 1100-byte VP8 packets pushed through the producer's tap:
- CPU per relayed packet (thread CPU time): at the origin the pipe consumer's forward (rewrite, SRTP protect,
  ``sendto``), at the edge the pipe's receive path (SRTP unprotect, parse, NACK bookkeeping, the relayed producer's
  ingest). Against them, in the same run: one viewer's forward at the edge (``--edge-viewers`` aiortc viewers).
- Latency, direct vs one hop in the same run: a probe viewer on the origin and one on the edge; packets paced every
  ``--pace-ms`` are stamped at each stage (origin tap, sent to the origin viewer, pipe ``sendto``, edge socket read,
  edge ingest, sent to the edge viewer); beside them a plain-UDP control through the same loop, the pacing sleeps'
  overshoot, GC pauses and the process's CPU and run-queue-wait shares. ``--origin-viewers N`` adds N dark viewers
  at the origin and alternates packets with the pipe first / last in the origin's fan-out.
- Recovery: the pipe drops one new packet in 50 on its way out (test hook, before SRTP); the time from the lost
  packet's first push to its repaired arrival at the edge.

Part 2, **workers**: one stream (the pre-encoded 1.4 Mbps VP8 publisher of ``bench_sfu.py``) and ``--viewers``
viewers in viewer processes (``bench_sfu.py --role viewers``), served by ``SfuWorkerPool`` with 1 worker, then with
2 (viewers spread by least load; the root worker pipes one copy to the other). Per worker: CPU from /proc over the
window and the packets delivered to viewers; packets per CPU-second gives the forwarding capacity of a core.

Part 3, **saturated** (``--sat-viewers N``): one synthetic stream at ``--sat-rate`` packets/s to N dark viewers (ICE
and DTLS done, then a BPF filter on their sockets keeps only STUN: the kernel drops the media, consent freshness
goes on), on 1, 2, 1 workers (``--sat-order``), each worker and the load generator in a session of its own; per
worker, between two of its own stats reports: packets forwarded, taken in, piped, CPU, run-queue wait.

    .venv/bin/python scripts/bench_cascade.py --hop-packets 2000 --edge-viewers 10 --loss-packets 1500 --viewers 0
    .venv/bin/python scripts/bench_cascade.py --hop-packets 0 --viewers 0 --sat-viewers 40 --sat-rate 2000 --window 8
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import statistics
import struct
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
CONTINUATION = bytes((0x00,)) + bytes(1099)
SECRET = "bench-cascade"


def _pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return bench_sfu._pct(ordered, q)


def _r(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


# -- part 1: one hop, in one process ------------------------------------------------------------------------------


async def run_hop(
    packets: int, edge_viewers: int, pace_ms: float, loss_packets: int, origin_viewers: int = 0
) -> dict[str, Any]:
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

    # latency, direct vs one hop in the same run: a probe viewer on the origin and one on the edge (both only drain
    # their sockets). Per paced packet (keyed by its RTP timestamp): pushed into the origin's producer (t0), sent to
    # the origin viewer (direct), sent into the pipe, read from the pipe's socket at the edge, ingested by the edge's
    # producer, sent to the edge viewer (one hop). Between two packets a plain UDP datagram goes through a socket pair
    # on the same loop (control: what any hop through this process costs at this load), and every pacing sleep's
    # overshoot is the loop's scheduling delay.
    crowd = [Viewer(audio=False) for _ in range(origin_viewers)]  # the origin worker's own audience, kept dark
    for index in range(0, len(crowd), 5):
        group = crowd[index : index + 5]
        offers = [await v.offer() for v in group]
        answers = await asyncio.gather(*(origin.subscribe("hop", offer) for offer in offers))
        for viewer, (_, answer) in zip(group, answers, strict=True):
            await viewer.accept(answer)
    probes = [Viewer(audio=False), Viewer(audio=False)]
    await probes[0].accept((await origin.subscribe("hop", await probes[0].offer()))[1])
    await probes[1].accept((await edge.subscribe("hop", await probes[1].offer()))[1])

    def viewer_consumer(prod: Any) -> Any:
        return next((c for c in prod._live if c._sender is not None), None)

    joined_by = time.monotonic() + 30
    while time.monotonic() < joined_by and (
        viewer_consumer(producer) is None
        or viewer_consumer(relayed) is None
        or sum(c._sender is not None for c in producer._live) < origin_viewers + 1
    ):
        push(KEY)
        await asyncio.sleep(0.3)
    dark = []
    for viewer in crowd:
        viewer.pc.getTransceivers()[0].receiver.__dict__["_RTCRtpReceiver__jitter_buffer"] = _Drop()
        for protocol in viewer.pc.getTransceivers()[0].receiver.transport.transport._connection._protocols:
            sock = protocol.transport.get_extra_info("socket")
            if sock is not None:
                dark.append(_stun_only(sock))
    for probe in probes:
        probe.pc.getTransceivers()[0].receiver.__dict__["_RTCRtpReceiver__jitter_buffer"] = _Drop()
    consumer = next(c for c in pipe_out.consumers.values() if c.kind == "video")
    off = consumer._ts_off
    stamps: dict[str, dict[int, float]] = {k: {} for k in ("direct", "pipe_sent", "edge_read", "edge_ingest", "hop")}

    def stamp_forward(target: Any, name: str, shift: int) -> None:
        forward = target.forward

        def stamped_forward(packet: Any, abs_send_time: int, ntp: int) -> None:
            forward(packet, abs_send_time, ntp)
            stamps[name].setdefault((packet.ts - shift) & 0xFFFFFFFF, time.perf_counter())

        target.forward = stamped_forward

    stamp_forward(viewer_consumer(producer), "direct", 0)
    stamp_forward(viewer_consumer(relayed), "hop", off)
    real_sendto = pipe_out._sendto

    def stamped_sendto(data: bytes, addr: Any) -> None:
        real_sendto(data, addr)
        if not 192 <= data[1] <= 223:
            stamps["pipe_sent"].setdefault((int.from_bytes(data[4:8], "big") - off) & 0xFFFFFFFF, time.perf_counter())

    pipe_out._sendto = stamped_sendto

    def read_stamp(data: bytes, addr: Any) -> None:
        if not 192 <= data[1] <= 223:
            stamps["edge_read"].setdefault((int.from_bytes(data[4:8], "big") - off) & 0xFFFFFFFF, time.perf_counter())
        timed_datagram(data, addr)

    pipe_in._transport.get_protocol().on_datagram = read_stamp

    def ingest_stamp(packet: Any) -> None:
        stamps["edge_ingest"].setdefault((packet.timestamp - off) & 0xFFFFFFFF, time.perf_counter())
        ingest(packet)

    pipe_in._producers = {ssrc: _Stamp(ingest_stamp) for ssrc in pipe_in._producers}  # type: ignore[dict-item]
    control_sent: dict[int, float] = {}
    control_got: dict[int, float] = {}
    loop = asyncio.get_running_loop()
    control_rx, _ = await loop.create_datagram_endpoint(
        lambda: _Datagrams(
            lambda data, addr: control_got.setdefault(int.from_bytes(data[:4], "big"), time.perf_counter())
        ),
        local_addr=("127.0.0.1", 0),
    )
    control_tx, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, remote_addr=control_rx.get_extra_info("sockname")
    )
    overshoot: list[float] = []
    pushed_ts: dict[int, float] = {}
    gc_pauses: list[float] = []
    gc_started = [0.0]

    def gc_timer(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            gc_pauses.append((time.perf_counter() - gc_started[0]) * 1000)

    gc.freeze()  # as the SFU's worker processes do: what exists now lives on, out of the collector's full passes
    gc.callbacks.append(gc_timer)
    cpu0, sched0, wall0 = time.process_time(), _run_queue_wait_s(), time.perf_counter()
    pipe_last: set[int] = set()
    for index in range(packets // 2):
        # A/B in the same run: even packets with the relay pipe first in the origin's fan-out (the SFU's order),
        # odd ones with it after the origin's own viewers (the order before pipes went first)
        pipes = [c for c in producer._live if c.is_pipe]
        others = [c for c in producer._live if not c.is_pipe]
        producer._live[:] = pipes + others if index % 2 == 0 else others + pipes
        if index % 2:
            pipe_last.add((ts + 3000) & 0xFFFFFFFF)
        push(DELTA)
        pushed_ts[ts] = pushed[seq]
        for half in (0, 1):
            before = time.perf_counter()
            await asyncio.sleep(pace_ms / 2000)
            overshoot.append((time.perf_counter() - before) * 1000 - pace_ms / 2)
            if half == 0:
                control_sent[index] = time.perf_counter()
                control_tx.sendto(index.to_bytes(4, "big") + DELTA[4:])
    await asyncio.sleep(0.3)
    cpu1, sched1, wall1 = time.process_time(), _run_queue_wait_s(), time.perf_counter()
    gc.callbacks.remove(gc_timer)
    control_tx.close()
    control_rx.close()
    pipe_in._transport.get_protocol().on_datagram = timed_datagram
    pipe_in._producers = {ssrc: _Stamp(stamped) for ssrc in pipe_in._producers}  # type: ignore[dict-item]
    pipe_out._sendto = real_sendto
    producer._live[:] = [c for c in producer._live if c.is_pipe] + [c for c in producer._live if not c.is_pipe]
    for probe in [*probes, *crowd]:
        await probe.close()

    def span(a: str | None, b: str, last: bool = False) -> list[float]:
        start = pushed_ts if a is None else stamps[a]
        return [
            (stamps[b][t] - start[t]) * 1000
            for t in pushed_ts
            if t in start and t in stamps[b] and (t in pipe_last) == last
        ]

    direct = span(None, "direct")
    one_hop = span(None, "hop")
    added = [
        (stamps["hop"][t] - stamps["direct"][t]) * 1000
        for t in pushed_ts
        if t in stamps["hop"] and t in stamps["direct"] and t not in pipe_last
    ]
    control = [(control_got[i] - control_sent[i]) * 1000 for i in control_sent if i in control_got]
    latency = span(None, "edge_ingest")

    def pcts(values: list[float]) -> dict[str, float | None]:
        return {
            "p50": _r(_pct(values, 50), 3),
            "p99": _r(_pct(values, 99), 3),
            "max": _r(max(values) if values else None, 3),
        }

    latency_breakdown = {
        "packets": len(pushed_ts) - len(pipe_last),
        "origin_viewers": origin_viewers,
        "pipe_last_packets": len(pipe_last),
        "pipe_last_one_hop_ms": pcts(span(None, "hop", last=True)),
        "pipe_last_origin_tap_to_pipe_sendto_ms": pcts(span(None, "pipe_sent", last=True)),
        "direct_ms": pcts(direct),
        "one_hop_ms": pcts(one_hop),
        "added_by_hop_ms": pcts(added),
        "origin_tap_to_pipe_sendto_ms": pcts(span(None, "pipe_sent")),
        "pipe_sendto_to_edge_read_ms": pcts(span("pipe_sent", "edge_read")),
        "edge_read_to_ingest_ms": pcts(span("edge_read", "edge_ingest")),
        "edge_ingest_to_viewer_sent_ms": pcts(span("edge_ingest", "hop")),
        "control_plain_udp_same_loop_ms": pcts(control),
        "loop_sleep_overshoot_ms": pcts(overshoot),
        "gc_pauses": len(gc_pauses),
        "gc_pause_max_ms": _r(max(gc_pauses) if gc_pauses else None, 3),
        "process_cpu_share": _r((cpu1 - cpu0) / (wall1 - wall0), 3),
        "run_queue_wait_share": _r((sched1 - sched0) / (wall1 - wall0), 3)
        if sched0 is not None and sched1 is not None
        else None,
    }

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
        "latency_breakdown": latency_breakdown,
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


def _run_queue_wait_s(pid: int | None = None) -> float | None:
    """Seconds a process's main thread has spent runnable but waiting for a CPU (``/proc/PID/schedstat``)."""
    try:
        return int(Path(f"/proc/{pid or 'self'}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram: Any) -> None:
        self.on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.on_datagram(data, addr)


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


# -- part 3: one stream's forwarding capacity at saturation, 1 worker vs 2 -------------------------------------------
#
# The load must not eat the cores it measures. The publisher is synthetic (one aiortc peer that negotiates VP8, then
# sends ready-made 1100-byte RTP packets at --rate through its DTLS transport: no encoder), and the viewers are aiortc
# peers that complete ICE and DTLS, receive media, and then attach a classic BPF filter to their ICE sockets that
# keeps only STUN (first payload byte 0 or 1): the kernel drops every RTP/RTCP packet before it is queued, so a
# viewer costs its process nothing per packet while consent freshness (RFC 7675, STUN every 5 s) keeps going. The
# SFU still pays the whole send path (rewrite, SRTP, sendto) for each viewer.

_STUN_ONLY = [(0x30, 0, 0, 8), (0x25, 1, 0, 1), (0x06, 0, 0, 0xFFFFFFFF), (0x06, 0, 0, 0)]  # ldb [8]; > 1 → drop


def _stun_only(sock: Any) -> Any:
    import ctypes
    import socket
    import struct

    program = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in _STUN_ONLY))
    sock.setsockopt(socket.SOL_SOCKET, 26, struct.pack("HL", len(_STUN_ONLY), ctypes.addressof(program)))  # ATTACH
    return program


async def run_sat_publisher(port: int, rate: int, seconds: float) -> None:
    import re

    from aiortc import RTCPeerConnection, RTCSessionDescription
    from aiortc.mediastreams import MediaStreamTrack

    from sfu import aiortc_hooks as hooks

    class Silent(MediaStreamTrack):
        kind = "video"

        async def recv(self) -> Any:
            await asyncio.Event().wait()

    pc = RTCPeerConnection()
    transceiver = pc.addTransceiver(Silent(), direction="sendonly")
    caps = [c for c in transceiver.sender.getCapabilities("video").codecs if c.mimeType == "video/VP8"]
    transceiver.setCodecPreferences(caps)
    with hooks.host_addresses(("127.0.0.1",)):
        await pc.setLocalDescription(await pc.createOffer())
    match = re.search(r"a=rtpmap:(\d+) VP8/90000", pc.localDescription.sdp)
    assert match is not None
    payload_type = int(match.group(1))
    answer = await bench_sfu.request(port, {"op": "publish", "sdp": pc.localDescription.sdp})
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    dtls = transceiver.sender.transport
    ssrc = transceiver.sender._ssrc
    deadline = time.monotonic() + 30
    while pc.connectionState != "connected" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    per_tick = max(1, rate // 100)  # one frame of per_tick packets every 10 ms, a keyframe every second
    seq, ts, tick = 0, 0, 0
    header = struct.Struct("!BBHII").pack
    start = time.monotonic()
    end = start + seconds
    while time.monotonic() < end:
        for index in range(per_tick):
            marker = 0x80 if index == per_tick - 1 else 0
            payload = KEY if index == 0 and tick % 100 == 0 else (DELTA if index == 0 else CONTINUATION)
            seq = (seq + 1) & 0xFFFF
            try:
                await dtls._send_rtp(header(0x80, marker | payload_type, seq, ts, ssrc) + payload)
            except ConnectionError:
                return
        ts = (ts + 900) & 0xFFFFFFFF
        tick += 1
        wait = start + tick / 100 - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
    await pc.close()


async def run_sat_viewers(port: int, count: int, seconds: float) -> None:
    from aiortc import RTCPeerConnection, RTCSessionDescription

    from sfu import aiortc_hooks as hooks

    class Count:
        def __init__(self) -> None:
            self.packets = 0

        def add(self, packet: Any) -> tuple[bool, None]:
            self.packets += 1
            return False, None

    viewers: list[tuple[Any, Count]] = []

    async def join() -> None:
        pc = RTCPeerConnection()
        transceiver = pc.addTransceiver("video", direction="recvonly")
        tap = Count()
        setattr(transceiver.receiver, hooks.RECEIVER_JITTER_BUFFER, tap)
        transceiver.receiver.__dict__["_RTCRtpReceiver__remote_bitrate_estimator"] = None
        with hooks.host_addresses(("127.0.0.1",)):
            await pc.setLocalDescription(await pc.createOffer())
        answer = await bench_sfu.request(port, {"op": "subscribe", "sdp": pc.localDescription.sdp})
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
        viewers.append((pc, tap))

    for start in range(0, count, 5):
        await asyncio.gather(*(join() for _ in range(min(5, count - start))))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not all(tap.packets for _, tap in viewers):
        await asyncio.sleep(0.1)
    filters = []
    for pc, _ in viewers:  # from now on the kernel drops their media: only STUN reaches the process
        ice = pc.getTransceivers()[0].receiver.transport.transport
        for protocol in ice._connection._protocols:
            sock = protocol.transport.get_extra_info("socket")
            if sock is not None:
                filters.append(_stun_only(sock))
    print(json.dumps({"joined": len(viewers), "receiving": sum(bool(t.packets) for _, t in viewers)}), flush=True)
    reader = asyncio.StreamReader()
    await asyncio.get_running_loop().connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(reader.readline(), timeout=seconds)
    for pc, _ in viewers:
        await pc.close()


def _spawn(*args: str) -> Any:
    import subprocess

    return subprocess.Popen(
        [sys.executable, __file__, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        start_new_session=True,  # its own scheduling group: the load generator does not take the workers' share
    )


def _worker_in_own_session(conn: Any, settings: Any) -> None:
    """An SFU worker process in a session of its own. Linux's autogroup scheduling shares CPU between sessions
    first, so workers left in the benchmark's session would split one share between them however many cores there
    are; each in its own session, N workers compete for the cores as N processes (as on a machine of their own)."""
    from sfu import workers

    os.setsid()
    workers.worker_main(conn, settings)


async def run_saturated(workers: int, viewers: int, per_process: int, rate: int, window: float) -> dict[str, Any]:
    """One stream at ``rate`` packets/s to ``viewers`` dark viewers, on a pool of ``workers``: what the workers
    actually forward per second (to viewers; and into internal pipes) when the offered load exceeds what they can."""
    from sfu import SfuSettings, SfuWorkerPool
    from sfu import workers as workers_module

    workers_module.worker_main = _worker_in_own_session  # type: ignore[assignment]
    pool = SfuWorkerPool(
        SfuSettings(announced_ips=("127.0.0.1",), connect_timeout_s=60, media_timeout_s=30), workers=workers
    )

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        message = json.loads(await reader.readline())
        try:
            call = pool.publish if message["op"] == "publish" else pool.subscribe
            reply: dict[str, Any] = {"sdp": (await call("sat", message["sdp"]))[1]}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        writer.write(json.dumps(reply).encode() + b"\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, limit=1 << 22)
    port = str(server.sockets[0].getsockname()[1])
    budget = str(window + 240)  # every helper process ends by itself after this long
    loop = asyncio.get_running_loop()
    procs = [_spawn("--role", "sat-publisher", "--port", port, "--rate", str(rate), "--seconds", budget)]
    try:
        deadline = time.monotonic() + 60
        while not pool.is_live("sat") and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        groups = [per_process] * (viewers // per_process) + ([viewers % per_process] if viewers % per_process else [])
        viewer_procs = [
            _spawn("--role", "sat-viewers", "--port", port, "--count", str(n), "--seconds", budget) for n in groups
        ]
        procs += viewer_procs
        joined = []
        for proc in viewer_procs:
            assert proc.stdout is not None
            joined.append(json.loads(await loop.run_in_executor(None, proc.stdout.readline)))
        await asyncio.sleep(3.0)
        pids = [w["pid"] for w in pool.stats()["workers"]]
        helpers = [p.pid for p in procs]
        helper_before = [cpu_seconds(pid) for pid in helpers]
        load_before = os.getloadavg()[0]
        started = time.monotonic()
        before = await _fresh_counts(pool)
        await asyncio.sleep(window)
        after = await _fresh_counts(pool)
        wall = time.monotonic() - started
        helper_after = [cpu_seconds(pid) for pid in helpers]
        placement = [w["viewers"] for w in pool.stats()["workers"]]
    finally:
        for proc in procs:
            with contextlib.suppress(Exception):
                assert proc.stdin is not None
                proc.stdin.write("quit\n")
                proc.stdin.flush()
        for proc in procs:
            try:
                await loop.run_in_executor(None, proc.wait, 20)
            except Exception:
                proc.kill()
        server.close()
        await pool.close()
    per_worker = []
    for index in range(len(pids)):
        # each worker over its own interval: between two of its stats pushes (a starved worker pushes late)
        span = after[index]["at"] - before[index]["at"]
        cpu = after[index]["cpu"] - before[index]["cpu"]
        sent = after[index]["delivered"] - before[index]["delivered"]
        per_worker.append(
            {
                "worker": index,
                "viewers": placement[index],
                "seconds": round(span, 2),
                "cpu_pct": round(cpu / span * 100, 1),
                # runnable but waiting for a CPU: cpu + waiting near 100 % means the worker always had work (saturated)
                "run_queue_wait_pct": round((after[index]["wait"] - before[index]["wait"]) / span * 100, 1),
                "forwarded_pps": round(sent / span),
                "ingest_pps": round((after[index]["ingest"] - before[index]["ingest"]) / span),
                "piped_out_pps": round((after[index]["piped"] - before[index]["piped"]) / span),
                "pkt_per_cpu_s": round(sent / cpu) if cpu else None,
                "relayed_in_pps": round((after[index]["relay_in"] - before[index]["relay_in"]) / span),
                "relay_unrepaired": after[index]["relay_lost"] - before[index]["relay_lost"],
                "pipes_same": after[index]["pipes"] == before[index]["pipes"],
            }
        )
    total = sum(w["forwarded_pps"] for w in per_worker)
    return {
        "part": "saturated",
        "workers": workers,
        "viewers": viewers,
        "offered_pps": rate * viewers,
        "receiving_before_dark": sum(j["receiving"] for j in joined),
        "per_worker": per_worker,
        "forwarded_pps": total,
        "cpu_pct_all_workers": round(sum(w["cpu_pct"] for w in per_worker), 1),
        "load_generator_cpu_pct": round((sum(helper_after) - sum(helper_before)) / wall * 100, 1),
        "loadavg_start": load_before,
        "loadavg_end": os.getloadavg()[0],
    }


async def _fresh_counts(pool: Any) -> list[dict[str, Any]]:
    """Waits for every worker's next stats push; per worker, when the worker made it and its CPU seconds then (both
    from the report itself), the run-queue wait when it arrived,
    and its cumulative counters (producer counters survive a viewer that leaves): packets its producers took in from
    the publisher, sends to viewers, sends into pipes."""
    workers = pool._workers
    seen = [w.stats for w in workers]
    got: list[dict[str, Any] | None] = [None] * len(workers)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(g is None for g in got):
        for index, worker in enumerate(workers):
            if got[index] is None and worker.stats is not seen[index]:
                routers = worker.stats.get("routers", [])
                piped = sum(p.get("sent", 0) for r in routers for p in r.get("pipes", []))
                forwarded = sum(p.get("forwarded", 0) for r in routers for p in r.get("producers", []))
                got[index] = {
                    "at": worker.stats.get("pushed_at", time.monotonic()),
                    "cpu": worker.stats.get("cpu_s", cpu_seconds(worker.pid)),
                    "wait": _run_queue_wait_s(worker.pid) or 0.0,
                    "delivered": forwarded - piped,
                    "ingest": sum(
                        p.get("packets", 0) for r in routers for p in r.get("producers", []) if r.get("relay") is None
                    ),
                    "piped": piped,
                    "pipes": sorted(p["id"] for r in routers for p in r.get("pipes", [])),  # type: ignore[dict-item]
                    "relay_in": sum((r.get("relay") or {}).get("received", 0) for r in routers),
                    "relay_lost": sum((r.get("relay") or {}).get("unrepaired", 0) for r in routers),
                }
        await asyncio.sleep(0.002)
    assert all(g is not None for g in got), "a worker stopped pushing its stats"
    return [g for g in got if g is not None]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hop-packets", type=int, default=2000, help="packets per hop measurement (0: skip)")
    parser.add_argument("--edge-viewers", type=int, default=10)
    parser.add_argument("--origin-viewers", type=int, default=0, help="dark viewers at the origin (latency part)")
    parser.add_argument("--pace-ms", type=float, default=2.0)
    parser.add_argument("--loss-packets", type=int, default=1500)
    parser.add_argument("--viewers", type=int, default=40, help="viewers of the one stream (0: skip part 2)")
    parser.add_argument("--per-process", type=int, default=20)
    parser.add_argument("--window", type=float, default=8.0)
    parser.add_argument("--sat-viewers", type=int, default=0, help="dark viewers for part 3 (0: skip part 3)")
    parser.add_argument("--sat-rate", type=int, default=2000, help="part 3: the stream's packets per second")
    parser.add_argument("--sat-per-process", type=int, default=50)
    parser.add_argument("--sat-order", default="1,2,1", help="part 3: worker counts, in order (one run)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--role", default="bench", choices=["bench", "sat-publisher", "sat-viewers"])
    parser.add_argument("--port", type=int)
    parser.add_argument("--count", type=int)
    parser.add_argument("--rate", type=int)
    parser.add_argument("--seconds", type=float)
    args = parser.parse_args()
    if args.role == "sat-publisher":
        asyncio.run(run_sat_publisher(args.port, args.rate, args.seconds))
        return
    if args.role == "sat-viewers":
        asyncio.run(run_sat_viewers(args.port, args.count, args.seconds))
        return
    results: list[dict[str, Any]] = []
    if args.hop_packets:
        results.append(
            asyncio.run(
                run_hop(args.hop_packets, args.edge_viewers, args.pace_ms, args.loss_packets, args.origin_viewers)
            )
        )
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
    if args.sat_viewers:
        runs = []
        for workers in (int(n) for n in args.sat_order.split(",")):
            runs.append(
                asyncio.run(run_saturated(workers, args.sat_viewers, args.sat_per_process, args.sat_rate, args.window))
            )
            results.append(runs[-1])
            print(json.dumps(runs[-1]), flush=True)
        ones = [r["forwarded_pps"] for r in runs if r["workers"] == 1]
        twos = [r["forwarded_pps"] for r in runs if r["workers"] == 2]
        if ones and twos:
            summary = {
                "part": "saturated_summary",
                "forwarded_pps_1_worker": ones,
                "forwarded_pps_2_workers": twos,
                "capacity_2_vs_1": round(statistics.mean(twos) / statistics.mean(ones), 3),
            }
            results.append(summary)
            print(json.dumps(summary), flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
