"""New viewers go to the node whose viewers fill the least of its capacity; full nodes are never chosen."""

from __future__ import annotations

from cluster.models import NodeLoad, least_loaded


def _node(node_id: str, viewers: int, capacity: int = 100, cpu: float = 0.0) -> NodeLoad:
    return NodeLoad(node_id, f"http://{node_id}", viewers=viewers, capacity=capacity, cpu=cpu)


def test_the_least_filled_node_is_chosen_relative_to_its_capacity() -> None:
    nodes = [_node("a", 50, 100), _node("b", 60, 200), _node("c", 10, 10)]
    chosen = least_loaded(nodes)
    assert chosen is not None and chosen.node_id == "b"


def test_cpu_then_id_break_ties_so_every_node_chooses_alike() -> None:
    assert least_loaded([_node("b", 1, cpu=0.5), _node("a", 1, cpu=0.7)]).node_id == "b"  # type: ignore[union-attr]
    assert least_loaded([_node("b", 1), _node("a", 1)]).node_id == "a"  # type: ignore[union-attr]


def test_full_and_excluded_nodes_are_never_chosen() -> None:
    nodes = [_node("a", 100, 100), _node("b", 5, 100)]
    assert least_loaded(nodes, exclude=frozenset({"b"})) is None
    assert least_loaded([_node("a", 3, 3)]) is None


def test_load_round_trips_through_json() -> None:
    node = NodeLoad("n", "http://n", viewers=3, capacity=9, cpu=0.25, streams=1, stream_viewers=(("s1", 3),))
    assert NodeLoad.from_json(node.to_json()) == node
