"""The modules that register Socket.IO event handlers. Add yours here (one import line)."""

from __future__ import annotations

import importlib

MODULES = (
    "signaling.room_events",
    "signaling.rtc",
    "signaling.gifts",
    "signaling.overlays",
    "signaling.battles",
)

_loaded = False


def load() -> None:
    global _loaded
    if _loaded:
        return
    for name in MODULES:
        importlib.import_module(name)
    _loaded = True
