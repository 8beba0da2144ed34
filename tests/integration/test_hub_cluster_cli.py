"""``hub cluster --nodes N --port P``: N nodes with their own Redis and one database; SIGTERM stops all of it."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.servers import free_port


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    env.update(extra)
    return env


def _two_free_ports() -> int:
    for _ in range(50):
        port = free_port()
        if port < 65535:
            with socket.socket() as s:
                try:
                    s.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
            return port
    raise AssertionError("no two consecutive free ports")


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (from /proc: this test's own view, no extra tools)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        for child, ppid in parents.items():
            if ppid == parent and child not in found:
                found.add(child)
                frontier.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_cluster_of_two_shares_users_and_sigterm_stops_everything_it_started() -> None:
    port = _two_free_ports()
    proc = subprocess.Popen(
        [sys.executable, "-m", "hub.cli", "cluster", "--nodes", "2", "--port", str(port)],
        env=_env(HUB_BCRYPT_ROUNDS="4", HUB_SFU_WORKERS="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 90
        while len([line for line in lines if line.startswith("node ")]) < 2:
            line = proc.stdout.readline()
            assert line, f"hub cluster exited early ({proc.poll()}): {lines}"
            lines.append(line.strip())
            assert time.monotonic() < deadline, "hub cluster did not report its nodes"
        nodes = [line for line in lines if line.startswith("node ")]
        assert nodes == [f"node 1 http://127.0.0.1:{port}", f"node 2 http://127.0.0.1:{port + 1}"]

        first, second = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"
        for url in (first, second):
            ready = httpx.get(url + "/readyz", timeout=5).json()
            assert ready["checks"] == {"database": "ok", "redis": "ok"}
        account = {"email": "both@example.com", "password": "one database", "nickname": "Both"}
        assert httpx.post(first + "/api/v1/auth/register", json=account, timeout=10).status_code == 201
        login = httpx.post(
            second + "/api/v1/auth/login", json={"login": account["email"], "password": account["password"]}, timeout=10
        )
        assert login.status_code == 200, login.text
        # A token issued by node 2 works on node 1: one user, one secret.
        me = httpx.get(
            first + "/api/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"}, timeout=10
        )
        assert me.status_code == 200 and me.json()["nickname"] == "Both"

        children = _descendants(proc.pid)
        assert children, "the cluster started no Redis and no SFU worker processes"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    deadline = time.monotonic() + 10
    while any(_alive(pid) for pid in children) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [pid for pid in children if _alive(pid)], "processes the cluster started outlived it"
    assert not _port_open(port) and not _port_open(port + 1)
