"""Background tasks stop when asked, even the ones that swallow a cancellation."""

from __future__ import annotations

import asyncio
import time

from cluster.settings import ClusterSettings
from core.tasks import cancel_and_wait
from hub.cluster_wiring import ClusterWiring


async def _swallows_one_cancellation(started: asyncio.Event) -> None:
    """A loop whose library turns the CancelledError raised inside it into its own error (as redis-py can)."""
    started.set()
    while True:
        try:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError as exc:
                raise ConnectionError("connection closed mid-read") from exc
        except Exception:
            pass  # the loop logs and goes on, as every retry loop does
        await asyncio.sleep(10)


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again_and_stops() -> None:
    started = asyncio.Event()
    task = asyncio.create_task(_swallows_one_cancellation(started))
    await started.wait()
    t0 = time.monotonic()
    await asyncio.wait_for(cancel_and_wait(task), 5)
    assert task.done() and task.cancelled()
    assert time.monotonic() - t0 < 2


async def test_tasks_that_are_missing_done_or_failed_are_no_obstacle() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    failed = asyncio.create_task(fails())
    finished = asyncio.create_task(asyncio.sleep(0))
    await asyncio.sleep(0.01)
    await cancel_and_wait(None, failed, finished)  # a failure is logged, not raised at the one stopping it
    assert failed.done() and finished.done()


async def test_cancelling_the_one_who_waits_still_cancels_what_it_stops() -> None:
    started = asyncio.Event()
    stubborn = asyncio.create_task(_swallows_one_cancellation(started))
    await started.wait()
    stopper = asyncio.create_task(cancel_and_wait(stubborn))
    await asyncio.sleep(0.05)
    stopper.cancel()
    await asyncio.gather(stopper, return_exceptions=True)
    await cancel_and_wait(stubborn)
    assert stubborn.cancelled()


class _RegistryThatSwallowsCancellation:
    """The node list read hangs and, cancelled, fails with a connection error instead (a Redis call cut short)."""

    def __init__(self) -> None:
        self.reading = asyncio.Event()

    async def nodes(self) -> list[object]:
        self.reading.set()
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError as exc:
            raise ConnectionError("Connection closed by server.") from exc
        return []

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass


async def test_a_node_with_cors_origins_shuts_down_while_its_node_list_read_is_cut_short() -> None:
    """The CI hang: the origin-learning loop caught the converted cancellation, slept, and shutdown waited forever."""
    wiring = ClusterWiring(
        ClusterSettings(heartbeat_s=0.05),
        node_id="n1",
        public_url="http://127.0.0.1:1",
        max_viewers_per_stream=10,
        redis=None,
        cors_origins=("https://app.example",),
    )
    registry = _RegistryThatSwallowsCancellation()
    wiring.placement = registry  # type: ignore[assignment]
    await wiring.start()
    await asyncio.wait_for(registry.reading.wait(), 2)
    closing = asyncio.create_task(wiring.close())
    done, _ = await asyncio.wait({closing}, timeout=3)
    if closing not in done:  # fail instead of hanging the run: stop what the code under test could not
        for _ in range(2):
            for task in asyncio.all_tasks() - {asyncio.current_task()}:
                task.cancel()
            await asyncio.sleep(0.05)
    assert closing in done, "the node's shutdown waits on a loop that swallowed its cancellation"
