"""The outbox relay takes over settling a request's transfer only while it keeps up: past its settle backlog the
request settles its own transfer (markers stay on the hot accounts only as long as the relay is behind by little)."""

from __future__ import annotations

import asyncio
from typing import Any

from wallet.outbox import OutboxRelay


class StuckLedger:
    def __init__(self) -> None:
        self.go_on = asyncio.Event()
        self.batches: list[list[tuple[str, bool]]] = []

    async def publish_outbox(self, doc: dict[str, Any]) -> None:
        return None

    async def relay_batch(self, items: list[tuple[dict[str, Any], bool]]) -> None:
        self.batches.append([(doc["_id"], settle) for doc, settle in items])
        await self.go_on.wait()


async def test_past_its_settle_backlog_the_relay_still_publishes_but_no_longer_settles() -> None:
    ledger = StuckLedger()
    relay = OutboxRelay(ledger, settle_backlog=3)
    assert not relay.submit({"_id": "early"}, settle=True)  # not running: the caller does everything
    relay.start()
    try:
        assert relay.submit({"_id": "t0"}, settle=True)
        for _ in range(10):  # the relay takes t0 and is stuck in its batch (a loop iteration or two)
            if ledger.batches:
                break
            await asyncio.sleep(0)
        assert ledger.batches == [[("t0", True)]]
        accepted = [relay.submit({"_id": f"t{i}"}, settle=True) for i in range(1, 6)]
        assert accepted == [True, True, True, False, False]
        assert relay.submit({"_id": "t6"})  # publishing only: still queued
        ledger.go_on.set()
        await relay.drain(5)
        assert ledger.batches == [[("t0", True)], [("t1", True), ("t2", True), ("t3", True), ("t6", False)]]
    finally:
        await relay.close()
