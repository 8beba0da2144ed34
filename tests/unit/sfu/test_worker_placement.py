"""Where SfuWorkerPool puts a stream's viewers: by each worker's forwarding work, in which taking in the publisher
counts as several viewers (its receive path costs ~6 forwards per packet) and each internal pipe a worker feeds as
one."""

from __future__ import annotations

from typing import Any

from sfu.settings import SfuSettings
from sfu.workers import INGEST_COST_VIEWERS, SfuWorkerPool, _Worker


def pool_with_a_publisher_on_worker_0(ingest_cost: int) -> tuple[SfuWorkerPool, list[_Worker]]:
    """Two workers that exist only as placement state: worker calls answer at once, a pipe is only bookkeeping."""
    pool = SfuWorkerPool(SfuSettings(), workers=2, ingest_cost_viewers=ingest_cost)
    workers = [_Worker(0, None, None), _Worker(1, None, None)]  # type: ignore[arg-type]
    workers[0].state["s"] = (True, True, False)  # live, its publisher is here
    pool._workers = workers
    sessions = iter(range(1_000_000))

    async def started() -> None:
        return None

    async def call(worker: _Worker, method: str, *args: Any) -> Any:
        assert method == "subscribe"
        return f"v{next(sessions)}", "answer"

    async def pipe_to(stream_id: str, root: _Worker, worker: _Worker) -> None:
        pool._internal.setdefault(stream_id, {})[worker] = f"internal-{worker.index}"
        worker.state[stream_id] = (True, False, True)

    pool._start = started  # type: ignore[method-assign]
    pool._call = call  # type: ignore[method-assign]
    pool._pipe_to = pipe_to  # type: ignore[method-assign]
    return pool, workers


async def test_the_root_worker_takes_fewer_viewers_by_what_its_publisher_and_pipe_cost() -> None:
    pool, (root, other) = pool_with_a_publisher_on_worker_0(INGEST_COST_VIEWERS)
    for _ in range(14):
        await pool.subscribe("s", "offer")
    # root: 6 (ingest) + 1 (the pipe to worker 1) + 4 viewers = 11; worker 1: 10 viewers (its pipe receive is ~1 more)
    assert (root.viewers, other.viewers) == (4, 10)
    assert [w["load"] for w in pool.stats()["workers"]] == [11, 11]


async def test_without_an_ingest_cost_the_viewers_split_evenly() -> None:
    pool, (root, other) = pool_with_a_publisher_on_worker_0(0)
    for _ in range(14):
        await pool.subscribe("s", "offer")
    assert (root.viewers, other.viewers) == (7, 7)


async def test_a_worker_that_already_has_the_stream_wins_a_tie_over_one_that_would_need_a_pipe() -> None:
    pool, (root, other) = pool_with_a_publisher_on_worker_0(0)
    await pool.subscribe("s", "offer")
    assert (root.viewers, other.viewers) == (1, 0) and "s" not in pool._internal
