"""PK battle benchmark: gifts during a battle, and how soon the new score is on both rooms' screens.

One hub node (the real ``Hub`` + uvicorn, embedded, no Redis; its own process) holds two live streams in a running
battle; the load generator (another process, raw Engine.IO WebSocket clients) puts V viewers in each room (one in
fifty parses every frame, the rest only read them) and S senders that send gifts at a fixed total rate, alternately
to each stream. Each gift is a rose (8 beans for its streamer), so the k-th gift acked for a side is on a screen once
that screen shows the side's score ≥ 8·k (``battles.service.count`` queues a gift on ``GiftApplied``, before the
ack; the battle's adder task puts it on the live score moments later). Latency = that screen's arrival time − the
ack's arrival time, for every gift on every parsing viewer of both rooms (each room's screen shows both scores):
p50/p99. Also: ack latency, the scores every parsing viewer ends with against the gifts acked, node CPU, the
node's event-loop lag during the window (a 10 ms timer's lateness: how long the loop was busy with other work before
a due timer — a room's next tick — could run), and the load process's own (its timestamps are that late).
Every loop is bounded (window, drain deadline).

    .venv/bin/python scripts/bench_pk.py --viewers 500 --rate 100 --window 10
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench_gifts import ENV, JWT_SECRET, calibration_cpu_s, pct, sender_id  # noqa: E402
from benchlib import (  # noqa: E402
    NS,
    cpu_seconds,
    eio_connect,
    free_port,
    loop_lag,
    open_raw_viewer,
    seed_accounts_and_live_stream,
)

STREAMS = ("pk-stream-a", "pk-stream-b")
OWNERS = ("pk-owner-a", "pk-owner-b")
BEANS_PER_GIFT = 8  # a rose: 10 beans of value, 80 % to the streamer
PK_ENV = {**ENV, "HUB_PK_DURATION_S": "3600", "HUB_PK_AFTER_S": "5"}


async def seed(hub: Any, senders: int) -> str:
    """Two live streams in a running battle, and plenty of coins for every sender; the battle's id."""
    from battles.models import Side
    from wallet.accounts import COINS_STRIPE, Currency, user_coins
    from wallet.models import Leg, TransferKind, TransferSpec

    await seed_accounts_and_live_stream(hub, STREAMS[0], OWNERS[0], [sender_id(i) for i in range(senders)])
    # The second stream as the first, with its own owner and key (stream keys are unique).
    await hub.account_store.insert_user(
        {"_id": OWNERS[1], "email": f"{OWNERS[1]}@bench.invalid", "nickname": "owner b", "role": "viewer",
         "created_at": datetime.now(UTC) - timedelta(days=365)}
    )  # fmt: skip
    first = await hub.stream_store.get(STREAMS[0])
    await hub.stream_store.insert({**first, "_id": STREAMS[1], "owner_id": OWNERS[1], "stream_key": "sk_bench_b"})
    for i in range(senders):
        coins = 10**8
        await hub.money.ledger.execute(
            TransferSpec(
                f"topup:seed-{i}",
                TransferKind.TOPUP,
                (Leg(COINS_STRIPE, Currency.COINS, -coins), Leg(user_coins(sender_id(i)), Currency.COINS, coins)),
            )
        )
    service = hub.battles.service
    battle = await service.invite(Side(OWNERS[0], STREAMS[0], "A"), Side(OWNERS[1], STREAMS[1], "B"))
    await service.accept(battle.id, OWNERS[1])
    return str(battle.id)


