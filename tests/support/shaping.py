"""Link shaping on loopback for bandwidth tests, inside a network namespace of their own.

``in_namespace(argv)`` runs a command under ``unshare -n`` with ``lo`` up (root only): nothing the command does to
``lo`` reaches the machine's own loopback. :class:`Shaper` caps the traffic *to* given UDP ports with ``tc``:
an ``htb`` root whose default class is unlimited, one class per capped port (a ``u32`` filter on the destination
port) with a byte FIFO holding about 100 ms at the cap, so the bottleneck queues and then drops like a real one.
This kernel has no ``netem``: no delay or jitter can be added, only caps (and loss with iptables/nft).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

NAMESPACE_ENV = "HUB_TEST_IN_NETNS"
UNLIMITED = "10gbit"


def can_shape() -> bool:
    """Root with ``unshare``, ``ip`` and ``tc`` installed."""
    return os.geteuid() == 0 and all(shutil.which(tool) for tool in ("unshare", "ip", "tc"))


def in_namespace(argv: Sequence[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` in a new network namespace (only ``lo``, up); ``env`` gets ``HUB_TEST_IN_NETNS=1``."""
    command = ["unshare", "-n", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
    return subprocess.run(
        command, env=env | {NAMESPACE_ENV: "1"}, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_scenario(node_id: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run one scenario test (``path::name``) with pytest in a namespace of its own; its prints are not captured
    and its failure is reported short (``scenario_report`` makes the assertion message from both)."""
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-s", "--tb=short", node_id]
    return in_namespace(argv, dict(os.environ), timeout=timeout)


def scenario_report(stdout: str, limit: int = 7000) -> str:
    """What a failed scenario run (``pytest -s --tb=short``) says, small enough for an assertion message that CI shows
    in full: the ``E`` lines of its failure, then the tail of what the scenario printed before it (its samples and
    timeline), cut from the front to ``limit`` characters."""
    printed, _, failure = stdout.partition("= FAILURES =")
    errors = "\n".join(line for line in failure.splitlines() if line.startswith("E ")) or failure[-1500:]
    room = max(limit - len(errors), 1000)
    return f"{errors}\n--- printed by the scenario (last {room} characters) ---\n{printed[-room:]}"


_BURST = ("burst", "1m", "cburst", "1m")


def _burst(kbit: int | None) -> tuple[str, ...]:
    return _BURST if kbit is None else ("burst", "3000", "cburst", "3000")


def _tc(*args: str) -> None:
    subprocess.run(["tc", *args], check=True, capture_output=True, text=True)


class Shaper:
    """Per-destination-port caps on ``lo`` (only inside a namespace of its own: ``in_namespace``)."""

    def __init__(self) -> None:
        if os.environ.get(NAMESPACE_ENV) != "1":
            raise RuntimeError("shaping lo outside a network namespace of its own would shape the whole machine")
        subprocess.run(["tc", "qdisc", "del", "dev", "lo", "root"], capture_output=True, check=False)  # a fresh start
        _tc("qdisc", "add", "dev", "lo", "root", "handle", "1:", "htb", "default", "1", "r2q", "1000")
        _tc("class", "replace", "dev", "lo", "parent", "1:", "classid", "1:1", "htb", "rate", UNLIMITED, *_BURST)
        self._classes: dict[int, int] = {}

    def cap(self, port: int, kbit: int | None) -> None:
        """Traffic to UDP ``port`` at most ``kbit`` kbit/s (None: unlimited again)."""
        rate = f"{kbit}kbit" if kbit is not None else UNLIMITED
        classid = self._classes.get(port)
        if classid is None:
            classid = self._classes[port] = 10 + len(self._classes)
            _tc(
                "class",
                "add",
                "dev",
                "lo",
                "parent",
                "1:",
                "classid",
                f"1:{classid}",
                "htb",
                "rate",
                rate,
                *_burst(kbit),
            )
            queue = max(6000, (kbit or 100_000) * 1000 // 8 // 10)  # ~100 ms at the cap
            _tc(
                "qdisc",
                "add",
                "dev",
                "lo",
                "parent",
                f"1:{classid}",
                "handle",
                f"{classid}:",
                "bfifo",
                "limit",
                str(queue),
            )
            _tc(
                "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                "match", "ip", "protocol", "17", "0xff", "match", "ip", "dport", str(port), "0xffff",
                "flowid", f"1:{classid}",
            )  # fmt: skip
            return
        _tc(
            "class",
            "change",
            "dev",
            "lo",
            "parent",
            "1:",
            "classid",
            f"1:{classid}",
            "htb",
            "rate",
            rate,
            *_burst(kbit),
        )
        queue = max(6000, (kbit or 100_000) * 1000 // 8 // 10)
        _tc(
            "qdisc",
            "change",
            "dev",
            "lo",
            "parent",
            f"1:{classid}",
            "handle",
            f"{classid}:",
            "bfifo",
            "limit",
            str(queue),
        )

    def dropped(self, port: int) -> int:
        """Packets dropped so far by ``port``'s queue."""
        classid = self._classes.get(port)
        if classid is None:
            return 0
        out = subprocess.run(
            ["tc", "-s", "qdisc", "show", "dev", "lo", "parent", f"1:{classid}"], capture_output=True, text=True
        ).stdout
        marker = "dropped "
        return int(out.split(marker, 1)[1].split(",", 1)[0]) if marker in out else 0
