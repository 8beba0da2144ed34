"""The event registry: how handler modules add Socket.IO events without touching the server.

A module registers plain async functions::

    from signaling.events import EventContext, handler

    class GiftSend(Payload):
        stream_id: str
        gift_id: str
        count: int = 1
        idempotency_key: str

    @handler("gift:send", schema=GiftSend, auth=True)
    async def send_gift(ctx: EventContext, body: GiftSend) -> dict[str, Any]:
        ack = await ctx.use.gifting.send(ctx.principal, ...)   # a use case of app/ (ctx.use: UseCases)
        return ack.to_dict()                     # becomes the ack {ok: true, ...}

and is imported once by ``signaling/handlers.py``. The server validates the payload (size, then schema), refuses
guests when ``auth=True``, maps ``HubError`` to ``{ok: false, error: {code, message}}`` and counts everything.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from app.principal import Principal
from app.use_cases import UseCases
from app.vocabulary import OverlayBinding
from core.errors import ErrorTranslator

if TYPE_CHECKING:
    from signaling.fanout import RoomFanout

DEFAULT_MAX_BYTES = 4096


class Payload(BaseModel):
    """Base for event payloads: unknown fields are refused; strings are not coerced to numbers."""

    model_config = ConfigDict(extra="forbid", strict=True)


@dataclass(slots=True)
class Connection:
    """What the server knows about one socket; lives as long as the connection."""

    sid: str
    principal: Principal | None
    nickname: str | None = None
    created_at: Any = None  # the account's creation time (datetime) for account-age checks
    streams: set[str] = field(default_factory=set)  # joined rooms
    rtc_sessions: dict[str, str] = field(default_factory=dict)  # session id -> stream id
    publishing: dict[str, str] = field(default_factory=dict)  # stream id -> session id
    session_checked_at: float = 0.0  # monotonic time the signed-in session was last confirmed
    signed_out: bool = False  # the session ended while connected; the next signed-in event is told why
    address: str = ""  # the client's IP address as the server saw it
    overlay: OverlayBinding | None = None  # an OBS overlay: read-only, bound to one stream by its overlay key

    @property
    def user_id(self) -> str | None:
        return self.principal.user_id if self.principal else None

    @property
    def viewer_key(self) -> str:
        return self.principal.user_id if self.principal else "g:" + self.sid


@dataclass(frozen=True, slots=True)
class Deps:
    """What handlers call, built once by ``hub`` in dependency order (no lookup by type, nothing wired late)."""

    use: UseCases
    translate: ErrorTranslator  # infrastructure exceptions (database, Redis) → HubError, or None


@dataclass(frozen=True, slots=True)
class EventContext:
    conn: Connection
    deps: Deps
    fanout: RoomFanout
    server: Any  # the python-socketio AsyncServer this connection belongs to
    namespace: str

    @property
    def sid(self) -> str:
        return self.conn.sid

    @property
    def principal(self) -> Principal | None:
        return self.conn.principal

    @property
    def use(self) -> UseCases:
        return self.deps.use

    async def enter(self, room: str) -> None:
        await self.server.enter_room(self.conn.sid, room, namespace=self.namespace)

    async def leave(self, room: str) -> None:
        await self.server.leave_room(self.conn.sid, room, namespace=self.namespace)

    async def send(self, event: str, payload: Any) -> None:
        """To this connection only."""
        await self.server.emit(event, payload, to=self.conn.sid, namespace=self.namespace)


Handler = Callable[[EventContext, Any], Awaitable[dict[str, Any] | None]]


@dataclass(frozen=True, slots=True)
class EventSpec:
    name: str
    fn: Handler
    schema: type[BaseModel] | None
    auth: bool
    max_bytes: int


class EventRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, EventSpec] = {}
        self._disconnect_hooks: list[Callable[[EventContext], Awaitable[None]]] = []

    def handler(
        self,
        name: str,
        *,
        schema: type[BaseModel] | None = None,
        auth: bool = False,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            if name in self._specs:
                raise ValueError(f"event {name!r} already has a handler ({self._specs[name].fn.__qualname__})")
            self._specs[name] = EventSpec(name, fn, schema, auth, max_bytes)
            return fn

        return register

    def on_disconnect(self, fn: Callable[[EventContext], Awaitable[None]]) -> Callable[[EventContext], Awaitable[None]]:
        """Run ``fn(ctx)`` when a connection ends (after the rooms were left)."""
        self._disconnect_hooks.append(fn)
        return fn

    def get(self, name: str) -> EventSpec | None:
        return self._specs.get(name)

    @property
    def names(self) -> list[str]:
        return sorted(self._specs)

    @property
    def disconnect_hooks(self) -> list[Callable[[EventContext], Awaitable[None]]]:
        return list(self._disconnect_hooks)


registry = EventRegistry()
handler = registry.handler
on_disconnect = registry.on_disconnect
