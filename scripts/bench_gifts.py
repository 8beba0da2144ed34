"""Gift benchmark: the service layer in-process, then end to end over Socket.IO against one hub node.

- ``service``: ``GiftService.send`` called directly (ledger on the in-process MongoDB stand-in), sequentially and
  with many sends in flight: the cost of the money path alone; first the database operations of one gift are
  counted (``tests/support/db.py`` ``CountingClient``): before its ack, and in all once the outbox relay is done;
  then the operations per gift with 64 in flight (group commit and the relay's batches share round trips).
- ``e2e`` runs (every role its own process: one hub node = the real ``Hub`` + uvicorn, embedded, no Redis; the load
  generator on raw Engine.IO WebSocket clients): (1) throughput: S senders each keep K ``gift:send`` in flight for a
  fixed window with no viewers → acks/s and ack latency (send → ack); (2) fan-out: V viewers in the room, in a load
  process of their own (one in fifty parses every frame for latency, the rest count the bench's transfer ids in the
  raw bytes), gifts at a fixed rate, each sender at independent random times (``--arrivals``) → delivery ratio
  and time from send until the gift's effect arrives at the viewers (p50/p99; alone as ``gift:received`` or inside
  a ``room:batch``; a merged effect counts every gift in it, each with its own send time), plus ack latency under
  that load. The room also has a goal, so every gift fans out ``gift:received``,
  ``leaderboard:update`` and ``goal:progress``.

    .venv/bin/python scripts/bench_gifts.py --viewers 500 --window 10 --service-gifts 2000
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
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
    loop_lag,
    open_raw_viewer,
    seed_accounts_and_live_stream,
)

JWT_SECRET = "bench-secret-" + "g" * 40
STREAM_ID = "bench-stream"
# What a raw viewer counts: every transfer id of a bench gift in what it received (a merged effect lists all of its
# gifts in ``transfer_ids`` and its latest once more as ``transfer_id``: one ``"merged":`` per merged effect is
# subtracted).
MARK = b'"gift:bench-sender-'
MINUS = b'"merged":'
OWNER_ID = "bench-owner"
ENV = {
    "HUB_JWT_SECRET": JWT_SECRET,
    "HUB_BCRYPT_ROUNDS": "4",
    "HUB_GIFT_BURST": "1000000",
    "HUB_GIFT_PER_SECOND": "1000000",
    "HUB_GIFT_DAILY_CAP_COINS": "1000000000",
    "HUB_LOG_LEVEL": "WARNING",
}


def calibration_cpu_s() -> float:
    """CPU-seconds a fixed pure-Python loop (3 M additions) takes now: ~0.17 s on a quiet core of this machine; more
    when other processes share the core (hyperthreads, caches): CPU per gift divided by it compares across runs."""
    start = time.process_time()
    total = 0
    for i in range(3_000_000):
        total += i
    return round(time.process_time() - start, 3)


def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * q))], 1)


def sender_id(i: int) -> str:
    return f"bench-sender-{i}"


async def seed(hub: Any, senders: int) -> None:
    """Accounts, sessions, a live stream with a goal, and plenty of coins for every sender (a ledger top-up)."""
    from gifts.models import GoalKind
    from wallet.accounts import COINS_STRIPE, Currency, user_coins
    from wallet.models import Leg, TransferKind, TransferSpec

    await seed_accounts_and_live_stream(hub, STREAM_ID, OWNER_ID, [sender_id(i) for i in range(senders)])
    await hub.money.goals.set(OWNER_ID, STREAM_ID, GoalKind.BEANS, 10**9, None, "bench goal")
    for i in range(senders):
        coins = 10**8
        await hub.money.ledger.execute(
            TransferSpec(
                f"topup:seed-{i}",
                TransferKind.TOPUP,
                (Leg(COINS_STRIPE, Currency.COINS, -coins), Leg(user_coins(sender_id(i)), Currency.COINS, coins)),
            )
        )


# ---------------------------------------------------------------------------------------------------- service


async def run_service(senders: int, gifts: int, inflight: int) -> dict[str, Any]:
    from hub.mongo_standin import StandInClient
    from hub.settings import Settings
    from hub.wiring import Hub
    from tests.support.db import CountingClient

    client = CountingClient(StandInClient())
    hub = Hub(Settings.from_env({**ENV, "HUB_MONGO_DB": "bench"}), mongo_client=client)
    await hub.start()
    await seed(hub, senders)
    result: dict[str, Any] = {"senders": senders, "gifts": gifts}
    try:
        # Database operations per gift (each a round trip on a real server), one gift at a time: before its ack,
        # and in all once the outbox relay has done the rest (live leaderboard, goal, stats, published).
        # Every sender gifts once first: a sender's first gift of the day also creates its daily spend counter.
        ack_ops: list[int] = []
        all_ops: list[int] = []
        for n in range(2 * senders):
            await hub.money.relay.drain()
            client.ops.clear()
            await hub.gifts.send(sender_id(n % senders), STREAM_ID, "rose", 1, f"ops-{n}")
            ack_ops.append(len(client.ops))
            await hub.money.relay.drain()
            all_ops.append(len(client.ops))
        # The median gift (a max would catch the reconciler's periodic pass, which the wrapper counts too).
        warm_ack, warm_all = sorted(ack_ops[senders:]), sorted(all_ops[senders:])
        result["db_ops_ack_path"], result["db_ops_per_gift"] = warm_ack[senders // 2], warm_all[senders // 2]
        lat: list[float] = []
        t0, c0 = time.perf_counter(), time.process_time()
        for n in range(gifts // 4):
            s = time.perf_counter()
            await hub.gifts.send(sender_id(n % senders), STREAM_ID, "rose", 1, f"seq-{n}")
            lat.append(time.perf_counter() - s)
        elapsed = time.perf_counter() - t0
        await hub.money.relay.drain()  # the relay's work belongs to these gifts' CPU too
        result["sequential_cpu_ms_per_gift"] = round(1000 * (time.process_time() - c0) / len(lat), 3)
        result["sequential_per_s"] = round(len(lat) / elapsed)
        result["sequential_p50_ms"], result["sequential_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)

        sem = asyncio.Semaphore(inflight)
        lat = []

        async def one(n: int) -> None:
            async with sem:
                s = time.perf_counter()
                await hub.gifts.send(sender_id(n % senders), STREAM_ID, "heart", 1, f"con-{n}")
                lat.append(time.perf_counter() - s)

        client.ops.clear()
        t0, c0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(one(n) for n in range(gifts)))
        elapsed = time.perf_counter() - t0
        await hub.money.relay.drain()
        # With many in flight, group commit and the relay's batches share round trips: operations per gift, all
        # of them (the node's background work in that time included, e.g. the reconciler's scans).
        result["concurrent_db_ops_per_gift"] = round(len(client.ops) / gifts, 2)
        result["concurrent_cpu_ms_per_gift"] = round(1000 * (time.process_time() - c0) / gifts, 3)
        result["inflight"] = inflight
        result["concurrent_per_s"] = round(gifts / elapsed)
        result["concurrent_p50_ms"], result["concurrent_p99_ms"] = pct(lat, 0.5), pct(lat, 0.99)
        from wallet.verify import verify_ledger

        result["ledger_verifies"] = (await verify_ledger(hub.money.ledger_store)).ok
    finally:
        await hub.close()
    return result


# ---------------------------------------------------------------------------------------------------- node


async def run_node(port: int, senders: int, reconcile_interval_s: float, profile: str | None) -> None:
    import cProfile
    import gc

    import uvicorn

    from hub.app import create_app
    from hub.settings import Settings
    from hub.wiring import Hub

    env = {**ENV, "HUB_PORT": str(port), "HUB_WALLET_RECONCILE_INTERVAL_S": str(reconcile_interval_s)}
    hub = Hub(Settings.from_env(env))
    # Served as ``hub serve`` serves (``freeze_gc``: the serving process's garbage collector settings).
    config = uvicorn.Config(
        create_app(hub, freeze_gc=True), host="127.0.0.1", port=port, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    await seed(hub, senders)
    gc.collect()
    gc.freeze()
    prof = cProfile.Profile(time.process_time) if profile else None  # CPU time: other processes' load does not count
    if prof is not None:
        prof.enable()
    lags: list[float] = []
    measuring = asyncio.Event()
    # The garbage collector's pauses over the window (each holds the event loop): count, sum, max per generation.
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.perf_counter()
        elif measuring.is_set():
            pauses[info["generation"]].append(time.perf_counter() - gc_started[0])

    gc.callbacks.append(on_gc)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, measuring.set)  # the load's window starts
    loop.add_signal_handler(signal.SIGUSR2, measuring.clear)  # and ends
    lag_task = asyncio.create_task(loop_lag(measuring, lags))
    print("ready", flush=True)
    try:
        await task
    finally:
        lag_task.cancel()
        if prof is not None and profile:
            prof.disable()
            prof.dump_stats(profile)
        lag: dict[str, Any] = {
            "loop_lag_p50_ms": pct(lags, 0.5),
            "loop_lag_p99_ms": pct(lags, 0.99),
            "loop_lag_max_ms": pct(lags, 1),
        }
        for g, v in pauses.items():  # [count, total ms, max ms]
            lag[f"gc{g}"] = [len(v), round(1000 * sum(v), 1), round(1000 * max(v, default=0), 1)]
        print(json.dumps({"node": lag}), flush=True)


# ---------------------------------------------------------------------------------------------------- load


async def probe_loop(ws: Any, latencies: list[float]) -> None:
    """Send → effect on this screen, for every gift (each gift of a merged effect counts, with its own send time)."""
    one = f'42{NS},["gift:received"'
    batch = f'42{NS},["room:batch"'
    async for msg in ws:
        data = msg.data
        if data == "2":
            await ws.send_str("3")
        elif isinstance(data, str) and (data.startswith(one) or data.startswith(batch)):
            now = time.time()
            payload = json.loads(data[len(NS) + 3 :])[1]
            effects = [payload] if data.startswith(one) else [x["data"] for x in payload["events"]]
            for effect in effects:
                for tid in effect.get("transfer_ids") or [effect.get("transfer_id")]:
                    if isinstance(tid, str) and tid.startswith("gift:bench-sender-"):
                        latencies.append(now - float(tid.rsplit("-", 1)[1]))


async def sender_loop(
    ws: Any,
    idx: int,
    until: float,
    inflight: int,
    rate: float | None,
    stats: dict[str, Any],
    arrivals: str = "poisson",
    senders: int = 1,
) -> None:
    """Keep ``inflight`` sends outstanding (or send at ``rate`` per second); record send → ack per message.

    With a rate, ``arrivals`` says when: ``poisson`` (exponential gaps, each sender on its own: independent people
    tapping), ``staggered`` (every sender at a fixed interval, the ``senders`` spread evenly across it) or ``burst``
    (every sender at a fixed interval from the same instant: the whole room's gifts in lockstep, as this script sent
    them before session 7)."""
    rng = random.Random(idx)
    sent_at: dict[int, float] = {}
    window = asyncio.Semaphore(inflight)

    async def reader() -> None:
        async for msg in ws:
            data = msg.data
            if data == "2":
                await ws.send_str("3")
            elif isinstance(data, str) and data.startswith(f"43{NS},"):
                ack_id = int(data[len(NS) + 3 : data.index("[")])
                start = sent_at.pop(ack_id, None)
                if start is not None:
                    stats["ack_lat"].append(time.monotonic() - start)
                    window.release()
                if '"ok":true' in data:
                    stats["ok"] += 1
                    if time.monotonic() <= until:
                        stats["ok_in_window"] += 1
                else:
                    stats["errors"] += 1
                    if len(stats["error_samples"]) < 3:
                        stats["error_samples"].append(data[:200])

    task = asyncio.create_task(reader())
    seq = 0
    next_at = time.monotonic()
    if rate and arrivals == "poisson":
        next_at += rng.expovariate(rate)
    elif rate and arrivals == "staggered":
        next_at += idx / (rate * senders)
    try:
        if next_at > time.monotonic():
            await asyncio.sleep(next_at - time.monotonic())
        while time.monotonic() < until:
            await window.acquire()
            seq += 1
            key = f"{idx}.{seq}-{time.time():.6f}"
            sent_at[seq] = time.monotonic()
            body = f'{{"stream_id":"{STREAM_ID}","gift_id":"rose","idempotency_key":"{key}"}}'
            await ws.send_str(f'42{NS},{seq}["gift:send",{body}]')
            stats["sent"] += 1
            if rate:
                next_at += rng.expovariate(rate) if arrivals == "poisson" else 1.0 / rate
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        deadline = time.monotonic() + 10
        while sent_at and time.monotonic() < deadline:  # the last acks
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def open_viewers(args: argparse.Namespace, session: Any) -> tuple[list[Any], list[RawViewer]]:
    """The room's viewers: one in fifty a parsing probe (latency), the rest raw counters."""
    n_probes = (args.viewers + 49) // 50 if args.viewers else 0
    sem = asyncio.Semaphore(100)

    async def open_probe() -> Any:
        async with sem:
            return await eio_connect(session, args.base, None, STREAM_ID)

    async def open_raw() -> RawViewer:
        async with sem:
            return await open_raw_viewer(args.base, STREAM_ID, MARK, MINUS)

    probes = await asyncio.gather(*(open_probe() for _ in range(n_probes)))
    raws = await asyncio.gather(*(open_raw() for _ in range(args.viewers - n_probes)))
    return list(probes), list(raws)


