"""The Socket.IO edge: namespace ``/live`` on two servers sharing handlers and fan-out.

- ``/socket.io`` speaks JSON (the default; the official JS client works unchanged);
- ``/socket.io-msgpack`` speaks python-socketio's msgpack serializer, for clients that ask for it (mobile). The
  serializer is server-wide in python-socketio, hence a second server; both register their rooms with the same
  node-wide ``RoomFanout``, so an emit reaches members of either.

Auth on connect (``auth: {token}``; none = guest). Every event answers with an ack ``{ok: true, ...}`` or
``{ok: false, error: {code, message}}``; unknown events are ignored and counted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

import socketio
from pydantic import ValidationError

from app.accounts_admin import CHANGED_EVENT
from app.overlays import OVERLAY_CHANGED, overlay_audience
from app.principal import SOCKET_RECHECK_S, Identity
from core.errors import ForbiddenError, HubError, InvalidInputError, PayloadTooLargeError, UnauthenticatedError
from core.events import EventBus, StreamEnded
from core.ids import StreamId
from signaling import handlers
from signaling.events import Connection, Deps, EventContext, EventRegistry, registry
from signaling.fanout import NAMESPACE, RoomFanout, ShardedManager
from signaling.keys import USER_ROOM, moderators_room, user_room
from signaling.lean_socket import LeanEngineServer
from signaling.metrics import SignalingMetrics

log = logging.getLogger(__name__)

MAX_PACKET_BYTES = 64 * 1024
#: Which browser origins may open a connection: a list, "*", [] (no check), or a predicate on the Origin header.
Origins = list[str] | str | Callable[[str], bool]
SESSION_RECHECK_S = SOCKET_RECHECK_S
#: A connection that sends this many frames that do not decode is closed (a client bug or an attack, not a blip).
MALFORMED_FRAME_LIMIT = 3
#: At most one log line per connection per this many seconds about its malformed frames (plus one when closed).
MALFORMED_LOG_EVERY_S = 10.0
#: Engine.IO packet types a client may send as text (open..noop); anything else is malformed.
_EIO_TYPES = frozenset("0123456")
#: The only events an overlay connection (``auth: {overlay}``) may send: it reads its stream's room, nothing else.
OVERLAY_EVENTS = frozenset({"overlay:join"})
handlers.load()


def error_ack(exc: HubError) -> dict[str, Any]:
    return {"ok": False, "error": exc.to_dict()}


def _validation_error(exc: ValidationError) -> InvalidInputError:
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid"}
    where = ".".join(str(p) for p in first.get("loc", ())) or None
    return InvalidInputError(f"{where or 'payload'}: {first.get('msg', 'invalid')}", field=where)


class LiveNamespace(socketio.AsyncNamespace):  # type: ignore[misc]
    def __init__(
        self,
        identity: Identity,
        deps: Deps,
        fanout: RoomFanout,
        metrics: SignalingMetrics,
        events: EventRegistry = registry,
    ) -> None:
        super().__init__(NAMESPACE)
        self._identity = identity
        self._deps = deps
        self._fanout = fanout
        self._metrics = metrics
        self._events = events
        self.connections: dict[str, Connection] = {}
        self._pending: set[asyncio.Task[None]] = set()

    def context(self, sid: str) -> EventContext | None:
        conn = self.connections.get(sid)
        if conn is None:
            return None
        return EventContext(conn, self._deps, self._fanout, self.server, NAMESPACE)

    async def trigger_event(self, event: str, *args: Any) -> Any:
        if event == "connect":
            return await self._connect(*args)
        if event == "disconnect":
            return await self._disconnect(args[0])
        sid = args[0]
        spec = self._events.get(event)
        ctx = self.context(sid)
        if spec is None or ctx is None:
            self._metrics.unknown_events.inc()
            return self.server.not_handled
        started = time.perf_counter()
        payload = args[1] if len(args) > 1 else None
        try:
            size = len(json.dumps(payload, separators=(",", ":"), default=str))
            if size > spec.max_bytes:
                raise PayloadTooLargeError(f"{event} payloads are at most {spec.max_bytes} bytes")
            if ctx.conn.overlay is not None and event not in OVERLAY_EVENTS:
                raise ForbiddenError("an overlay connection only reads its stream", code="overlay_read_only")
            if spec.auth and ctx.principal is None:
                if ctx.conn.signed_out:
                    ctx.conn.signed_out = False
                    raise UnauthenticatedError("this session has been signed out; log in again", code="session_revoked")
                raise UnauthenticatedError("log in first: guests can only watch")
            if ctx.conn.principal is not None and started - ctx.conn.session_checked_at > SESSION_RECHECK_S:
                await self._recheck_session(ctx.conn)
            body: Any = payload
            if spec.schema is not None:
                try:
                    body = spec.schema.model_validate(payload)
                except ValidationError as exc:
                    raise _validation_error(exc) from None
            result = await spec.fn(ctx, body)
            self._metrics.events.labels(event, "ok").inc()
            return {"ok": True, **(result or {})}
        except HubError as exc:
            self._metrics.events.labels(event, exc.code).inc()
            return error_ack(exc)
        except Exception as exc:
            translated = self._deps.translate(exc)
            if translated is not None:
                log.warning("event %s failed: %s", event, type(exc).__name__)
                self._metrics.events.labels(event, translated.code).inc()
                return error_ack(translated)
            log.exception("event handler failed", extra={"event": event})
            self._metrics.events.labels(event, "internal_error").inc()
            return error_ack(HubError("something went wrong on our side"))
        finally:
            self._metrics.latency.labels(event).observe(time.perf_counter() - started)

    async def _recheck_session(self, conn: Connection) -> None:
        """A connection outlives its access token: every ``SESSION_RECHECK_S`` of activity (and at once when told
        ``you:changed``) it re-reads its principal — role and suspension as they are now — and its moderator rooms
        follow. A logged-out, reused or suspended session turns the connection into a guest's (it may keep
        watching; it can no longer chat, like, gift or moderate) and the event is refused."""
        if not await self.reresolve(conn):
            conn.signed_out = False
            raise UnauthenticatedError("this session has been signed out; log in again", code="session_revoked")

    async def reresolve(self, conn: Connection) -> bool:
        """Re-read ``conn``'s principal; False (and the connection now a guest's) when its session is over."""
        if conn.principal is None:
            return True
        fresh = await self._identity.refresh(conn.principal)
        if fresh is not None and not fresh.suspended:
            conn.principal = fresh
            conn.nickname = fresh.nickname
            conn.session_checked_at = time.perf_counter()
            await self._sync_moderator_rooms(conn)
            return True
        user_id = conn.principal.user_id
        conn.principal = None
        conn.signed_out = True
        await self.leave_room(conn.sid, user_room(user_id))
        for stream_id in conn.streams:
            await self.leave_room(conn.sid, moderators_room(stream_id))
        await self.emit("you:restricted", {"kind": "signed_out", "until": None}, to=conn.sid)
        return False

    async def _sync_moderator_rooms(self, conn: Connection) -> None:
        """In the moderators' room of each joined stream exactly while the policy says this person moderates it."""
        access = self._deps.use.access
        for stream_id in list(conn.streams):
            room = moderators_room(stream_id)
            try:
                moderates = await access.moderates(StreamId(stream_id), conn.principal)
            except HubError:
                moderates = False
            if moderates:
                await self.enter_room(conn.sid, room)
            else:
                await self.leave_room(conn.sid, room)

    def account_changed(self, user_id: str) -> None:
        """Someone's powers changed (role, suspension, channel moderator): re-read their connections here now."""
        for conn in list(self.connections.values()):
            if conn.principal is not None and conn.principal.user_id == user_id:
                task = asyncio.get_running_loop().create_task(self._reresolve_quietly(conn))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def _reresolve_quietly(self, conn: Connection) -> None:
        try:
            await self.reresolve(conn)
        except Exception:
            log.exception("could not re-read a connection's principal")

    def overlays_changed(self, stream_id: str) -> None:
        """A stream's overlay key changed: each of its overlay connections here checks its own key again."""
        for conn in list(self.connections.values()):
            if conn.overlay is not None and conn.overlay.stream_id == stream_id:
                task = asyncio.get_running_loop().create_task(self._recheck_overlay(conn))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def _recheck_overlay(self, conn: Connection) -> None:
        assert conn.overlay is not None
        try:
            await self._deps.use.overlays.connect(conn.overlay.key)
            return
        except HubError as exc:
            error = exc
        except Exception:
            log.exception("could not re-check an overlay key")
            return
        await self.emit("overlay:revoked", {"code": error.code, "message": error.message}, to=conn.sid)
        await self.disconnect(conn.sid)

    async def _connect(self, sid: str, environ: dict[str, Any], auth: Any = None) -> None:
        token = auth.get("token") if isinstance(auth, dict) else None
        overlay_key = auth.get("overlay") if isinstance(auth, dict) else None
        conn = Connection(sid, None)
        client = (environ.get("asgi.scope") or {}).get("client")
        conn.address = str(client[0]) if client else ""
        if overlay_key is not None:
            try:
                conn.overlay = await self._deps.use.overlays.connect(overlay_key)
            except HubError as exc:
                self._metrics.refused.labels(exc.code).inc()
                raise socketio.exceptions.ConnectionRefusedError(
                    exc.message, {"code": exc.code, "message": exc.message}
                ) from None
            token = None  # an overlay is nobody: never a person's session as well
        if token:
            try:
                principal = await self._identity.from_token(str(token))
                conn.session_checked_at = time.perf_counter()
            except HubError as exc:
                self._metrics.refused.labels(exc.code).inc()
                raise socketio.exceptions.ConnectionRefusedError(
                    exc.message, {"code": exc.code, "message": exc.message}
                ) from None
            if principal.suspended:
                self._metrics.refused.labels("suspended").inc()
                message = "this account is suspended"
                raise socketio.exceptions.ConnectionRefusedError(message, {"code": "suspended", "message": message})
            conn.principal = principal
            conn.nickname = principal.nickname
            conn.created_at = principal.created_at
        self.connections[sid] = conn
        self._metrics.connections.inc()
        if conn.principal is not None:
            await self.server.enter_room(sid, user_room(conn.principal.user_id), namespace=NAMESPACE)
        if conn.overlay is not None:  # test alerts and key changes reach a stream's overlays there
            await self.server.enter_room(sid, user_room(overlay_audience(conn.overlay.stream_id)), namespace=NAMESPACE)

    async def _disconnect(self, sid: str) -> None:
        ctx = self.context(sid)
        if ctx is None:
            return
        try:
            for hook in self._events.disconnect_hooks:
                try:
                    await hook(ctx)
                except HubError as exc:
                    log.info("disconnect hook: %s", exc.code)
                except Exception:
                    log.exception("disconnect hook failed")
        finally:
            self.connections.pop(sid, None)
            self._metrics.connections.dec()


