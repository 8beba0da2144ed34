"""Waiting for a condition in a test: poll it until it holds or the time is up."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def until(check: Callable[[], object | Awaitable[object]], timeout: float, *, every: float = 0.05) -> bool:
    """Whether ``check()`` (plain or async) became true within ``timeout`` seconds, asked every ``every`` seconds
    and once more at the end, so that a starved event loop that overslept the deadline still gets its answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await _holds(check):
            return True
        await asyncio.sleep(every)
    return await _holds(check)


async def _holds(check: Callable[[], object | Awaitable[object]]) -> bool:
    value = check()
    if inspect.isawaitable(value):
        value = await value
    return bool(value)
