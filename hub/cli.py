"""The ``hub`` command: ``hub serve``, and operator tools."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence

import uvicorn

from core.errors import HubError
from hub.app import create_app
from hub.logging_setup import configure_logging
from hub.money_cli import add_wallet_commands, run_wallet
from hub.settings import Settings
from hub.wiring import Hub

log = logging.getLogger("hub")


def _serve(settings: Settings) -> int:
    hub = Hub(settings)
    app = create_app(hub, freeze_gc=True)
    print(
        f"live hub listening on http://{settings.host}:{settings.port}/ (public URL {settings.public_url})", flush=True
    )
    # Engine.IO runs its own heartbeats; uvicorn's WebSocket pings would only add a task and a timer per connection.
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        lifespan="on",
        ws_ping_interval=None,
        ws_ping_timeout=None,
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hub", description="Live-streaming interaction hub")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the hub (HTTP API, Socket.IO, SFU) on one port")
    serve.add_argument("--host", help="interface to bind (default HUB_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default HUB_PORT or 8080)")
    add_wallet_commands(sub)
    args = parser.parse_args(argv)

    env = dict(os.environ)
    if getattr(args, "host", None):
        env["HUB_HOST"] = args.host
    if getattr(args, "port", None) is not None:
        env["HUB_PORT"] = str(args.port)
    try:
        settings = Settings.from_env(env)
    except HubError as exc:
        print(f"hub: {exc.message}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "serve":
        return _serve(settings)
    if args.command == "wallet":
        return asyncio.run(run_wallet(settings, args))
    return asyncio.run(_unknown(args.command))


async def _unknown(command: str) -> int:
    print(f"hub: unknown command {command}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
