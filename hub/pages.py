"""The browser pages: a live directory, the viewer page, the broadcaster studio, the moderator console and the wallet
(where Stripe Checkout returns people).

Plain HTML, CSS and JavaScript ES modules from ``hub/static/`` (no build step). Each page gets the few client
settings it needs (ICE servers) as a JSON block, so the browser never asks for them separately.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from app.overlays import OVERLAY_KINDS
from hub.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
_CONFIG_MARK = "<!--hub-config-->"
_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    # camera and microphone are asked for by the studio only; no third-party origins are ever loaded
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob: mediastream:; "
        "connect-src 'self' ws: wss:; style-src 'self'; script-src 'self'; object-src 'none'; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
}


def _template(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


def client_config(settings: Settings) -> dict[str, object]:
    """What the pages need to know from the server's settings; never a secret."""
    return {"ice_servers": list(settings.sfu.ice_servers), "public_url": settings.public_url}


def render_page(name: str, settings: Settings) -> str:
    # "</" cannot appear inside the JSON block, so a value can never close the <script> element
    config = json.dumps(client_config(settings)).replace("</", "<\\/")
    block = f'<script type="application/json" id="hub-config">{config}</script>'
    return _template(name).replace(_CONFIG_MARK, block, 1)


def page_routes(settings: Settings) -> list[BaseRoute]:
    def page(name: str) -> Callable[[Request], Awaitable[Response]]:
        # rendered once in production; in dev mode on every request, so edits to the pages show on reload
        rendered = None if settings.mode == "dev" else render_page(name, settings)

        async def endpoint(request: Request) -> Response:
            return HTMLResponse(rendered or render_page(name, settings), headers=_HEADERS)

        return endpoint

    overlay = page("overlay.html")

    async def service_worker(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "sw.js", media_type="text/javascript", headers={"Cache-Control": "no-cache"})

    async def overlay_page(request: Request) -> Response:
        """An OBS browser source (alerts, goal, chat, top): one page, its widget chosen by the path."""
        if request.path_params["kind"] not in OVERLAY_KINDS:
            return Response("no such overlay", status_code=404, media_type="text/plain")
        return await overlay(request)

    return [
        Route("/", page("index.html"), methods=["GET"], name="directory"),
        Route("/watch/{stream_id}", page("watch.html"), methods=["GET"], name="watch"),
        Route("/studio", page("studio.html"), methods=["GET"], name="studio"),
        Route("/console", page("console.html"), methods=["GET"], name="console"),
        Route("/wallet", page("wallet.html"), methods=["GET"], name="wallet"),
        Route("/admin", page("admin.html"), methods=["GET"], name="admin"),
        Route("/notifications", page("notifications.html"), methods=["GET"], name="notifications"),
        Route("/users/{user_id}", page("profile.html"), methods=["GET"], name="profile"),
        # The Web Push service worker: served at the root so that its scope is the whole site.
        Route("/sw.js", service_worker, methods=["GET"], name="service_worker"),
        Route("/overlay/{kind:str}", overlay_page, methods=["GET"], name="overlay"),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]
