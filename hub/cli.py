"""The ``hub`` command: ``hub serve``, and operator tools."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from core.errors import HubError
from hub.logging_setup import configure_logging
from hub.money_cli import add_wallet_commands, run_wallet
from hub.settings import Settings, hub_default
from notifications.push import generate_vapid_private_key

log = logging.getLogger("hub")


def _serve(settings: Settings) -> int:
    # Imported here: an operator command (``hub wallet verify --url``) should not load the media stack for one request.
    import uvicorn

    from hub.app import create_app
    from hub.serve_options import WEBSOCKET_OPTIONS
    from hub.wiring import Hub

    for warning in settings.warnings:
        log.warning("dev mode: %s", warning)
    hub = Hub(settings)
    app = create_app(hub, freeze_gc=True)
    print(
        f"live hub listening on http://{settings.host}:{settings.port}/ (public URL {settings.public_url})", flush=True
    )
    level = settings.log_level.lower()
    uvicorn.run(app, host=settings.host, port=settings.port, log_level=level, lifespan="on", **WEBSOCKET_OPTIONS)
    return 0


async def _cluster(settings: Settings, nodes: int, port: int) -> int:
    """Run ``nodes`` nodes with their own Redis until SIGINT or SIGTERM; then stop everything that was started."""
    from hub.cluster import LocalCluster

    logging.getLogger("httpx").setLevel(logging.WARNING)  # the readiness probes are not news
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    cluster = LocalCluster(settings, nodes, port, host=settings.host)
    try:
        starting = asyncio.ensure_future(cluster.start())
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # interrupted while starting
            starting.cancel()
            with contextlib.suppress(BaseException):
                await starting
            return 130
        stopped.cancel()
        try:
            urls = starting.result()
        except HubError as exc:
            print(f"hub: {exc.message}", file=sys.stderr)
            return 1
        print(f"cluster: redis {cluster.redis.url}", flush=True)
        for i, url in enumerate(urls, start=1):
            print(f"node {i} {url}", flush=True)
        await stop.wait()
        print("cluster: stopping", flush=True)
        return 0
    finally:
        await cluster.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description="Live-streaming interaction hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub (HTTP API, Socket.IO, SFU) on one port")
    host, port = hub_default("host"), hub_default("port")
    serve.add_argument("--host", help=f"interface to bind (default HUB_HOST or {host})")
    serve.add_argument("--port", type=int, help=f"port (default HUB_PORT or {port})")
    cluster = sub.add_parser(
        "cluster", help="N nodes on 127.0.0.1 ports P, P+1, ... with a Redis of their own and one shared database"
    )
    cluster.add_argument("--nodes", type=int, default=2, help="how many nodes (default 2)")
    cluster.add_argument("--port", type=int, default=port, help=f"the first node's port (default {port})")
    add_wallet_commands(sub)
    sub.add_parser("vapid-key", help="print a new Web Push (VAPID) private key for HUB_VAPID_PRIVATE_KEY")
    args = parser.parse_args(argv)
    if args.command == "vapid-key":
        print(generate_vapid_private_key())
        return 0

    env = dict(os.environ)
    if getattr(args, "host", None):
        env["HUB_HOST"] = args.host
    if args.command != "cluster" and getattr(args, "port", None) is not None:
        env["HUB_PORT"] = str(args.port)
    try:
        settings = Settings.from_env(env)
    except HubError as exc:
        print(f"hub: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "cluster":
        return asyncio.run(_cluster(settings, args.nodes, args.port))
    if args.command == "wallet":
        return asyncio.run(run_wallet(settings, args, token=env.get("HUB_ADMIN_TOKEN")))
    return asyncio.run(_unknown(args.command))


async def _unknown(command: str) -> int:
    print(f"hub: unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
