"""Chat fan-out benchmark: N viewers in one room spread over 2 hub nodes sharing Redis, M chat messages per second.

Every role is its own process: redis-server, two hub nodes (``node``: the real ``Hub`` + uvicorn, one core each at
most), and the load generator (``load``: raw Engine.IO/Socket.IO WebSocket clients on aiohttp, so the client side
stays cheap). Viewers join as guests (half on each node); a few authenticated senders (alternating nodes) send
``M`` messages per second in total for a fixed window. Every viewer counts deliveries (a ``room:batch`` counts each
chat message in it); one viewer in twenty parses every message and records its delivery latency (send → receive, one
clock, the load process). The nodes' CPU time over the window comes from ``/proc``; memory per idle connection is
the nodes' RSS growth from before the viewers connect to after they all joined, divided by the viewers.

The hub stores in the in-process MongoDB stand-in (one per node process), so both nodes are seeded with the same
stream and sender accounts; messages are stored by the node that receives them.

    .venv/bin/python scripts/bench_chat.py --clients 500,2000,5000 --rate 20 --window 10
    .venv/bin/python scripts/bench_chat.py --clients 2000 --redis-cluster 3   # on a three-master Redis Cluster
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import (  # noqa: E402
    NS,
    RawViewer,
    cpu_seconds,
    eio_connect,
    free_port,
    open_raw_viewer,
    seed_accounts_and_live_stream,
)

JWT_SECRET = "bench-secret-" + "b" * 40
STREAM_ID = "bench-stream"
TEXT = b'"text":'  # what a raw viewer counts: one per delivered chat message
OWNER_ID = "bench-owner"


async def room_ticks(session: Any, bases: list[str]) -> int:
    """Room ticks written by the nodes so far (``hub_fanout_chat_batches``: one packet per local viewer each)."""
    total = 0
    for base in bases:
        async with session.get(f"{base}/metrics") as resp:
            for line in (await resp.text()).splitlines():
                if line.startswith("hub_fanout_chat_batches_total "):
                    total += int(float(line.split()[1]))
    return total


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------------------------------------------- node


def sender_id(i: int) -> str:
    return f"bench-sender-{i}"


async def run_node(
    port: int, node_id: str, redis_url: str, senders: int, ws: str, direct: bool, stats_dir: str, trace: bool = False
) -> None:
    import gc

    import uvicorn

    from hub.app import create_app
    from hub.serve_options import WEBSOCKET_OPTIONS, WS_IMPLEMENTATIONS
    from hub.settings import Settings
    from hub.wiring import Hub

    env = {
        "HUB_JWT_SECRET": JWT_SECRET,
        "HUB_REDIS_URL": redis_url,
        "HUB_NODE_ID": node_id,
        "HUB_PORT": str(port),
        "HUB_BCRYPT_ROUNDS": "4",
        "HUB_CHAT_BURST": "100000",
        "HUB_CHAT_PER_SECOND": "100000",
        "HUB_LOG_LEVEL": "WARNING",
    }
    if not direct:  # every packet through Engine.IO's queue and writer task, as before room ticks went to the wire
        from signaling.lean_socket import LeanSocket

        LeanSocket.write_now = lambda self, frames: False  # type: ignore[method-assign]
    hub = Hub(Settings.from_env(env))
    tracer = None
    if trace:  # wall-clock trace of chat:send, the room's ticks and the loop's lateness (scripts/chat_trace.py)
        from chat_trace import ChatTrace

        tracer = ChatTrace()
        tracer.install(hub)
    # `hub serve`'s WebSocket settings (hub/serve_options.py), with the implementation chosen on the command line.
    options = {**WEBSOCKET_OPTIONS, "ws": WS_IMPLEMENTATIONS[ws]}
    config = uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning", lifespan="on", **options)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    await seed_accounts_and_live_stream(hub, STREAM_ID, OWNER_ID, [sender_id(i) for i in range(senders)])
    gc.collect()
    gc.freeze()  # MEASURED.md: full collections walking every connection's objects dominate at thousands of members
    print("ready", flush=True)
    # The sending window: the load process sends SIGUSR1 when the senders start and SIGUSR2 once deliveries stopped.
    # Over it: the garbage collector's pauses (written to ``<stats_dir>/<node>.gc.json``), and with BENCH_PROFILE_DIR
    # a CPU-time profile (not wall time: the cores are shared).
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append(time.perf_counter() - started[0])

    profile_path = os.environ.get("BENCH_PROFILE_DIR")
    import cProfile

    profiler = cProfile.Profile(time.process_time)

    def window_start() -> None:
        for v in pauses.values():
            v.clear()
        gc.callbacks.append(on_gc)
        if tracer is not None:
            tracer.start()
        if profile_path:
            profiler.enable()

    def window_end() -> None:
        gc.callbacks.remove(on_gc)
        gc_stats = {
            f"gen{g}": [len(v), round(1000 * sum(v), 1), round(1000 * max(v, default=0), 1)] for g, v in pauses.items()
        }
        Path(stats_dir, f"{node_id}.gc.json").write_text(json.dumps(gc_stats))
        if tracer is not None:
            Path(stats_dir, f"{node_id}.trace.json").write_text(json.dumps(tracer.stop()))
        if profile_path:
            profiler.disable()
            profiler.dump_stats(os.path.join(profile_path, f"{node_id}.prof"))

    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, window_start)
    loop.add_signal_handler(signal.SIGUSR2, window_end)
    await task


# ---------------------------------------------------------------------------------------------------- load


class Viewer:
    __slots__ = ("latencies", "probe", "received")

    def __init__(self, probe: bool) -> None:
        self.probe = probe
        self.received = 0
        self.latencies: list[float] | None = [] if probe else None


async def viewer_loop(ws: Any, v: Viewer) -> None:
    batch_prefix = f'42{NS},["room:batch"'
    one_prefix = f'42{NS},["chat:message"'
    async for msg in ws:
        data = msg.data
        if data == "2":
            await ws.send_str("3")
            continue
        if not isinstance(data, str):
            continue
        if data.startswith(one_prefix) or data.startswith(batch_prefix):
            now = time.time()
            if v.latencies is not None:
                payload = json.loads(data[len(NS) + 3 :])[1]
                if data.startswith(batch_prefix):
                    msgs = [x["data"] for x in payload["events"] if x["event"] == "chat:message"]
                else:
                    msgs = [payload]
                for m in msgs:
                    v.latencies.append(now - float(m["text"].split()[1]))
                v.received += len(msgs)
            else:
                v.received += data.count('"event":"chat:message"') if data.startswith(batch_prefix) else 1


async def sender_loop(
    ws: Any, rate: float, until: float, counters: dict[str, int], acks: list[float], offset: float = 0.0
) -> None:
    interval = 1.0 / rate
    next_at = time.monotonic() + offset
    if offset:
        await asyncio.sleep(offset)
    seq = 0
    sent_at: dict[int, float] = {}

    async def reader() -> None:
        async for msg in ws:
            data = msg.data
            if data == "2":
                await ws.send_str("3")
            elif isinstance(data, str) and data.startswith(f"43{NS},"):
                counters["acks"] += 1
                ack_seq = int(data[len(NS) + 3 : data.index("[")])
                if ack_seq in sent_at:
                    acks.append(time.monotonic() - sent_at.pop(ack_seq))
                if '"ok":false' in data:
                    counters["errors"] += 1

    read_task = asyncio.create_task(reader())
    try:
        while time.monotonic() < until:
            seq += 1
            text = f"b {time.time():.6f} {seq}"
            sent_at[seq] = time.monotonic()
            await ws.send_str(f'42{NS},{seq}["chat:send",{{"stream_id":"{STREAM_ID}","text":"{text}"}}]')
            counters["sent"] += 1
            next_at += interval
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await asyncio.sleep(1.0)  # let the last acks arrive
    finally:
        read_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await read_task


def lag_ms(lag: list[float]) -> list[float] | None:
    """p50 / p99 / max of a loop's lateness samples, in ms."""
    if not lag:
        return None
    s = sorted(lag)
    return [round(1000 * statistics.median(s), 1), round(1000 * s[int(len(s) * 0.99)], 1), round(1000 * s[-1], 1)]


