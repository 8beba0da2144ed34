"""Facts that packages exchange without importing each other, and the bus that carries them.

Events are frozen dataclasses named in the past tense. The in-process bus is the embedded default;
``hub`` may wire another implementation of the same protocol.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol, TypeVar

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    pass


@dataclass(frozen=True, slots=True)
class StreamStarted(Event):
    stream_id: str
    owner_id: str
    at: datetime
    title: str = ""


@dataclass(frozen=True, slots=True)
class StreamEnded(Event):
    stream_id: str
    owner_id: str
    at: datetime
    reason: str = "ended"


@dataclass(frozen=True, slots=True)
class GiftApplied(Event):
    """A gift's transfer was just applied on this node: its effect can go to the room now, before the outbox relay's
    projections (``GiftSent`` follows with the leaderboard and goal, at least once; its room effect is the fallback
    when this one was never told, e.g. after a crash). ``extra`` carries ``sender``, ``gift`` and ``effect``."""

    transfer_id: str
    stream_id: str
    sender_id: str
    gift_id: str
    count: int
    combo: int
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class GiftSent(Event):
    """Published only after the gift's ledger transfer is applied."""

    transfer_id: str
    stream_id: str
    sender_id: str
    streamer_id: str
    gift_id: str
    count: int
    coins: int
    beans: int
    combo: int
    at: datetime
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UserRestricted(Event):
    """A timeout or ban of a user in a stream's room (``until`` is None for a permanent ban)."""

    stream_id: str
    user_id: str
    kind: str
    until: datetime | None


@dataclass(frozen=True, slots=True)
class TopGiftersChanged(Event):
    """The stream's top gifters changed (``user_ids`` best first). Rooms shows them a badge in chat."""

    stream_id: str
    user_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SubscriberAdded(Event):
    """A channel gained a subscriber, or one came back: a paid month or a gifted one began while the member had no
    running one (``gifted_by`` names the buyer of a gifted month). Overlays draw it as the "new subscriber" alert."""

    channel_id: str
    user_id: str
    tier_id: str
    months: int
    at: datetime
    gifted_by: str | None = None


E = TypeVar("E", bound=Event)
Handler = Callable[[Any], Awaitable[None]]


class EventBus(Protocol):
    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None: ...

    async def publish(self, event: Event) -> None: ...


class InProcessEventBus:
    """Delivers each event to every handler of its type, in subscription order.

    A failing handler is logged and does not stop the others: a projection that breaks
    must not undo the fact it was told about.
    """

    def __init__(self) -> None:
        self._handlers: defaultdict[type[Event], list[Handler]] = defaultdict(list)

    def subscribe(self, event_type: type[E], handler: Callable[[E], Awaitable[None]]) -> None:
        self._handlers[event_type].append(handler)

    async def publish(self, event: Event) -> None:
        for handler in list(self._handlers.get(type(event), ())):
            try:
                await handler(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("event handler failed", extra={"event": type(event).__name__})
