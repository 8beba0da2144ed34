"""The modules that register Socket.IO event handlers. Add yours here (one import line)."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable

from signaling.events import Services

MODULES = (
    "signaling.room_events",
    "signaling.rtc",
    "signaling.gifts",
)

_loaded = False


def load() -> None:
    global _loaded
    if _loaded:
        return
    for name in MODULES:
        importlib.import_module(name)
    _loaded = True


def close_hooks(services: Services) -> list[Callable[[], Awaitable[None]]]:
    """Background work owned by handler modules (e.g. the publisher-left timers), stopped with the server."""
    from signaling.rtc import PublisherWatch

    watch = services.get(PublisherWatch)
    return [watch.close] if watch is not None else []