def set_read_low_water(raws: list[RawViewer], n: int) -> None:
    for raw in raws:
        raw.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, n)


class Crowd:
    """The raw viewers (all but the probes), in the load process itself (``--one-load-process``)."""

    def __init__(self, bases: list[str]) -> None:
        self.bases = bases
        self.raws: list[RawViewer] = []

    async def open(self, indices: list[int]) -> None:
        self.raws.extend(
            await asyncio.gather(*(open_raw_viewer(self.bases[i % len(self.bases)], STREAM_ID, TEXT) for i in indices))
        )

    async def low_water(self, n: int) -> None:
        set_read_low_water(self.raws, n)

    async def received(self) -> int:
        return sum(r.received for r in self.raws)

    def cpu_s(self) -> float:
        return 0.0  # counted with the load process's own

    async def close(self) -> None:
        for raw in self.raws:
            raw.transport.close()


class CrowdProcess(Crowd):
    """The raw viewers in a process of their own (the default): the probes' and senders' timestamps are taken in a
    process that only runs them, not delayed by thousands of raw sockets becoming readable in one loop iteration
    (the same machine and clock; the crowd's CPU is added to the load generator's)."""

    def __init__(self, bases: list[str]) -> None:
        super().__init__(bases)
        self._proc: Any = None

    async def start(self) -> None:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "crowd",
            "--bases",
            ",".join(self.bases),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            cwd=ROOT,
        )

    async def _ask(self, line: str) -> str:
        self._proc.stdin.write((line + "\n").encode())
        await self._proc.stdin.drain()
        answer = (await self._proc.stdout.readline()).decode().strip()
        if not answer:
            raise RuntimeError(f"the crowd process ended (exit {await self._proc.wait()})")
        return answer

    async def open(self, indices: list[int]) -> None:
        await self._ask("open " + " ".join(map(str, indices)))

    async def low_water(self, n: int) -> None:
        await self._ask(f"lowat {n}")

    async def received(self) -> int:
        return int(await self._ask("count"))

    def cpu_s(self) -> float:
        return cpu_seconds(self._proc.pid) if self._proc is not None else 0.0

    async def close(self) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._ask("close"), 10)
            with contextlib.suppress(ProcessLookupError):
                self._proc.kill()
            await self._proc.wait()


