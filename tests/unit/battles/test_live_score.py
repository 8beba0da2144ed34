"""The live score: gifts counted off the ack path, per battle in batches, each transfer once (on the stand-in, or a
real MongoDB with ``HUB_TEST_MONGO_URL``)."""

from __future__ import annotations

from typing import Any

from battles.models import Side
from battles.service import SCORE_EVENT, BattleService
from battles.settings import BattlesSettings
from battles.store import BattleStore
from core.clock import ManualClock
from tests.support.db import CountingClient


class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    async def emit(self, stream_id: str, event: str, payload: dict[str, Any]) -> None:
        self.sent.append((stream_id, event, payload))

    def scores(self) -> list[tuple[str, int, int]]:
        return [(s, p["battle"]["a"]["score"], p["battle"]["b"]["score"]) for s, e, p in self.sent if e == SCORE_EVENT]


class NoLedger:
    """The wallet seam: the result is summed from the ledger's gift transfers (none here)."""

    async def totals_by(self, *args: Any) -> list[tuple[str, int, int]]:
        return []


async def _live_battle(db: Any) -> tuple[BattleService, Recorder, str]:
    store = BattleStore(db)
    await store.create_indexes()
    notifier = Recorder()
    service = BattleService(store, NoLedger(), ManualClock(), BattlesSettings(), notifier)  # type: ignore[arg-type]
    battle = await service.invite(Side("ann", "s-ann", "Ann"), Side("bob", "s-bob", "Bob"))
    await service.accept(battle.id, "bob")
    notifier.sent.clear()
    return service, notifier, battle.id


async def test_a_burst_of_gifts_costs_two_writes_and_one_score_event_per_room(db_name: str, mongo_client: Any) -> None:
    client = CountingClient(mongo_client)
    service, notifier, battle_id = await _live_battle(client[db_name])
    client.ops.clear()
    for i in range(30):  # as many gifts as one turn of the event loop handles under load
        await service.count(f"gift:t{i}", battle_id, "a" if i % 3 else "b", 8)
    assert client.ops == []  # nothing on the gifts' ack path
    await service.scores_added()

    assert sorted(op for _, op in client.ops) == ["find_one_and_update", "insert_many"], client.ops
    assert notifier.scores() == [("s-ann", 20 * 8, 10 * 8), ("s-bob", 20 * 8, 10 * 8)]
    stored = await service.get(battle_id)
    assert (stored.a.score, stored.b.score) == (160, 80)
    await service.close()


async def test_a_transfer_told_again_here_or_on_another_node_counts_once(db_name: str, mongo_client: Any) -> None:
    service, notifier, battle_id = await _live_battle(mongo_client[db_name])
    await service.count("gift:one", battle_id, "a", 8)
    await service.count("gift:one", battle_id, "a", 8)  # the outbox relay's telling, on this node
    await service.scores_added()
    # Another node (its own memory, the same database) told of the same transfer and of a new one in one batch.
    store = BattleStore(mongo_client[db_name])
    other = BattleService(store, NoLedger(), ManualClock(), BattlesSettings(), notifier)  # type: ignore[arg-type]
    await other.count("gift:one", battle_id, "a", 8)
    await other.count("gift:two", battle_id, "b", 5)
    await other.scores_added()

    stored = await service.get(battle_id)
    assert (stored.a.score, stored.b.score) == (8, 5)
    assert notifier.scores()[-1][1:] == (8, 5)
    await service.close()
    await other.close()


async def test_gifts_counted_after_the_battle_ended_do_not_move_the_score(db_name: str, mongo_client: Any) -> None:
    service, notifier, battle_id = await _live_battle(mongo_client[db_name])
    await service.count("gift:early", battle_id, "b", 8)
    await service.scores_added()
    ended = await service.quit(battle_id, "ann")  # the result is the ledger's sum (no ledger here: 0)
    notifier.sent.clear()
    await service.count("gift:late", battle_id, "b", 8)
    await service.scores_added()

    assert notifier.scores() == []
    assert (await service.get(battle_id)).b.score == ended.b.score == 0
    await service.close()