async def watch_until_delivered(
    raws: list[RawViewer], probe_lat: list[list[float]], expected: int, timeout_s: float = 20.0
) -> int:
    """Wait until the viewers hold ``expected`` gift effects, or their count stops growing for 2 s; the count."""
    last, stable = -1, time.monotonic()
    deadline = time.monotonic() + timeout_s
    total = 0
    while time.monotonic() < deadline:
        total = sum(r.received for r in raws) + sum(len(x) for x in probe_lat)
        if total >= expected:
            break
        if total != last:
            last, stable = total, time.monotonic()
        elif time.monotonic() - stable > 2.0:
            break
        await asyncio.sleep(0.1)
    return total


async def close_all(wss: list[Any], raws: list[RawViewer], tasks: list[asyncio.Task[None]]) -> None:
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for ws in wss:
        with contextlib.suppress(Exception):
            await ws.close()
    for raw in raws:
        raw.transport.close()


def effect_figures(probe_lat: list[list[float]], delivered: int, expected: int) -> dict[str, Any]:
    lat = [x for xs in probe_lat for x in xs]
    return {
        "delivered_pct": round(100 * delivered / expected, 2) if expected else None,
        "effect_p50_ms": pct(lat, 0.5),
        "effect_p99_ms": pct(lat, 0.99),
        "effect_samples": len(lat),
    }