async def run_crowd(bases: list[str]) -> None:
    """``crowd`` role: raw viewers, driven line by line on stdin (open i.. / lowat n / count / close)."""
    crowd = Crowd(bases)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := (await reader.readline()).decode().split():
        command, rest = line[0], line[1:]
        if command == "open":
            await crowd.open([int(i) for i in rest])
            answer = str(len(crowd.raws))
        elif command == "lowat":
            await crowd.low_water(int(rest[0]))
            answer = "ok"
        elif command == "count":
            answer = str(await crowd.received())
        else:
            await crowd.close()
            print("bye", flush=True)
            return
        print(answer, flush=True)


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from accounts.models import Role
    from accounts.tokens import AccessTokenCodec
    from core.ids import UserId

    bases: list[str] = args.bases.split(",")
    pids = [int(p) for p in args.pids.split(",")]
    codec = AccessTokenCodec(JWT_SECRET, 3600, 30)
    now = datetime.now(UTC)
    tokens = [codec.issue(UserId(sender_id(i)), Role.VIEWER, "s-" + sender_id(i), now) for i in range(args.senders)]
    rss_before = sum(rss_bytes(p) for p in pids)
    connector = aiohttp.TCPConnector(limit=0)
    result: dict[str, Any] = {
        "clients": args.clients,
        "rate": args.rate,
        "window_s": args.window,
        "loadavg_1m_at_start": round(os.getloadavg()[0], 2),
    }
    async with aiohttp.ClientSession(connector=connector) as session:
        # One viewer in twenty is a probe (aiohttp, parses every message for its latency); the rest count raw bytes
        # (the crowd: a process of its own unless --one-load-process). Probes are spread through the join order (a
        # node writes a tick to its members in join order): the viewers join in blocks of 200, probes and crowd
        # together.
        t0 = time.monotonic()
        probes: list[Viewer] = []
        probe_sockets: list[Any] = []
        tasks: list[asyncio.Task[None]] = []
        crowd = Crowd(bases) if args.one_load_process else CrowdProcess(bases)
        if isinstance(crowd, CrowdProcess):
            await crowd.start()
        result["load_processes"] = 1 if args.one_load_process else 2

        async def open_probe(i: int) -> None:
            ws = await eio_connect(session, bases[i % len(bases)], None, STREAM_ID)
            v = Viewer(probe=True)
            probes.append(v)
            probe_sockets.append(ws)
            tasks.append(asyncio.create_task(viewer_loop(ws, v)))  # answers pings while the rest connect

        async def open_all() -> None:
            for first in range(0, args.clients, 200):
                block = range(first, min(first + 200, args.clients))
                await asyncio.gather(
                    crowd.open([i for i in block if i % 20]), *(open_probe(i) for i in block if i % 20 == 0)
                )

        await asyncio.wait_for(open_all(), args.connect_timeout)
        result["connect_s"] = round(time.monotonic() - t0, 1)
        await asyncio.sleep(2.0)  # idle: let the nodes settle before measuring memory
        rss_after = sum(rss_bytes(p) for p in pids)
        result["kb_per_idle_connection"] = round((rss_after - rss_before) / args.clients / 1024, 1)
        senders = [await eio_connect(session, bases[i % len(bases)], tokens[i], STREAM_ID) for i in range(args.senders)]
        counters = {"sent": 0, "acks": 0, "errors": 0}
        ticks0 = await room_ticks(session, bases)
        for p in pids:
            os.kill(p, signal.SIGUSR1)  # the window starts: the nodes count GC pauses (and profile, if asked)
        # The raw viewers read only once this many bytes are waiting (SO_RCVLOWAT): a read per several ticks keeps
        # the load generator's CPU low; the bytes are in the viewer's socket buffer either way (latency is the probes').
        await crowd.low_water(args.read_low_water)
        cpu0 = [cpu_seconds(p) for p in pids]
        load_cpu0 = time.process_time() + crowd.cpu_s()
        t_start = time.monotonic()
        until = t_start + args.window
        ack_times: list[float] = []
        lag: list[float] = []

        async def sample_lag() -> None:  # how late the load process's own loop runs (it skews every latency)
            loop = asyncio.get_running_loop()
            while True:
                at = loop.time()
                await asyncio.sleep(0.005)
                lag.append(loop.time() - at - 0.005)

        lag_task = asyncio.create_task(sample_lag())
        # Every sender at the same instant (bursts of --senders messages) unless --stagger spreads them evenly.
        step = 1.0 / args.rate if args.stagger else 0.0
        await asyncio.gather(
            *(
                sender_loop(ws, args.rate / args.senders, until, counters, ack_times, i * step)
                for i, ws in enumerate(senders)
            )
        )
        lag_task.cancel()
        await crowd.low_water(1)
        # Drain: wait until deliveries stop growing (bounded).
        last, stable_since = -1, time.monotonic()
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            total = sum(v.received for v in probes) + await crowd.received()
            if total != last:
                last, stable_since = total, time.monotonic()
            elif time.monotonic() - stable_since > 1.0:
                break
            await asyncio.sleep(0.2)
        elapsed = time.monotonic() - t_start
        cpu = sum(cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True))
        load_cpu = time.process_time() + crowd.cpu_s() - load_cpu0
        for p in pids:
            os.kill(p, signal.SIGUSR2)
        delivered = sum(v.received for v in probes) + await crowd.received()
        # Both nodes tick on their own; each tick is one packet to each of its half of the viewers.
        ticks = await room_ticks(session, bases) - ticks0
        result["ticks_per_node_per_s"] = round(ticks / 2 / elapsed, 1)
        # Each node's tick is one packet to each of its members (half the viewers and senders): the per-recipient
        # cost, apart from how many messages a tick carried.
        packets = ticks * (args.clients + args.senders) / 2
        result["node_cpu_us_per_packet"] = round(1e6 * cpu / packets, 1) if packets else None
        expected = counters["sent"] * args.clients
        lat = sorted(x for v in probes if v.latencies for x in v.latencies)
        # of one core, over the window and the drain (both load processes together)
        result["load_cpu_pct"] = round(100 * load_cpu / elapsed, 1)
        result["load_cpu_s"] = round(load_cpu, 2)
        result["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
        result.update(
            sent=counters["sent"],
            send_errors=counters["errors"],
            delivered=delivered,
            expected=expected,
            delivered_pct=round(100 * delivered / expected, 2) if expected else 0.0,
            deliveries_per_s=round(delivered / args.window),
            node_cpu_s=round(cpu, 2),
            node_cpu_pct_of_window=round(100 * cpu / elapsed, 1),
            deliveries_per_cpu_s=round(delivered / cpu) if cpu else 0,
            node_cpu_us_per_delivery=round(1e6 * cpu / delivered, 2) if delivered else None,
            p50_ms=round(1000 * statistics.median(lat), 1) if lat else None,
            p99_ms=round(1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))], 1) if lat else None,
            max_ms=round(1000 * lat[-1], 1) if lat else None,
            latency_samples=len(lat),
            ack_p50_ms=round(1000 * statistics.median(ack_times), 1) if ack_times else None,
            ack_p99_ms=round(1000 * sorted(ack_times)[int(len(ack_times) * 0.99)], 1) if ack_times else None,
            load_loop_lag_ms=lag_ms(lag),
        )
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for ws in [*probe_sockets, *senders]:
            with contextlib.suppress(Exception):
                await ws.close()
        await crowd.close()
    return result


