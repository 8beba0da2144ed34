"""How many database operations one gift costs (each is a round trip on a real MongoDB): counted with a wrapper
around the client, so a change that adds operations to the gift path fails here. The ack path is what the sender
waits for; the rest (live leaderboard, goal, stream stats, marking the outbox published) runs after the ack, in the
outbox relay."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from typing import Any

from app.principal import Principal
from core.ids import StreamId, UserId
from gifts.models import GoalKind
from hub.wiring import Hub
from tests.conftest import make_settings
from tests.support.db import CountingClient
from wallet.accounts import COINS_STRIPE, Currency, user_coins
from wallet.models import Leg, Transfer, TransferKind, TransferSpec, TransferState
from wallet.verify import verify_ledger

#: Before the ledger batched its unguarded legs and marker releases: 18 on the ack path, 23 in all (with a goal);
#: 11 / 16 before a new key stopped costing a replay lookup; 10 before the outbox relay took over releasing the
#: markers and settling (after the ack); 16 in all before the relay marked a transfer settled and published in one.
ACK_PATH_OPS = 8
ALL_OPS = 14
#: Through the use case (what both edges call): the room's facts for the policy (the stream and the sender's
#: restriction; the channel's moderators only for a restricted sender) are read once and the stream is handed on,
#: not read again (14 before; 10 before the relay took over releasing the markers and settling); plus one read of
#: the streamer's PK battle slot (``pk_slots`` by ``_id``: the transfer carries the live battle, so its score is the
#: ledger's sum — app/battling.py ``tag``), 8 before PK battles.
USE_CASE_ACK_PATH_OPS = 9


#: The collections a gift reads and writes. A gift now waits (yields) while its group commit writes its batch, so the
#: hub's other background work (go-live notifications, loyalty, the reconciler's scans) may run meanwhile: only
#: operations on these count, less the reconciler's and other readers' (``find`` of transfers, ``find_one`` of users).
GIFT_PATH = frozenset(
    {
        "streams",
        "channel_moderators",
        "room_restrictions",
        "pk_slots",
        "users",
        "gifts_daily_spend",
        "gifts_catalogue",
        "gifts_catalogue_versions",
        "gifts_goals",
        "gifts_goal_counted",
        "wallet_transfers",
        "wallet_accounts",
    }
)
NOT_GIFT_PATH = frozenset({("wallet_transfers", "find"), ("users", "find_one")})


def _gift_path(ops: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [op for op in ops if op[0] in GIFT_PATH and op not in NOT_GIFT_PATH]


async def _user(hub: Hub, nickname: str) -> str:
    user, _ = await hub.accounts.register(
        email=f"{nickname}-{secrets.token_hex(3)}@example.com", password="correct horse", nickname=nickname
    )
    return str(user.id)


async def test_a_gift_costs_at_most_a_dozen_database_operations_before_its_ack(db_name: str, mongo_client: Any) -> None:
    client = CountingClient(mongo_client)
    hub = Hub(make_settings(db_name, gift_burst=1000, gift_per_second=1000.0), mongo_client=client)
    await hub.start()
    try:
        owner = await _user(hub, "Owner")
        fan = await _user(hub, "Fan")
        await hub.accounts.set_identity_verified(UserId(owner), True)
        stream = await hub.streams.create(UserId(owner), title="counted")
        await hub.streams.go_live(stream.id)
        await hub.money.goals.set(owner, stream.id, GoalKind.BEANS, 10**6, None, "a goal")
        await hub.money.ledger.execute(
            TransferSpec(
                "topup:counted",
                TransferKind.TOPUP,
                (Leg(COINS_STRIPE, Currency.COINS, -1000), Leg(user_coins(fan), Currency.COINS, 1000)),
            )
        )
        for i in range(3):  # warm: accounts exist, the day's spend counter exists, caches are filled
            await hub.gifts.send(fan, stream.id, "rose", 1, f"warm-{i}")
        await hub.money.relay.drain()

        client.ops.clear()
        ack = await hub.gifts.send(fan, stream.id, "rose", 1, "counted")
        on_ack_path = _gift_path(client.ops)
        await hub.money.relay.drain()
        everything = _gift_path(client.ops)

        assert ack.balance == 1000 - 4 * ack.coins_spent
        assert len(on_ack_path) <= ACK_PATH_OPS, Counter(on_ack_path)
        assert len(everything) <= ALL_OPS, Counter(everything)
        assert ("gifts_goals", "find_one_and_update") in everything[len(on_ack_path) :]  # the goal moved, after

        user = await hub.accounts.get_user(UserId(fan))
        client.ops.clear()
        ack = await hub.use.gifting.send(Principal.of(user, "session"), StreamId(stream.id), "rose", 1, "use-case")
        through_use_case = _gift_path(client.ops)
        await hub.money.relay.drain()
        assert ack.balance == 1000 - 5 * ack.coins_spent
        assert len(through_use_case) <= USE_CASE_ACK_PATH_OPS, Counter(through_use_case)
        assert Counter(through_use_case)[("streams", "find_one")] == 1, Counter(through_use_case)
        assert not [op for op in through_use_case if op[0] == "channel_moderators"], Counter(through_use_case)
        assert Counter(through_use_case)[("pk_slots", "find_one")] == 1, Counter(through_use_case)
        assert (await verify_ledger(hub.money.ledger_store)).ok
    finally:
        await hub.close()


async def test_the_relay_settles_the_gifts_that_queued_meanwhile_in_two_round_trips(
    db_name: str, mongo_client: Any
) -> None:
    """Gifts acked while the outbox relay was busy are settled together: all their markers off in one update, all
    marked settled and published in one more (each document still on its own)."""
    client = CountingClient(mongo_client)
    hub = Hub(make_settings(db_name, gift_burst=1000, gift_per_second=1000.0), mongo_client=client)
    await hub.start()
    try:
        owner = await _user(hub, "Owner")
        fan = await _user(hub, "Fan")
        await hub.accounts.set_identity_verified(UserId(owner), True)
        stream = await hub.streams.create(UserId(owner), title="batched")
        await hub.streams.go_live(stream.id)
        await hub.money.ledger.execute(
            TransferSpec(
                "topup:batched",
                TransferKind.TOPUP,
                (Leg(COINS_STRIPE, Currency.COINS, -1000), Leg(user_coins(fan), Currency.COINS, 1000)),
            )
        )
        real = hub.money.ledger._publishers[TransferKind.GIFT]
        busy, go_on = asyncio.Event(), asyncio.Event()

        async def slow_first(transfer: Transfer) -> None:
            busy.set()
            await go_on.wait()
            hub.money.ledger.register_publisher(TransferKind.GIFT, real)
            await real(transfer)

        hub.money.ledger.register_publisher(TransferKind.GIFT, slow_first)
        await hub.gifts.send(fan, stream.id, "rose", 1, "first")
        await busy.wait()  # the relay is inside its first batch
        client.ops.clear()
        acks = [await hub.gifts.send(fan, stream.id, "rose", 1, f"queued-{i}") for i in range(12)]  # < its backlog
        go_on.set()
        await hub.money.relay.drain()
        ops = Counter(client.ops)
        assert acks[-1].balance == 1000 - 13 * acks[-1].coins_spent
        assert ops[("wallet_accounts", "update_many")] == 2, ops  # the first batch's markers, then the 12's
        assert ops[("wallet_transfers", "update_many")] == 2, ops  # settled and published: the same
        assert ops[("wallet_transfers", "bulk_write")] == 12, ops  # each gift's "applied" (a batch of one each)
        assert ops[("wallet_transfers", "update_one")] == 0, ops  # nothing more per gift
        for ack in acks:
            doc = await hub.money.ledger_store.get_transfer(ack.transfer_id)
            assert doc is not None and doc["state"] == TransferState.SETTLED and doc["published"]
        assert (await verify_ledger(hub.money.ledger_store)).ok
    finally:
        await hub.close()
