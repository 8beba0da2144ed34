"""``hub wallet verify``: recompute every balance from the ledger and exit non-zero on any difference."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from hub.settings import Settings
from wallet.verify import verify_ledger


def add_wallet_commands(sub: Any) -> None:
    wallet = sub.add_parser("wallet", help="money tools")
    wsub = wallet.add_subparsers(dest="wallet_command", required=True)
    verify = wsub.add_parser(
        "verify",
        help="recompute every balance from the ledger; exit 1 on any difference (read-only unless --reconcile)",
    )
    verify.add_argument(
        "--reconcile", action="store_true", help="first finish transfers whose lease ran out (what the reconciler does)"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")


async def verify_command(hub: Any, *, reconcile: bool = False, as_json: bool = False) -> int:
    """Exit status: 0 clean, 1 differences found."""
    await hub.money.relay.drain()  # at rest: what this node's relay was given is published first
    if reconcile:
        await hub.money.reconciler.run_once()
    report = await verify_ledger(hub.money.ledger_store)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(f"ledger: {report.transfers} transfers, {report.accounts} accounts")
        for name, value in report.totals.items():
            print(f"  {name}: {value}")
        for problem in report.problems:
            print(f"DIFFERENCE: {problem}", file=sys.stderr)
        print("ledger verifies clean" if report.ok else f"ledger has {len(report.problems)} difference(s)")
    return 0 if report.ok else 1


async def run_wallet(settings: Settings, args: argparse.Namespace) -> int:
    from hub.wiring import Hub

    hub = Hub(settings)
    try:
        return await verify_command(hub, reconcile=args.reconcile, as_json=args.json)
    finally:
        await hub.close()