# ---------------------------------------------------------------------------------------------------- orchestrator


def start_redis() -> tuple[str, subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="bench-redis-")
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return f"redis://127.0.0.1:{port}/0", proc, workdir
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("redis-server did not start")


def start_node(
    i: int, redis_url: str, senders: int, ws: str, direct: bool, stats_dir: str, trace: bool = False
) -> tuple[str, subprocess.Popen[str]]:
    port = free_port()
    cmd = [sys.executable, __file__, "node", "--port", str(port), "--node-id", f"bench-{i}", "--redis", redis_url]
    cmd += ["--ws", ws, "--stats-dir", stats_dir] + ([] if direct else ["--no-direct"]) + (["--trace"] if trace else [])
    proc = subprocess.Popen([*cmd, "--senders", str(senders)], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() != "ready":
        proc.kill()
        raise SystemExit(f"node {i} did not start: {line!r}")
    return f"http://127.0.0.1:{port}", proc


def orchestrate(args: argparse.Namespace) -> list[dict[str, Any]]:
    from hub.serve_options import DEFAULT_WS

    ws = args.ws or DEFAULT_WS
    results = []
    variants = [True, False] if args.compare_queued else [args.direct]
    runs = [(int(x), direct, args.redis_cluster) for x in args.clients.split(",") for direct in variants]
    if args.compare_cluster:
        # One Redis and a cluster of that many masters in turn, each pair in the other order than the one before
        # (single, cluster, cluster, single, ...), so a machine getting busier or quieter weighs on both alike.
        pairs = [(0, args.compare_cluster), (args.compare_cluster, 0)]
        runs = [
            (int(x), args.direct, masters)
            for x in args.clients.split(",")
            for i in range(args.pairs)
            for masters in pairs[i % 2]
        ]
    for n, direct, masters in runs:
        cluster: Any = None
        if masters:
            # A Redis Cluster of that many masters (redis-cli --cluster create), the nodes seeded with every master.
            from tests.support.redis_cluster import LocalRedisCluster

            cluster = LocalRedisCluster()
            cluster.start(masters)
            redis_url, redis_proc, workdir = cluster.url, None, None
            redis_pids = [m.proc.pid for m in cluster.masters if m.proc is not None]
        else:
            redis_url, redis_proc, workdir = start_redis()
            redis_pids = [redis_proc.pid]
        stats_dir = tempfile.mkdtemp(prefix="bench-chat-")
        nodes = [start_node(i, redis_url, args.senders, ws, direct, stats_dir, args.trace) for i in range(2)]
        try:
            cmd = [
                sys.executable,
                __file__,
                "load",
                "--bases",
                ",".join(b for b, _ in nodes),
                "--pids",
                ",".join(str(p.pid) for _, p in nodes),
                "--clients",
                str(n),
                "--rate",
                str(args.rate),
                "--window",
                str(args.window),
                "--senders",
                str(args.senders),
                "--read-low-water",
                str(args.read_low_water),
                *(["--stagger"] if args.stagger else []),
                *(["--one-load-process"] if args.one_load_process else []),
            ]
            redis_cpu0 = sum(cpu_seconds(p) for p in redis_pids)
            out = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=args.timeout)
            if out.returncode != 0:
                print(out.stderr[-3000:], file=sys.stderr)
                results.append({"clients": n, "error": out.stderr.strip().splitlines()[-1:]})
                continue
            r = json.loads(out.stdout.strip().splitlines()[-1])
            r["redis_cpu_s"] = round(sum(cpu_seconds(p) for p in redis_pids) - redis_cpu0, 2)
            r["ws"] = ws
            r["direct_writes"] = direct
            # GC over the window, per node: [collections, total ms, longest ms] by generation
            r["gc_window"] = [json.loads(f.read_text()) for f in sorted(Path(stats_dir).glob("*.gc.json"))]
            if args.trace:  # per node: where chat:send's time went (scripts/chat_trace.py), ms p50 / p99 / max
                r["trace"] = [json.loads(f.read_text()) for f in sorted(Path(stats_dir).glob("*.trace.json"))]
            r["redis"] = f"cluster of {masters} masters" if masters else "one redis-server"
            results.append(r)
            print(json.dumps(r), flush=True)
        except subprocess.TimeoutExpired:
            results.append({"clients": n, "error": f"timed out after {args.timeout} s"})
        finally:
            for _, p in nodes:
                p.send_signal(signal.SIGINT)
            for _, p in nodes:
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
            shutil.rmtree(stats_dir, ignore_errors=True)
            if cluster is not None:
                cluster.stop()
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(5)
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)
    return results


