"""Login latency while sign-ups flood: a real user's ``POST /auth/login`` p50/p99, alone and while ``--flood``
clients register new accounts back to back (each sign-up a full bcrypt at ``HUB_BCRYPT_ROUNDS``).

The hub runs as its own process (``hub serve``, default bcrypt cost 12, sign-up and login limits lifted so only the
hashing lanes decide); the load generator is this process (httpx). Refused sign-ups (503: the sign-up lane is full)
wait 0.1 s before the next try, as a client honouring Retry-After would; they are counted.

    .venv/bin/python scripts/bench_login_flood.py --flood 12 --logins 40
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import free_port  # noqa: E402


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url) as c:
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if (await c.get("/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError("the hub did not start")


async def run(args: argparse.Namespace) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "HUB_PORT": str(port),
        "HUB_BCRYPT_ROUNDS": str(args.rounds),
        "HUB_REGISTER_BURST": "1000000",
        "HUB_LOGIN_BURST": "1000000",
        "HUB_LOG_LEVEL": "ERROR",
        "HUB_ICE_SERVERS": "[]",
    }
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "hub"), "serve"], env=env, cwd=ROOT)  # noqa: ASYNC220
    try:
        await wait_ready(url)
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:
            email = f"steady-{secrets.token_hex(4)}@example.com"
            body = {"email": email, "password": "steady as she goes", "nickname": "Steady"}
            r = await c.post("/api/v1/auth/register", json=body)
            assert r.status_code == 201, r.text
            login = {"login": email, "password": body["password"]}

            async def timed_login() -> float:
                t0 = time.perf_counter()
                r = await c.post("/api/v1/auth/login", json=login)
                assert r.status_code == 200, r.text
                return time.perf_counter() - t0

            alone = [await timed_login() for _ in range(args.logins // 2)]
            stop = asyncio.Event()
            outcomes: dict[int, int] = {}

            async def sign_ups(i: int) -> None:
                n = 0
                while not stop.is_set():
                    n += 1
                    r = await c.post(
                        "/api/v1/auth/register",
                        json={
                            "email": f"flood{i}-{n}-{secrets.token_hex(3)}@example.com",
                            "password": "flooding password",
                            "nickname": f"Flood{i}",
                        },
                    )
                    outcomes[r.status_code] = outcomes.get(r.status_code, 0) + 1
                    if r.status_code != 201:
                        await asyncio.sleep(0.1)

            flood = [asyncio.create_task(sign_ups(i)) for i in range(args.flood)]
            try:
                await asyncio.sleep(1.0)
                t0 = time.perf_counter()
                during = [await timed_login() for _ in range(args.logins)]
                window = time.perf_counter() - t0
            finally:
                stop.set()
                await asyncio.gather(*flood)
        print(f"bcrypt cost {args.rounds}; {args.flood} sign-up clients; load average {os.getloadavg()[0]:.1f}")
        for name, values in (("alone", alone), ("during the flood", during)):
            print(
                f"login {name:17} n={len(values):3}  p50 {statistics.median(values) * 1000:7.0f} ms"
                f"  p99 {percentile(values, 99) * 1000:7.0f} ms  max {max(values) * 1000:7.0f} ms"
            )
        print(f"sign-ups over {window:.1f} s: {outcomes.get(201, 0)} created, {outcomes.get(503, 0)} refused (503)")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flood", type=int, default=12, help="concurrent sign-up clients")
    parser.add_argument("--logins", type=int, default=40, help="logins measured during the flood")
    parser.add_argument("--rounds", type=int, default=12, help="HUB_BCRYPT_ROUNDS")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
