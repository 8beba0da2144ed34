"""A gift's effect goes to the room as soon as its transfer is applied, from the node that applied it, without
waiting for the outbox relay (leaderboard, goal, stats); the relay stays the fallback when a crash came between the
apply and the effect, and a gift is never shown twice by one node."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from hub.wiring import Hub
from tests.support.api import live_stream, register
from tests.support.coins import give_coins, verify_at_rest
from tests.support.gift_node import gift_node
from tests.support.live import live_clients
from tests.support.money import SimulatedCrash
from wallet.models import Transfer, TransferKind, TransferState


@pytest.fixture
async def node(db_name: str, mongo_client: Any) -> AsyncIterator[tuple[str, httpx.AsyncClient, Hub]]:
    async with gift_node(db_name, mongo_client, wallet_lease_s=0.3, wallet_reconcile_interval_s=0.1) as n:
        yield n


async def test_the_effect_reaches_the_room_while_the_outbox_relay_is_still_busy(node: Any) -> None:
    url, http, hub = node
    owner = await register(http, "Owner")
    fan = await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    release = asyncio.Event()
    relayed: list[str] = []

    async def stuck_relay(transfer: Transfer) -> None:  # the relay's projections take as long as they like
        await release.wait()
        relayed.append(transfer.id)

    hub.money.ledger.register_publisher(TransferKind.GIFT, stuck_relay)
    try:
        async with live_clients() as open_client:
            sender = await open_client(url, fan["access_token"])
            screen = await open_client(url)
            for c in (sender, screen):
                await c.ok("stream:join", {"stream_id": stream["id"]})
            ack = await sender.ok(
                "gift:send", {"stream_id": stream["id"], "gift_id": "rose", "idempotency_key": "fast"}
            )
            got = await screen.wait_event("gift:received", where=lambda e: e["transfer_id"] == ack["transfer_id"])
            assert got["sender"]["nickname"] == "Fan" and got["gift"]["id"] == "rose" and got["count"] == 1
            assert got["effect"]["animation"] == "rose"
            assert relayed == []  # the relay had not got to it
    finally:
        release.set()


async def test_after_a_crash_between_the_apply_and_the_effect_the_relay_shows_the_gift_exactly_once(
    node: Any,
) -> None:
    url, http, hub = node
    owner = await register(http, "Owner")
    fan = await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    crashed = f"gift:{fan['user']['id']}:crash"

    async def crash_after_apply(tid: str, step: str) -> None:
        if tid == crashed and step == "applied":
            raise SimulatedCrash(f"{tid} after {step}")

    async with live_clients() as open_client:
        screen = await open_client(url)
        await screen.ok("stream:join", {"stream_id": stream["id"]})
        hub.money.ledger.set_step_hook(crash_after_apply)
        with pytest.raises(SimulatedCrash):
            await hub.gifts.send(fan["user"]["id"], stream["id"], "rose", 1, "crash")
        hub.money.ledger.set_step_hook(None)
        normal = await hub.gifts.send(fan["user"]["id"], stream["id"], "rose", 1, "normal")

        def shown(tid: str) -> list[dict[str, Any]]:
            return [e for e in screen.received("gift:received") if tid in (e.get("transfer_ids") or [e["transfer_id"]])]

        # The reconciler takes the crashed transfer once its lease ran out and publishes it through the outbox.
        await screen.wait_for(lambda: shown(crashed), timeout=10)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            docs = [await hub.money.ledger_store.get_transfer(t) for t in (crashed, normal.transfer_id)]
            if all(d is not None and d["state"] == TransferState.SETTLED and d["published"] for d in docs):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the reconciler did not finish the crashed gift")
        await hub.money.relay.drain()
        await asyncio.sleep(0.3)  # a second effect, if any were sent, would be here by now (one room tick)
        assert len(shown(crashed)) == 1
        assert len(shown(normal.transfer_id)) == 1


async def test_a_gift_acked_before_its_relay_failed_is_settled_and_published_by_the_reconciler(node: Any) -> None:
    """The ack waits for the transfer to be applied, not settled: the relay publishes, releases the markers and
    settles after it. When publishing fails there, the reconciler publishes it later; the ledger verifies."""
    _url, http, hub = node
    owner = await register(http, "Owner")
    fan = await register(http, "Fan")
    stream = await live_stream(http, owner)
    await give_coins(http, hub, fan["user"]["id"], 100)
    real = hub.money.ledger._publishers[TransferKind.GIFT]
    failed: list[str] = []

    async def failing_relay(transfer: Transfer) -> None:
        failed.append(transfer.id)
        hub.money.ledger.register_publisher(TransferKind.GIFT, real)  # the next attempt (the reconciler's) works
        raise RuntimeError("the relay died here")

    hub.money.ledger.register_publisher(TransferKind.GIFT, failing_relay)
    ack = await hub.gifts.send(fan["user"]["id"], stream["id"], "rose", 1, "relay-fails")
    assert ack.balance == 99
    await hub.money.relay.drain()
    assert failed == [ack.transfer_id]
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        doc = await hub.money.ledger_store.get_transfer(ack.transfer_id)
        if doc is not None and doc["state"] == TransferState.SETTLED and doc["published"]:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"the reconciler did not finish it: {doc}")
    assert (await verify_at_rest(hub)).ok
