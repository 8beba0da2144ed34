"""The Socket.IO server: namespace ``/live``. Authentication on connect; room events are added by the rooms work."""

from __future__ import annotations

import logging
from typing import Any

import socketio

from accounts.service import AccountService
from core.errors import HubError

log = logging.getLogger(__name__)


class LiveNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(self, accounts: AccountService) -> None:
        super().__init__("/live")
        self._accounts = accounts

    async def on_connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        principal = None
        if token:
            try:
                principal = await self._accounts.authenticate(str(token))
            except HubError as exc:
                raise socketio.exceptions.ConnectionRefusedError({"code": exc.code, "message": exc.message}) from None
        await self.save_session(sid, {"principal": principal})


def create_server(
    accounts: AccountService, *, cors_origins: list[str] | str, client_manager: Any = None
) -> socketio.AsyncServer:
    sio = socketio.AsyncServer(
        async_mode="asgi",
        cors_allowed_origins=cors_origins,
        client_manager=client_manager,
        max_http_buffer_size=64 * 1024,
    )
    sio.register_namespace(LiveNamespace(accounts))
    return sio