COMPARED = (
    ("p50_ms", "p50 ms"),
    ("p99_ms", "p99 ms"),
    ("ack_p50_ms", "ack p50 ms"),
    ("ack_p99_ms", "ack p99 ms"),
    ("node_cpu_us_per_delivery", "node CPU-µs per delivery"),
    ("redis_cpu_s", "Redis CPU-s"),
)


def cluster_against_single(results: list[dict[str, Any]]) -> str:
    """Per viewer count: the median of each figure over the single-Redis rows and over the cluster rows."""
    rows = ["| viewers | figure | one Redis (median) | cluster (median) | cluster vs one Redis |"]
    rows.append("|---|---|---|---|---|")
    for n in sorted({r["clients"] for r in results if "error" not in r}):
        ok = [r for r in results if "error" not in r and r["clients"] == n]
        single = [r for r in ok if r["redis"] == "one redis-server"]
        cluster = [r for r in ok if r["redis"] != "one redis-server"]
        if not single or not cluster:
            continue
        for key, label in COMPARED:
            a = statistics.median(float(r[key]) for r in single)
            b = statistics.median(float(r[key]) for r in cluster)
            change = f"{(b - a) / a * 100:+.0f} %" if a else "—"
            rows.append(f"| {n:,} | {label} | {a:g} | {b:g} | {change} |")
    return "\n".join(rows)


