"""Memory per idle Socket.IO connection on one hub node, and where it goes.

One node (the real ``Hub`` under uvicorn with ``hub serve``'s WebSocket settings, ``gc.freeze()`` after
start-up, as ``bench_chat.py`` runs it) in this process; a child process opens N raw Engine.IO/Socket.IO WebSocket
viewers (guests) that join one live room and then stay idle. Reported: the node's RSS growth per connection (from
before the viewers connect to 2 s after the last joined), the traced Python allocations per connection
(``tracemalloc``, grouped by file, top lines), and asyncio tasks per connection (by coroutine name).

    .venv/bin/python scripts/bench_conn_memory.py --clients 1000
    .venv/bin/python scripts/bench_conn_memory.py --clients 1000 --no-trace   # RSS only (tracemalloc costs memory)
    .venv/bin/python scripts/bench_conn_memory.py --clients 1000 --no-trace --stock   # python-engineio's own socket
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import os
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import free_port, open_raw_viewer, seed_accounts_and_live_stream  # noqa: E402

from hub.serve_options import DEFAULT_WS, WEBSOCKET_OPTIONS, WS_IMPLEMENTATIONS  # noqa: E402

STREAM_ID = "bench-stream"
OWNER_ID = "bench-owner"


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def task_names() -> collections.Counter[str]:
    out: collections.Counter[str] = collections.Counter()
    for t in asyncio.all_tasks():
        coro = t.get_coro()
        out[getattr(coro, "__qualname__", type(coro).__name__)] += 1
    return out


async def load(args: argparse.Namespace) -> None:
    """The child: open the viewers, say so, stay idle until stdin closes."""
    sem = asyncio.Semaphore(100)

    async def one() -> Any:
        async with sem:
            return await open_raw_viewer(args.base, STREAM_ID, b'"text":')

    viewers = await asyncio.gather(*(one() for _ in range(args.clients)))
    print(json.dumps({"open": len(viewers)}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def node(args: argparse.Namespace) -> dict[str, Any]:
    import uvicorn

    from hub.app import create_app
    from hub.settings import Settings
    from hub.wiring import Hub

    port = free_port()
    env = {
        "HUB_JWT_SECRET": "bench-secret-" + "b" * 40,
        "HUB_NODE_ID": "mem-node",
        "HUB_PORT": str(port),
        "HUB_BCRYPT_ROUNDS": "4",
        "HUB_LOG_LEVEL": "WARNING",
    }
    if args.stock:  # python-engineio's own socket and queue, for the before/after figure
        import engineio

        from signaling.server import GuardedServer

        GuardedServer._engineio_server_class = lambda self: engineio.AsyncServer  # type: ignore[method-assign]
    hub = Hub(Settings.from_env(env))
    config = uvicorn.Config(
        create_app(hub),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        **{**WEBSOCKET_OPTIONS, "ws": WS_IMPLEMENTATIONS[args.ws]},
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    await seed_accounts_and_live_stream(hub, STREAM_ID, OWNER_ID, [])
    gc.collect()
    gc.freeze()
    tasks_before = task_names()
    if args.trace:
        tracemalloc.start(args.frames)
    await asyncio.sleep(0.5)
    snap0 = tracemalloc.take_snapshot() if args.trace else None
    rss0 = rss_bytes()
    t0 = time.monotonic()
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        __file__,
        "load",
        "--base",
        f"http://127.0.0.1:{port}",
        "--clients",
        str(args.clients),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    line = await child.stdout.readline()
    opened = json.loads(line)["open"]
    connect_s = time.monotonic() - t0
    await asyncio.sleep(2.0)
    rss1 = rss_bytes()
    n = opened
    result: dict[str, Any] = {
        "socket": "stock" if args.stock else "lean",
        "ws": args.ws,
        "clients": n,
        "connect_s": round(connect_s, 1),
        "loadavg_1m": round(os.getloadavg()[0], 2),
        "rss_kb_per_connection": round((rss1 - rss0) / n / 1024, 1),
        "sockets": len(hub.signaling.server.eio.sockets),
    }
    tasks_after = task_names()
    result["tasks_per_connection"] = {
        k: round((tasks_after[k] - tasks_before.get(k, 0)) / n, 2)
        for k in tasks_after
        if tasks_after[k] - tasks_before.get(k, 0) >= n // 2
    }
    if snap0 is not None:
        snap1 = tracemalloc.take_snapshot()
        tracemalloc.stop()
        by_file = snap1.compare_to(snap0, "filename")
        result["traced_kb_per_connection"] = round(sum(s.size_diff for s in by_file) / n / 1024, 1)
        result["by_file_bytes_per_connection"] = {
            "/".join(Path(str(s.traceback[0].filename)).parts[-2:]): round(s.size_diff / n)
            for s in by_file[:12]
            if s.size_diff > 0
        }
        by_line = snap1.compare_to(snap0, "lineno")
        result["top_lines_bytes_per_connection"] = {
            f"{'/'.join(Path(str(s.traceback[0].filename)).parts[-2:])}:{s.traceback[0].lineno}": round(s.size_diff / n)
            for s in by_line[: args.top]
            if s.size_diff > 0
        }
        if args.frames > 1:  # where the top lines are allocated from
            by_trace = snap1.compare_to(snap0, "traceback")
            result["top_tracebacks"] = [
                {
                    "bytes_per_connection": round(s.size_diff / n),
                    "from": [f"{'/'.join(Path(f.filename).parts[-2:])}:{f.lineno}" for f in s.traceback],
                }
                for s in by_trace[: args.top]
                if s.size_diff > 0
            ]
    child.stdin.close()
    await asyncio.wait_for(child.wait(), 30)
    server.should_exit = True
    await asyncio.wait_for(serving, 30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role")
    ld = sub.add_parser("load")
    ld.add_argument("--base", required=True)
    ld.add_argument("--clients", type=int, required=True)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--no-trace", dest="trace", action="store_false")
    parser.add_argument("--frames", type=int, default=1)
    parser.add_argument("--stock", action="store_true", help="python-engineio's AsyncSocket and asyncio.Queue")
    parser.add_argument(
        "--ws", default=DEFAULT_WS, choices=sorted(WS_IMPLEMENTATIONS), help="uvicorn WebSocket (default: hub serve's)"
    )
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    if args.role == "load":
        asyncio.run(load(args))
        return
    print(json.dumps(asyncio.run(node(args)), indent=1))


if __name__ == "__main__":
    main()