async def run_viewers(args: argparse.Namespace) -> dict[str, Any]:
    """The viewers alone, in a process of their own (``--part viewers``): they connect, print ``ready``, and count
    what reaches them until the orchestrator writes how many gifts were acked (a line on stdin)."""
    import aiohttp

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        probes, raws = await open_viewers(args, session)
        probe_lat: list[list[float]] = [[] for _ in probes]
        probe_tasks = [asyncio.create_task(probe_loop(ws, lat)) for ws, lat in zip(probes, probe_lat, strict=True)]
        lags: list[float] = []
        measuring = asyncio.Event()
        lag_task = asyncio.create_task(loop_lag(measuring, lags))
        cpu0 = cpu_seconds(os.getpid())
        print("ready", flush=True)
        t0 = time.monotonic()
        measuring.set()
        line = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
        measuring.clear()
        lag_task.cancel()
        window = time.monotonic() - t0
        cpu = cpu_seconds(os.getpid()) - cpu0
        expected = int(line.strip() or 0) * args.viewers
        delivered = await watch_until_delivered(raws, probe_lat, expected)
        result = effect_figures(probe_lat, delivered, expected)
        result.update(
            viewers_cpu_pct=round(100 * cpu / window, 1) if window else None,
            viewers_loop_lag_p99_ms=pct(lags, 0.99),
            viewers_loop_lag_max_ms=pct(lags, 1.0),
        )
        await close_all(probes, raws, probe_tasks)
    return result


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    """The senders, and (``--part all``) the viewers in the same process; ``--part senders``: the senders only (the
    viewers run in a process of their own)."""
    import aiohttp

    from accounts.models import Role
    from accounts.tokens import AccessTokenCodec
    from core.ids import UserId

    codec = AccessTokenCodec(JWT_SECRET, 3600, 30)
    now = datetime.now(UTC)
    tokens = [codec.issue(UserId(sender_id(i)), Role.VIEWER, "s-" + sender_id(i), now) for i in range(args.senders)]
    result: dict[str, Any] = {"viewers": args.viewers, "senders": args.senders, "window_s": args.window}
    with_viewers = args.part == "all" and args.viewers
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        probes, raws = await open_viewers(args, session) if with_viewers else ([], [])
        probe_lat: list[list[float]] = [[] for _ in probes]
        probe_tasks = [asyncio.create_task(probe_loop(ws, lat)) for ws, lat in zip(probes, probe_lat, strict=True)]
        senders = [await eio_connect(session, args.base, tokens[i], None) for i in range(args.senders)]
        await asyncio.sleep(1.0)
        stats: dict[str, Any] = {"sent": 0, "ok": 0, "ok_in_window": 0, "errors": 0, "ack_lat": [], "error_samples": []}
        load_lags: list[float] = []
        measuring = asyncio.Event()
        measuring.set()
        load_lag = asyncio.create_task(loop_lag(measuring, load_lags))  # this process's own lateness: its timestamps
        cpu0, load_cpu0 = cpu_seconds(args.pid), cpu_seconds(os.getpid())
        os.kill(args.pid, signal.SIGUSR1)
        t0 = time.monotonic()
        until = t0 + args.window
        per_sender_rate = args.rate / args.senders if args.rate else None
        await asyncio.gather(
            *(
                sender_loop(ws, i, until, args.inflight, per_sender_rate, stats, args.arrivals, len(senders))
                for i, ws in enumerate(senders)
            )
        )
        window_cpu = cpu_seconds(args.pid) - cpu0
        os.kill(args.pid, signal.SIGUSR2)
        load_lag.cancel()
        load_cpu = cpu_seconds(os.getpid()) - load_cpu0
        expected = stats["ok"] * args.viewers
        delivered = await watch_until_delivered(raws, probe_lat, expected) if with_viewers else 0
        node_cpu = cpu_seconds(args.pid) - cpu0
        result.update(
            sent=stats["sent"],
            acked_ok=stats["ok"],
            errors=stats["errors"],
            error_samples=stats["error_samples"],
            gifts_per_s=round(stats["ok_in_window"] / args.window),
            ack_p50_ms=pct(stats["ack_lat"], 0.5),
            ack_p99_ms=pct(stats["ack_lat"], 0.99),
        )
        if with_viewers:
            result.update(effect_figures(probe_lat, delivered, expected))
        result.update(
            node_cpu_pct=round(100 * window_cpu / args.window, 1),
            # CPU-seconds the node spent per gift acked in the window (what other processes' load moves least)
            node_cpu_ms_per_gift=round(1000 * window_cpu / stats["ok_in_window"], 2) if stats["ok_in_window"] else None,
            node_cpu_pct_incl_drain=round(100 * node_cpu / (time.monotonic() - t0), 1),
            load_cpu_pct=round(100 * load_cpu / args.window, 1),
            load_loop_lag_p99_ms=pct(load_lags, 0.99),
            load_loop_lag_max_ms=pct(load_lags, 1.0),
        )
        await close_all([*probes, *senders], raws, probe_tasks)
    return result