async def run_node(port: int, senders: int) -> None:
    import gc

    import uvicorn

    from hub.app import create_app
    from hub.settings import Settings
    from hub.wiring import Hub

    hub = Hub(Settings.from_env({**PK_ENV, "HUB_PORT": str(port)}))
    server = uvicorn.Server(
        uvicorn.Config(create_app(hub), host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    battle_id = await seed(hub, senders)
    gc.collect()
    gc.freeze()
    lags: list[float] = []
    measuring = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, measuring.set)  # the load's window starts
    loop.add_signal_handler(signal.SIGUSR2, measuring.clear)  # and ends
    lag_task = asyncio.create_task(loop_lag(measuring, lags))
    print("ready", flush=True)
    try:
        await task
    finally:
        lag_task.cancel()
        # What the ledger says the scores are, for the load's report (the node prints it when stopped).
        a, b = await hub.battles.service.scores_from_ledger(battle_id)
        lag = {"loop_lag_p50_ms": pct(lags, 0.5), "loop_lag_p99_ms": pct(lags, 0.99), "loop_lag_max_ms": pct(lags, 1)}
        print(json.dumps({"ledger_scores": [a, b], **lag}), flush=True)


# ---------------------------------------------------------------------------------------------------- load


async def probe_loop(ws: Any, seen: list[tuple[float, int, int]]) -> None:
    """Every ``pk:score`` (alone or in a ``room:batch``) this screen gets: (arrival time, score a, score b)."""
    one = f'42{NS},["pk:score"'
    batch = f'42{NS},["room:batch"'
    async for msg in ws:
        data = msg.data
        if data == "2":
            await ws.send_str("3")
        elif isinstance(data, str) and (data.startswith(one) or (data.startswith(batch) and "pk:score" in data)):
            now = time.time()
            payload = json.loads(data[len(NS) + 3 :])[1]
            events = (
                [payload]
                if data.startswith(one)
                else [x["data"] for x in payload["events"] if x["event"] == "pk:score"]
            )
            for e in events:
                b = e["battle"]
                seen.append((now, int(b["a"]["score"]), int(b["b"]["score"])))


async def sender_loop(ws: Any, idx: int, until: float, rate: float, inflight: int, stats: dict[str, Any]) -> None:
    """Gifts at ``rate`` per second, alternately to each stream; every ok ack's arrival time by side."""
    pending: dict[int, tuple[float, int]] = {}
    window = asyncio.Semaphore(inflight)

    async def reader() -> None:
        async for msg in ws:
            data = msg.data
            if data == "2":
                await ws.send_str("3")
            elif isinstance(data, str) and data.startswith(f"43{NS},"):
                ack_id = int(data[len(NS) + 3 : data.index("[")])
                sent = pending.pop(ack_id, None)
                if sent is None:
                    continue
                window.release()
                stats["ack_lat"].append(time.monotonic() - sent[0])
                if '"ok":true' in data:
                    stats["acks"][sent[1]].append(time.time())
                else:
                    stats["errors"] += 1
                    if len(stats["error_samples"]) < 3:
                        stats["error_samples"].append(data[:200])

    task = asyncio.create_task(reader())
    seq = 0
    next_at = time.monotonic()
    try:
        while time.monotonic() < until:
            await window.acquire()
            seq += 1
            side = (idx + seq) % 2
            pending[seq] = (time.monotonic(), side)
            body = f'{{"stream_id":"{STREAMS[side]}","gift_id":"rose","idempotency_key":"pk{idx}.{seq}"}}'
            await ws.send_str(f'42{NS},{seq}["gift:send",{body}]')
            stats["sent"] += 1
            next_at += 1.0 / rate
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        deadline = time.monotonic() + 10
        while pending and time.monotonic() < deadline:  # the last acks
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def screen_latencies(acks: list[list[float]], seen: list[tuple[float, int, int]]) -> tuple[list[float], int]:
    """For each side's k-th ack: when this screen first showed that side's score ≥ 8·k, minus the ack's time;
    and how many acked gifts it never showed."""
    out: list[float] = []
    missing = 0
    for side in (0, 1):
        times = [t for t, *_ in seen]
        best = 0
        running: list[int] = []
        for _, a, b in seen:
            best = max(best, a if side == 0 else b)
            running.append(best)
        for k, acked_at in enumerate(sorted(acks[side]), start=1):
            i = bisect.bisect_left(running, BEANS_PER_GIFT * k)
            if i == len(running):
                missing += 1
                continue
            out.append(max(0.0, times[i] - acked_at))
    return out, missing


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    import aiohttp

    from accounts.models import Role
    from accounts.tokens import AccessTokenCodec
    from core.ids import UserId

    codec = AccessTokenCodec(JWT_SECRET, 3600, 30)
    now = datetime.now(UTC)
    tokens = [codec.issue(UserId(sender_id(i)), Role.VIEWER, "s-" + sender_id(i), now) for i in range(args.senders)]
    result: dict[str, Any] = {"viewers_per_room": args.viewers, "senders": args.senders, "rate": args.rate}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        n_probes = max(1, args.viewers // 50)
        sem = asyncio.Semaphore(100)

        async def open_probe(stream_id: str) -> Any:
            async with sem:
                return await eio_connect(session, args.base, None, stream_id)

        async def open_raw(stream_id: str) -> Any:
            async with sem:
                return await open_raw_viewer(args.base, stream_id, b'"pk:score"')

        probes = [await open_probe(s) for s in STREAMS for _ in range(n_probes)]
        raws = await asyncio.gather(*(open_raw(s) for s in STREAMS for _ in range(args.viewers - n_probes)))
        seen: list[list[tuple[float, int, int]]] = [[] for _ in probes]
        probe_tasks = [asyncio.create_task(probe_loop(ws, s)) for ws, s in zip(probes, seen, strict=True)]
        senders = [await eio_connect(session, args.base, tokens[i], None) for i in range(args.senders)]
        await asyncio.sleep(1.0)
        stats: dict[str, Any] = {"sent": 0, "errors": 0, "ack_lat": [], "acks": [[], []], "error_samples": []}
        load_lags: list[float] = []
        measuring = asyncio.Event()
        measuring.set()
        load_lag = asyncio.create_task(loop_lag(measuring, load_lags))  # this process's own lateness: its timestamps
        cpu0 = cpu_seconds(args.pid)
        os.kill(args.pid, signal.SIGUSR1)
        t0 = time.monotonic()
        until = t0 + args.window
        await asyncio.gather(
            *(sender_loop(ws, i, until, args.rate / args.senders, 4, stats) for i, ws in enumerate(senders))
        )
        window_cpu = cpu_seconds(args.pid) - cpu0
        os.kill(args.pid, signal.SIGUSR2)
        load_lag.cancel()
        load_cpu = cpu_seconds(os.getpid())
        want = [BEANS_PER_GIFT * len(stats["acks"][0]), BEANS_PER_GIFT * len(stats["acks"][1])]

        def caught_up() -> bool:
            return all(s and max(x[1] for x in s) >= want[0] and max(x[2] for x in s) >= want[1] for s in seen)

        deadline = time.monotonic() + 10
        while not caught_up() and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        lat: list[float] = []
        missing = 0
        for s in seen:
            one, miss = screen_latencies(stats["acks"], s)
            lat.extend(one)
            missing += miss
        acked = len(stats["acks"][0]) + len(stats["acks"][1])
        finals = {(max((x[1] for x in s), default=0), max((x[2] for x in s), default=0)) for s in seen}
        result.update(
            sent=stats["sent"],
            acked_ok=acked,
            errors=stats["errors"],
            error_samples=stats["error_samples"],
            gifts_per_s=round(acked / args.window, 1),
            ack_p50_ms=pct(stats["ack_lat"], 0.5),
            ack_p99_ms=pct(stats["ack_lat"], 0.99),
            screens=len(probes),
            score_p50_ms=pct(lat, 0.5),
            score_p99_ms=pct(lat, 0.99),
            score_max_ms=pct(lat, 1.0),
            score_samples=len(lat),
            never_shown=missing,
            expected_scores=want,
            final_scores_on_screens=sorted(finals),
            pk_score_frames_per_raw_viewer=round(sum(r.received for r in raws) / max(1, len(raws)), 1),
            node_cpu_pct=round(100 * window_cpu / args.window, 1),
            load_loop_lag_p99_ms=pct(load_lags, 0.99),
            load_loop_lag_max_ms=pct(load_lags, 1.0),
            load_cpu_s=round(load_cpu, 1),
        )
        for t in probe_tasks:
            t.cancel()
        await asyncio.gather(*probe_tasks, return_exceptions=True)
        for ws in [*probes, *senders]:
            with contextlib.suppress(Exception):
                await ws.close()
        for raw in raws:
            raw.transport.close()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role")
    node = sub.add_parser("node")
    node.add_argument("--port", type=int, required=True)
    load = sub.add_parser("load")
    load.add_argument("--base", required=True)
    load.add_argument("--pid", type=int, required=True)
    for p in (parser, node, load):
        p.add_argument("--senders", type=int, default=20)
    for p in (parser, load):
        p.add_argument("--viewers", type=int, default=500, help="viewers per room")
        p.add_argument("--rate", type=float, default=100.0, help="gifts per second in total")
        p.add_argument("--window", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=240.0)
    args = parser.parse_args()
    if args.role == "node":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(run_node(args.port, args.senders))
        return
    if args.role == "load":
        print(json.dumps(asyncio.run(run_load(args))), flush=True)
        return
    print(json.dumps({"calibration_cpu_s": calibration_cpu_s()}), flush=True)
    port = free_port()
    cmd = [sys.executable, __file__, "node", "--port", str(port), "--senders", str(args.senders)]
    node_proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert node_proc.stdout is not None
    result: dict[str, Any] = {}
    try:
        line = node_proc.stdout.readline()
        if line.strip() != "ready":
            raise SystemExit(f"the node did not start: {line!r}")
        load_cmd = [
            sys.executable, __file__, "load", "--base", f"http://127.0.0.1:{port}", "--pid", str(node_proc.pid),
            "--viewers", str(args.viewers), "--senders", str(args.senders), "--rate", str(args.rate),
            "--window", str(args.window),
        ]  # fmt: skip
        out = subprocess.run(load_cmd, capture_output=True, text=True, cwd=ROOT, timeout=args.timeout)
        if out.returncode != 0:
            print(out.stderr[-3000:], file=sys.stderr)
            raise SystemExit("the load failed")
        result = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        node_proc.send_signal(signal.SIGINT)
        try:
            rest, _ = node_proc.communicate(timeout=15)
            for text in rest.splitlines():
                if text.startswith('{"ledger_scores"'):
                    result.update(json.loads(text))
        except subprocess.TimeoutExpired:
            node_proc.kill()
    result["calibration_cpu_s"] = calibration_cpu_s()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
