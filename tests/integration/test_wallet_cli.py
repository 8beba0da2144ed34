"""``hub wallet verify`` as an operator runs it: a real process, exit status and report."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def test_hub_wallet_verify_reports_a_clean_ledger_and_exits_zero() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HUB_")}
    out = subprocess.run(
        [sys.executable, "-m", "hub.cli", "wallet", "verify", "--json", "--reconcile"],
        env={**env, "HUB_LOG_LEVEL": "ERROR"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout[out.stdout.index("{") :])
    assert report["ok"] is True and report["problems"] == []
    assert set(report["totals"]) >= {"coins_bought", "coins_held", "coins_spent", "coins_clawed_back"}
