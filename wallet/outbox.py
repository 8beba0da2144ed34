"""The outbox relay: publishes applied transfers' events off the request path, then flips ``published``; for a
request's own new transfer it then also releases the markers and settles it (``Ledger.settle``), after the ack.

The ledger hands it each applied transfer that has an outbox; the sender's ack does not wait for the fan-out.
If the process dies before the relay got to a transfer, the reconciler republishes it (``published`` is still
false), so every event is published at least once; consumers de-duplicate by transfer id.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from core.tasks import cancel_and_wait

log = logging.getLogger(__name__)

#: At most this many transfers per relay batch (their markers and states then take two round trips in all).
BATCH_MAX = 256
#: A transfer handed over to be settled keeps its markers on its accounts until the relay gets to it; past this many
#: waiting, requests settle their own transfers again (the hot accounts' marker lists stay bounded when the relay
#: lags). It was 16 before group commit: in a gift storm almost every request then settled its own transfer (two
#: more round trips each, on the hot accounts' long marker lists); a relay batch settles any number in two.
SETTLE_BACKLOG = 512


class Publishes(Protocol):
    async def publish_outbox(self, doc: dict[str, Any]) -> None: ...

    async def relay_batch(self, items: list[tuple[dict[str, Any], bool]]) -> None: ...


class OutboxRelay:
    def __init__(self, ledger: Publishes, *, max_queue: int = 10_000, settle_backlog: int = SETTLE_BACKLOG) -> None:
        self._ledger = ledger
        self._settle_backlog = settle_backlog
        self._queue: asyncio.Queue[tuple[dict[str, Any], bool]] = asyncio.Queue(max_queue)
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="wallet-outbox-relay")

    async def close(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)

    def submit(self, doc: dict[str, Any], *, settle: bool = False) -> bool:
        """Queue ``doc`` for publishing (and, with ``settle``, for its last ledger steps after that); False when the
        relay is not running or is full, or with ``settle`` when ``settle_backlog`` wait already (the caller does it
        inline then)."""
        if self._task is None or (settle and self._queue.qsize() >= self._settle_backlog):
            return False
        try:
            self._queue.put_nowait((doc, settle))
        except asyncio.QueueFull:
            return False
        return True

    async def drain(self, timeout_s: float = 10.0) -> None:
        """Wait until everything queued so far was handled (tests, shutdown)."""
        if self._task is not None:
            await asyncio.wait_for(self._queue.join(), timeout_s)

    async def _run(self) -> None:
        while True:
            items = [await self._queue.get()]
            try:
                await asyncio.sleep(0)  # one loop iteration per batch (see GroupCommit._run): batches do not chain
                while len(items) < BATCH_MAX and not self._queue.empty():  # what queued meanwhile: the same batch
                    items.append(self._queue.get_nowait())
                await self._ledger.relay_batch(items)
            except asyncio.CancelledError:
                raise
            except Exception:  # the reconciler finishes what failed here
                log.exception("outbox relay: a batch of %d (first %s) failed", len(items), items[0][0].get("_id"))
            finally:
                for _ in items:
                    self._queue.task_done()
