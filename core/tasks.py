"""Stopping background tasks so that they really stop.

``task.cancel()`` followed by ``await task`` hangs forever when the task swallows its cancellation. That happens
without any bug of ours: a library that turns the ``CancelledError`` raised inside it into its own error (a Redis
client closing its connection mid-read, for one) hands a loop's ``except Exception`` an ordinary exception, the loop
logs it and sleeps, and nobody cancels it again. A node then never finishes shutting down (seen in CI: the lifespan
shutdown waited on such a loop until the test's 10 s limit).

``cancel_and_wait`` cancels again until the task is done, a short wait apart, so a swallowed cancellation costs one
wait, not the shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

#: Between two cancellations of a task that is still running: long enough for a task that honours its cancellation
#: to run its ``finally`` blocks, short enough that a swallowed one costs little.
RECANCEL_AFTER_S = 0.2


async def cancel_and_wait(*tasks: asyncio.Task[Any] | None) -> None:
    """Cancel every task and return once all are done; a task that swallows a cancellation is cancelled again.

    ``None`` entries are skipped (a task that was never started). A task's own exception is neither raised nor lost:
    it is logged, since a background task has nobody else to report to. Cancelling the caller still works: the
    caller's ``CancelledError`` propagates after its tasks were cancelled once.
    """
    pending = {t for t in tasks if t is not None and t is not asyncio.current_task()}
    for task in pending:
        task.cancel()
    swallowed: set[str] = set()
    while pending:
        _, pending = await asyncio.wait(pending, timeout=RECANCEL_AFTER_S)
        for task in pending:
            swallowed.add(task.get_name())
            task.cancel()
    if swallowed:
        log.info("background tasks %s ignored a cancellation and were cancelled again", sorted(swallowed))
    for maybe in tasks:
        if maybe is None or maybe is asyncio.current_task() or not maybe.done() or maybe.cancelled():
            continue
        exc = maybe.exception()
        if exc is not None:
            log.warning("background task %s had failed: %r", maybe.get_name(), exc)