def gc_summary(per_node: list[dict[str, list[float]]]) -> str:
    total = sum(g[1] for node in per_node for g in node.values())
    longest = max((g[2] for node in per_node for g in node.values()), default=0.0)
    full = sum(int(node["gen2"][0]) for node in per_node)
    return f"{total:.0f} / {longest:.0f} ms ({full})"


def table(results: list[dict[str, Any]]) -> str:
    head = (
        "| viewers | Redis | room packets | msgs/s | load avg start/end | delivered | nodes' CPU (of 2 cores)"
        " | node CPU-µs per delivery / per packet | load generator CPU (of 1 core) | p50 | p99 | max | ack p50 / p99"
        " | KB per idle connection | GC in window: pauses ms total / longest (full collections)"
        " | load processes; the probes' loop lag p50 / p99 |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    )
    rows = [head]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['clients']} | | | — | | error: {r['error']} | | | | | | | | | | |")
            continue
        lag = r.get("load_loop_lag_ms") or [None, None]
        rows.append(
            f"| {r['clients']:,} | {r['redis']} | {'direct' if r['direct_writes'] else 'queued'}, {r['ws']}"
            f" | {r['rate']:g} | {r['loadavg_1m_at_start']} / {r['loadavg_1m_at_end']}"
            f" | {r['delivered_pct']} % ({r['delivered']:,}) | {r['node_cpu_pct_of_window'] / 2:.0f} %"
            f" | {r['node_cpu_us_per_delivery']} / {r['node_cpu_us_per_packet']} | {r['load_cpu_pct']:.0f} %"
            f" | {r['p50_ms']} ms | {r['p99_ms']} ms"
            f" | {r['max_ms']} ms | {r['ack_p50_ms']} / {r['ack_p99_ms']} ms | {r['kb_per_idle_connection']} |"
            f" {gc_summary(r.get('gc_window') or [])} |"
            f" {r.get('load_processes', 1)}, {lag[0]} / {lag[1]} ms |"
        )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role")
    node = sub.add_parser("node")
    node.add_argument("--port", type=int, required=True)
    node.add_argument("--node-id", required=True)
    node.add_argument("--redis", required=True)
    node.add_argument("--senders", type=int, default=10)
    node.add_argument("--ws", required=True)
    node.add_argument("--stats-dir", required=True)
    for p in (parser, node):
        p.add_argument("--no-direct", dest="direct", action="store_false", help="room packets via Engine.IO's queue")
        p.add_argument("--trace", action="store_true", help="wall-clock trace of chat:send per node (chat_trace.py)")
    load = sub.add_parser("load")
    load.add_argument("--bases", required=True)
    load.add_argument("--pids", required=True)
    for p in (parser, load):
        p.add_argument("--rate", type=float, default=20.0, help="chat messages per second, all senders together")
        p.add_argument("--window", type=float, default=10.0, help="seconds of sending")
        p.add_argument("--senders", type=int, default=10)
        p.add_argument("--stagger", action="store_true", help="senders take turns (no bursts): evenly spread messages")
        p.add_argument("--read-low-water", type=int, default=8192, help="bytes a raw viewer waits for (1: each packet)")
    parser.add_argument("--clients", default="500,2000,5000", help="viewer counts, one run each")
    parser.add_argument(
        "--compare-queued", action="store_true", help="each count twice: room packets direct, then all queued"
    )
    parser.add_argument("--timeout", type=float, default=240.0, help="bound on one run, seconds")
    parser.add_argument("--ws", default=None, help="uvicorn's WebSocket implementation (default: hub serve's)")
    parser.add_argument(
        "--redis-cluster", type=int, default=0, help="N: the nodes share a Redis Cluster of N masters (0: one Redis)"
    )
    parser.add_argument(
        "--compare-cluster",
        type=int,
        default=0,
        metavar="N",
        help="each count on one Redis and on a cluster of N masters in turn, --pairs times; prints the medians",
    )
    parser.add_argument("--pairs", type=int, default=2, help="with --compare-cluster: single/cluster pairs per count")
    for p in (parser, load):
        p.add_argument(
            "--one-load-process", action="store_true", help="the raw viewers in the probes' process (before #15 s5)"
        )
    crowd = sub.add_parser("crowd")
    crowd.add_argument("--bases", required=True)
    load.add_argument("--clients", type=int, required=True)
    load.add_argument("--connect-timeout", type=float, default=200.0)
    load.add_argument("--drain", type=float, default=15.0)
    args = parser.parse_args()
    if args.role == "node":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(
                run_node(
                    args.port, args.node_id, args.redis, args.senders, args.ws, args.direct, args.stats_dir, args.trace
                )
            )
    elif args.role == "crowd":
        asyncio.run(run_crowd(args.bases.split(",")))
    elif args.role == "load":
        print(json.dumps(asyncio.run(run_load(args))), flush=True)
    else:
        results = orchestrate(args)
        print()
        print(table(results))
        if args.compare_cluster:
            print()
            print(cluster_against_single(results))


if __name__ == "__main__":
    main()
