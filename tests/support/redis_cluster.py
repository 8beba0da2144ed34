"""A real Redis Cluster for tests: three ``redis-server`` masters on loopback ports, joined with
``redis-cli --cluster create ... --cluster-replicas 0``.

No data persistence (a restarted master comes back empty), but each master keeps its ``nodes.conf`` in its own
directory, so a master restarted on the same port rejoins with the same id and the same slots.
``cluster-require-full-coverage no``: while one master is down the other two keep serving their slots.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis as sync_redis

BUS_OFFSET = 10_000  # Redis Cluster's bus port is the client port + 10000


def _free_cluster_port() -> int:
    """A free loopback port whose cluster bus port (port + 10000) is free too."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port + BUS_OFFSET > 65535:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair for a Redis Cluster node")


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server on port {port} exited with {proc.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.02)
    raise RuntimeError(f"redis-server on port {port} did not start")


@dataclass(frozen=True)
class SharedRedis:
    """Where the nodes of a test find Redis: one server, or the seeds of a Redis Cluster."""

    url: str
    cluster: bool

    def settings(self) -> dict[str, object]:
        return {"redis_url": self.url, "redis_cluster": self.cluster}


@dataclass
class ClusterMaster:
    port: int
    workdir: str
    proc: subprocess.Popen[bytes] | None = None


@dataclass
class LocalRedisCluster:
    masters: list[ClusterMaster] = field(default_factory=list)
    node_timeout_ms: int = 2000

    @property
    def url(self) -> str:
        """``HUB_REDIS_URL`` for it: every master as a seed, comma-separated."""
        return ",".join(f"redis://127.0.0.1:{m.port}" for m in self.masters)

    def _spawn(self, master: ClusterMaster) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed: run ./scripts/test, which installs it")
        args = [binary, "--port", str(master.port), "--bind", "127.0.0.1", "--protected-mode", "yes"]
        args += ["--save", "", "--appendonly", "no", "--dir", master.workdir]
        args += ["--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf"]
        args += ["--cluster-node-timeout", str(self.node_timeout_ms), "--cluster-require-full-coverage", "no"]
        master.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(master.port, master.proc)

    def start(self, count: int = 3) -> None:
        cli = shutil.which("redis-cli")
        if cli is None:
            raise RuntimeError("redis-cli is not installed: run ./scripts/test, which installs redis-tools")
        for _ in range(count):
            master = ClusterMaster(_free_cluster_port(), tempfile.mkdtemp(prefix="hub-redis-cluster-"))
            self.masters.append(master)
            self._spawn(master)
        create = [cli, "--cluster", "create", *(f"127.0.0.1:{m.port}" for m in self.masters)]
        create += ["--cluster-replicas", "0", "--cluster-yes"]
        subprocess.run(create, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=60)
        self.wait_ok()

    def wait_ok(self, timeout_s: float = 20.0) -> None:
        """Until every master says ``cluster_state:ok`` and knows all the others."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if all(self._ok(m.port) for m in self.masters):
                return
            time.sleep(0.05)
        raise RuntimeError("the Redis Cluster did not become ok")

    def _ok(self, port: int) -> bool:
        try:
            client = sync_redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)
            try:
                info = client.execute_command("CLUSTER", "INFO")
                info = info.decode() if isinstance(info, bytes) else str(info)
                nodes = client.execute_command("CLUSTER", "NODES")
            finally:
                client.close()
        except (sync_redis.RedisError, OSError):
            return False
        text = nodes.decode() if isinstance(nodes, bytes) else str(nodes)
        lines = [line for line in text.splitlines() if line.strip()]
        return "cluster_state:ok" in info and len(lines) == len(self.masters) and "fail" not in text

    def flushall(self) -> None:
        for m in self.masters:
            client = sync_redis.Redis(host="127.0.0.1", port=m.port)
            try:
                client.flushall()
            finally:
                client.close()

    def client(self) -> sync_redis.RedisCluster:
        return sync_redis.RedisCluster(host="127.0.0.1", port=self.masters[0].port)

    def stop_master(self, index: int) -> None:
        master = self.masters[index]
        proc, master.proc = master.proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def start_master(self, index: int) -> None:
        """Start a stopped master again on its port (empty, same cluster identity and slots)."""
        self._spawn(self.masters[index])
        self.wait_ok()

    def stop(self) -> None:
        for i, m in enumerate(self.masters):
            self.stop_master(i)
            shutil.rmtree(m.workdir, ignore_errors=True)


@contextlib.contextmanager
def redis_cluster(count: int = 3) -> Iterator[LocalRedisCluster]:
    cluster = LocalRedisCluster()
    try:
        cluster.start(count)
        yield cluster
    finally:
        cluster.stop()
