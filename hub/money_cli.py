"""``hub wallet verify``: recompute every balance from the ledger (coins and beans, and the separate channel points
ledger) and exit non-zero on any difference.

Two ways to reach a ledger:
- ``HUB_MONGO_URL`` set: read the shared MongoDB directly (every node's ledger is that one database).
- ``--url http://node:8080 --token ADMIN_ACCESS_TOKEN`` (or ``HUB_ADMIN_TOKEN``): ask a running node to check the
  ledger it serves (``POST /api/v1/admin/wallet/verify``). Without MongoDB that is the only way: the stand-in
  database lives inside the ``hub serve`` process, and a fresh one here would be empty (and "verify clean").

Exit status: 0 clean, 1 differences found, 2 nothing could be verified (refused, unreachable, not an admin).
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from app.money_admin import with_points
from hub.settings import Settings

if TYPE_CHECKING:
    from hub.wiring import Hub

EXIT_CLEAN = 0
EXIT_DIFFERENCES = 1
EXIT_NOT_VERIFIED = 2
VERIFY_PATH = "/api/v1/admin/wallet/verify"
TOKEN_ENV = "HUB_ADMIN_TOKEN"

NO_DATABASE = f"""hub wallet verify: refused: HUB_MONGO_URL is not set, so there is no ledger to read from here.
Without MongoDB each node keeps its ledger in an in-process stand-in that lives inside the running `hub serve`
process; a new one made for this command would be empty and prove nothing. Verify the running node's ledger instead:
    hub wallet verify --url http://127.0.0.1:8080 --token ADMIN_ACCESS_TOKEN
(an admin's access token from POST /api/v1/auth/login; or set {TOKEN_ENV}), or set HUB_MONGO_URL to the database
the nodes use."""


def add_wallet_commands(sub: Any) -> None:
    wallet = sub.add_parser("wallet", help="money tools")
    wsub = wallet.add_subparsers(dest="wallet_command", required=True)
    verify = wsub.add_parser(
        "verify",
        help="recompute every balance from the ledger; exit 1 on any difference, 2 if nothing could be verified "
        "(read-only unless --reconcile)",
    )
    verify.add_argument(
        "--reconcile", action="store_true", help="first finish transfers whose lease ran out (what the reconciler does)"
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.add_argument(
        "--url",
        help="verify the ledger of the running node at this base URL (e.g. http://127.0.0.1:8080) instead of "
        "reading HUB_MONGO_URL; needs an admin's access token",
    )
    verify.add_argument(
        "--token",
        help=f"an admin's access token for --url (default: ${TOKEN_ENV}, which is better: other users of the machine "
        "can read a command line)",
    )


def print_report(report: dict[str, Any], *, as_json: bool) -> int:
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(f"ledger: {report['transfers']} transfers, {report['accounts']} accounts")
        for name, value in report["totals"].items():
            print(f"  {name}: {value}")
        for problem in report["problems"]:
            print(f"DIFFERENCE: {problem}", file=sys.stderr)
        print("ledger verifies clean" if report["ok"] else f"ledger has {len(report['problems'])} difference(s)")
    return EXIT_CLEAN if report["ok"] else EXIT_DIFFERENCES


async def verify_command(hub: Hub, *, reconcile: bool = False, as_json: bool = False) -> int:
    """Verify the ledger ``hub`` serves (this process's database). Exit status: 0 clean, 1 differences found."""
    report = await hub.money.audit.verify(reconcile=reconcile)
    with_points(report, await hub.loyalty.audit.verify(reconcile=reconcile))  # the channel points ledger too
    return print_report(report.to_dict(), as_json=as_json)


def _refuse(message: str) -> int:
    print(f"hub wallet verify: {message}", file=sys.stderr)
    return EXIT_NOT_VERIFIED


def verify_remote(base_url: str, token: str | None, *, reconcile: bool, as_json: bool, timeout_s: float = 120) -> int:
    """Ask the node at ``base_url`` to verify its ledger (it drains its outbox relay first)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return _refuse(f"--url must be a node's base URL such as http://127.0.0.1:8080, got {base_url!r}")
    if not token:
        return _refuse(f"--url needs an admin's access token: --token TOKEN or {TOKEN_ENV}")
    request = urllib.request.Request(
        base_url.rstrip("/") + VERIFY_PATH,
        data=json.dumps({"reconcile": reconcile}).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            report = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        detail = ""
        try:
            problem = json.loads(exc.read())
            detail = f": {problem.get('code', '')}: {problem.get('detail') or problem.get('title') or ''}"
        except (ValueError, AttributeError):
            pass
        return _refuse(f"the node answered {exc.code}{detail}")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return _refuse(f"cannot reach {base_url}: {reason}")
    except ValueError:
        return _refuse(f"{base_url} did not answer with a ledger report (is it a hub node?)")
    if not isinstance(report, dict) or not {"ok", "transfers", "accounts", "problems", "totals"} <= set(report):
        return _refuse(f"{base_url} did not answer with a ledger report (is it a hub node?)")
    return print_report(report, as_json=as_json)


async def run_wallet(settings: Settings, args: argparse.Namespace, *, token: str | None = None) -> int:
    if args.url:
        return verify_remote(args.url, args.token or token, reconcile=args.reconcile, as_json=args.json)
    if settings.mongo_url is None:
        print(NO_DATABASE, file=sys.stderr)
        return EXIT_NOT_VERIFIED

    from hub.wiring import Hub

    hub = Hub(settings)
    try:
        return await verify_command(hub, reconcile=args.reconcile, as_json=args.json)
    finally:
        await hub.close()