class MalformedFrames:
    """Counts frames that do not decode, per connection: one short log line (rate-limited), never a traceback, and
    the connection is closed at ``MALFORMED_FRAME_LIMIT``."""

    def __init__(self, metrics: SignalingMetrics | None = None) -> None:
        self._seen: dict[str, tuple[int, float]] = {}
        self._metrics = metrics

    def hit(self, connection: str, reason: str) -> bool:
        """Record one malformed frame; True when the connection must now be closed."""
        if self._metrics is not None:
            self._metrics.malformed_frames.inc()
        count, logged_at = self._seen.get(connection, (0, -1e9))
        count += 1
        now = time.monotonic()
        if count == MALFORMED_FRAME_LIMIT:
            log.warning("closing Socket.IO connection %s after %d malformed frames (%s)", connection, count, reason)
        elif count < MALFORMED_FRAME_LIMIT and now - logged_at >= MALFORMED_LOG_EVERY_S:
            log.warning("malformed Socket.IO frame on connection %s: %s", connection, reason)
            logged_at = now
        self._seen[connection] = (count, logged_at)  # kept past the limit: frames already queued stay quiet
        return count >= MALFORMED_FRAME_LIMIT

    def forget(self, connection: str) -> None:
        self._seen.pop(connection, None)


class GuardedServer(socketio.AsyncServer):  # type: ignore[misc]
    """python-socketio logs a full traceback for every Socket.IO packet that does not decode and keeps the
    connection; here such a packet costs one counted, rate-limited log line, and a few of them close it."""

    def __init__(self, *args: Any, malformed: MalformedFrames, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.malformed = malformed

    def _engineio_server_class(self) -> type[LeanEngineServer]:
        return LeanEngineServer  # the same protocol, less memory per idle connection (signaling/lean_socket.py)

    async def _handle_eio_message(self, eio_sid: str, data: Any) -> None:
        try:
            await super()._handle_eio_message(eio_sid, data)
        except Exception as exc:  # the packet did not decode (handlers' own errors are caught in LiveNamespace)
            self._binary_packet.pop(eio_sid, None)
            if eio_sid not in self.eio.sockets:
                return  # already closed: frames that were queued behind the last straw
            if self.malformed.hit(eio_sid, f"{type(exc).__name__}, {_size(data)} bytes"):
                socket = self.eio.sockets.get(eio_sid)
                await self.eio.disconnect(eio_sid)
                if socket is not None:
                    # Engine.IO only says goodbye and waits for the client; this ends its writer, which closes the
                    # websocket (or the pending poll) now.
                    await socket.queue.put(None)
                self.malformed.forget(eio_sid)


def _size(data: Any) -> int:
    return len(data) if isinstance(data, str | bytes) else 0


def _guard_websocket(receive: Any, send: Any, malformed: MalformedFrames, connection: str) -> Any:
    """Engine.IO's own frame layer: a text frame must start with a known packet type. python-engineio logs a
    traceback for others; these are dropped and counted, and the connection is closed at the limit."""

    async def guarded_receive() -> Any:
        while True:
            message = await receive()
            text = message.get("text") if message.get("type") == "websocket.receive" else None
            if text is None or (text and text[0] in _EIO_TYPES):
                return message
            if malformed.hit(connection, f"not an Engine.IO packet, {len(text)} characters"):
                await send({"type": "websocket.close", "code": 1008})
                return {"type": "websocket.disconnect", "code": 1008}

    return guarded_receive


class DualSocketIOApp(socketio.ASGIApp):  # type: ignore[misc]
    """``/socket.io/`` (JSON) and ``/socket.io-msgpack/`` in front of ``other_asgi_app`` (still ``.other_asgi_app``)."""

    def __init__(
        self, json_server: Any, msgpack_server: Any, other_asgi_app: Any, malformed: MalformedFrames | None = None
    ) -> None:
        super().__init__(json_server, other_asgi_app=other_asgi_app, socketio_path="socket.io")
        self._msgpack = socketio.ASGIApp(msgpack_server, socketio_path="socket.io-msgpack")
        self._malformed = malformed or MalformedFrames()
        self._connections = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "websocket" and scope.get("path", "").startswith("/socket.io"):
            self._connections += 1
            client = scope.get("client") or ("?", 0)
            connection = f"ws{self._connections}@{client[0]}"
            receive = _guard_websocket(receive, send, self._malformed, connection)
            try:  # not through _route: one coroutine frame less held by every open connection
                if scope["path"].startswith("/socket.io-msgpack/"):
                    await self._msgpack(scope, receive, send)
                else:
                    await super().__call__(scope, receive, send)
            finally:
                self._malformed.forget(connection)
            return
        await self._route(scope, receive, send)

    async def _route(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket") and scope.get("path", "").startswith("/socket.io-msgpack/"):
            await self._msgpack(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


class Signaling:
    """Both Socket.IO servers, their fan-out and the ASGI glue. Built by ``hub.wiring``."""

    def __init__(
        self,
        identity: Identity,
        deps: Deps,
        fanout: RoomFanout,
        metrics: SignalingMetrics,
        *,
        cors_origins: Origins,
        ping_interval_s: float = 25,
        ping_timeout_s: float = 20,
    ) -> None:
        self.deps = deps
        self.fanout = fanout
        self.metrics = metrics
        self.namespaces: list[LiveNamespace] = []
        self.malformed = MalformedFrames(metrics)
        self.server = self._server(identity, cors_origins, "default", ping_interval_s, ping_timeout_s)
        self.msgpack_server = self._server(identity, cors_origins, "msgpack", ping_interval_s, ping_timeout_s)
        fanout.on_room_event(self._room_event, frozenset({CHANGED_EVENT, OVERLAY_CHANGED}))

    def _room_event(self, room: str, event: str) -> None:
        if event == OVERLAY_CHANGED:
            audience = room[len(USER_ROOM) :]
            for ns in self.namespaces:
                ns.overlays_changed(audience.removeprefix(overlay_audience("")))
            return
        if room.startswith(USER_ROOM):
            for ns in self.namespaces:
                ns.account_changed(room[len(USER_ROOM) :])

    def _server(
        self,
        identity: Identity,
        cors: Origins,
        serializer: str,
        ping_interval: float,
        ping_timeout: float,
    ) -> socketio.AsyncServer:
        sio = GuardedServer(
            malformed=self.malformed,
            async_mode="asgi",
            cors_allowed_origins=cors,
            client_manager=ShardedManager(self.fanout),
            serializer=serializer,
            max_http_buffer_size=MAX_PACKET_BYTES,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
        )
        ns = LiveNamespace(identity, self.deps, self.fanout, self.metrics)
        sio.register_namespace(ns)
        self.namespaces.append(ns)
        return sio

    def asgi_app(self, other_asgi_app: Any) -> Any:
        return DualSocketIOApp(self.server, self.msgpack_server, other_asgi_app, self.malformed)

    def subscribe(self, bus: EventBus) -> None:
        """Tell rooms about core facts: a stream that ends tells its room (on every node)."""

        async def ended(event: StreamEnded) -> None:
            await self.fanout.emit(
                event.stream_id, "stream:ended", {"stream_id": event.stream_id, "reason": event.reason}
            )

        bus.subscribe(StreamEnded, ended)

    def start(self) -> None:
        self.fanout.start()

    async def close(self) -> None:
        await self.fanout.close()