# ---------------------------------------------------------------------------------------------------- orchestrator


def e2e(label: str, args: argparse.Namespace, *, viewers: int, inflight: int, rate: float) -> dict[str, Any]:
    port = free_port()
    cmd = [sys.executable, __file__, "node", "--port", str(port), "--senders", str(args.senders)]
    cmd += ["--reconcile-interval", str(args.reconcile_interval)]
    if args.profile:
        cmd += ["--profile", f"{args.profile}.{label.split(',')[0].replace(' ', '-')}.prof"]
    node = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert node.stdout is not None
    r: dict[str, Any] = {"run": label}
    processes: list[subprocess.Popen[str]] = []
    try:
        line = node.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"the node did not start: {line!r}")
        load = [
            sys.executable, __file__, "load", "--base", f"http://127.0.0.1:{port}", "--pid", str(node.pid),
            "--viewers", str(viewers), "--senders", str(args.senders), "--inflight", str(inflight),
            "--rate", str(rate), "--window", str(args.window), "--arrivals", args.arrivals,
        ]  # fmt: skip
        if viewers and not args.one_load_process:
            # The viewers in a process of their own: the senders' ack times are then not late by however long the
            # viewers' reads held a shared event loop (a sender's phone does not read 500 other sockets).
            watchers = subprocess.Popen(
                [*load, "--part", "viewers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
            )
            processes.append(watchers)
            assert watchers.stdout is not None and watchers.stdin is not None
            if watchers.stdout.readline().strip() != "ready":
                r["error"] = "the viewers' process did not start"
                return r
            load += ["--part", "senders"]
        out = subprocess.run(load, capture_output=True, text=True, cwd=ROOT, timeout=args.timeout)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            r["error"] = out.stderr.strip().splitlines()[-1:]
            return r
        r.update(json.loads(out.stdout.strip().splitlines()[-1]))
        if processes:
            seen, _ = processes[0].communicate(f"{r['acked_ok']}\n", timeout=args.timeout)
            r.update(json.loads(seen.strip().splitlines()[-1]))
        r["calibration_cpu_s"] = calibration_cpu_s()
        r["inflight"], r["rate"] = inflight, rate
        r["arrivals"] = args.arrivals if rate else None
        r["load_processes"] = 2 if viewers and not args.one_load_process else 1
        return r
    except subprocess.TimeoutExpired:
        r["error"] = f"timed out after {args.timeout} s"
        return r
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
                p.wait()
        node.send_signal(signal.SIGINT)
        try:
            rest, _ = node.communicate(timeout=15)
            for text in rest.splitlines():
                if text.startswith('{"node"'):
                    r.update({f"node_{k}": v for k, v in json.loads(text)["node"].items()})
        except subprocess.TimeoutExpired:
            node.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role")
    node = sub.add_parser("node")
    node.add_argument("--port", type=int, required=True)
    node.add_argument("--senders", type=int, default=20)
    node.add_argument("--reconcile-interval", type=float, default=2.0)
    node.add_argument("--profile", default=None)
    load = sub.add_parser("load")
    load.add_argument("--base", required=True)
    load.add_argument("--pid", type=int, required=True)
    load.add_argument("--viewers", type=int, default=0)
    load.add_argument("--inflight", type=int, default=8)
    load.add_argument("--rate", type=float, default=0.0, help="gifts per second in total (0 = as fast as acks allow)")
    load.add_argument("--part", choices=("all", "senders", "viewers"), default="all")
    load.add_argument("--arrivals", choices=("poisson", "staggered", "burst"), default="poisson")
    for p in (parser, load):
        p.add_argument("--senders", type=int, default=20)
        p.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--viewers", type=int, default=500)
    parser.add_argument("--fanout-rate", type=float, default=200.0, help="gifts per second in the fan-out run")
    parser.add_argument("--inflight", type=int, default=8, help="sends in flight per sender in the throughput run")
    parser.add_argument("--service-gifts", type=int, default=4000)
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument(
        "--reconcile-interval", type=float, default=2.0, help="the node's HUB_WALLET_RECONCILE_INTERVAL_S"
    )
    parser.add_argument("--runs", default="throughput,paced,fanout,throughput-viewers", help="which e2e runs")
    parser.add_argument("--paced-rate", type=float, default=100.0, help="gifts per second in the paced run")
    parser.add_argument("--skip-service", action="store_true")
    parser.add_argument("--profile", default=None, help="cProfile each node into PROFILE.<run>.prof (slows it down)")
    parser.add_argument(
        "--arrivals",
        choices=("poisson", "staggered", "burst"),
        default="poisson",
        help="when paced senders send (see sender_loop); burst: all in lockstep, as before session 7",
    )
    parser.add_argument(
        "--one-load-process",
        action="store_true",
        help="viewers and senders in one load process (as before session 7; the viewers' reads delay the acks' times)",
    )
    args = parser.parse_args()
    if args.role == "node":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_node(args.port, args.senders, args.reconcile_interval, args.profile))
        return
    if args.role == "load":
        print(json.dumps(asyncio.run(run_viewers(args) if args.part == "viewers" else run_load(args))), flush=True)
        return
    results: list[dict[str, Any]] = []
    print(json.dumps({"calibration_cpu_s": calibration_cpu_s()}), flush=True)
    if not args.skip_service:
        service = asyncio.run(run_service(args.senders, args.service_gifts, 64))
        print(json.dumps({"run": "service", **service}), flush=True)
    runs = {
        "throughput": ("throughput, no viewers", 0, args.inflight, 0.0),
        "paced": (f"paced {args.paced_rate:g} gifts/s, no viewers", 0, 4, args.paced_rate),
        "fanout": (f"fan-out, {args.viewers} viewers, {args.fanout_rate:g} gifts/s", args.viewers, 4, args.fanout_rate),
        "throughput-viewers": (f"throughput, {args.viewers} viewers", args.viewers, args.inflight, 0.0),
    }
    for name in args.runs.split(","):
        label, viewers, inflight, rate = runs[name]
        r = e2e(label, args, viewers=viewers, inflight=inflight, rate=rate)
        results.append(r)
        print(json.dumps(r), flush=True)
    print()
    print(
        "| run | gifts/s acked | ack p50 | ack p99 | delivered | effect p50 | p99 | node CPU | CPU/gift"
        " | node loop lag p99 / max | load CPU, lag p99 (senders; viewers if apart) | calib. |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        if "error" in r:
            print(f"| {r['run']} | error: {r['error']} | | | | | | | | | | |")
            continue
        d = "—" if r.get("delivered_pct") is None else f"{r['delivered_pct']} %"
        viewers = ""
        if "viewers_cpu_pct" in r:
            viewers = f"; viewers {r['viewers_cpu_pct']} %, {r['viewers_loop_lag_p99_ms']} ms"
        print(
            f"| {r['run']} | {r['gifts_per_s']:,} | {r['ack_p50_ms']} ms | {r['ack_p99_ms']} ms | {d}"
            f" | {r.get('effect_p50_ms') or '—'} ms | {r.get('effect_p99_ms') or '—'} ms | {r['node_cpu_pct']} %"
            f" | {r['node_cpu_ms_per_gift']} ms | {r.get('node_loop_lag_p99_ms')} / {r.get('node_loop_lag_max_ms')} ms"
            f" | {r['load_cpu_pct']} %, {r['load_loop_lag_p99_ms']} ms{viewers} | {r['calibration_cpu_s']} s |"
        )


if __name__ == "__main__":
    main()
