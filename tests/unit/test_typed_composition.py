"""Composition is typed (issue #11): what the edges, the use cases and the wiring hold is named by its type in a
constructor, never fished out later. No ``hub: Any`` parameter, no ``getattr`` to reach a wired object, no attribute
of ``Hub`` that starts as ``None`` and is filled in by somebody else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["app", "signaling", "mobile_api", "hub"]
#: getattr over things that are not wired objects: argparse namespaces, Starlette's router, logging levels,
#: exceptions, redis-py command names (the breaker's proxy and the pub/sub link dispatch on a command's name), and
#: python-engineio's and uvicorn's socket objects (the fan-out writes an idle socket's frames to its wire directly).
GETATTR_ALLOWED = {
    "hub/cli.py",
    "hub/metrics.py",
    "hub/logging_setup.py",
    "hub/redis_breaker.py",
    "hub/money_cli.py",
    "signaling/store_redis.py",
    "signaling/fanout.py",
    "signaling/lean_socket.py",
}


def sources() -> list[Path]:
    return sorted(p for layer in LAYERS for p in (ROOT / layer).rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_untyped_hub_and_no_getattr_for_wired_objects(path: Path) -> None:
    rel = str(path.relative_to(ROOT))
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.arg) and node.arg in ("hub", "ctx", "deps", "use"):
            assert not (isinstance(node.annotation, ast.Name) and node.annotation.id == "Any"), (
                f"{rel}:{node.lineno}: {node.arg}: Any"
            )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
            assert rel in GETATTR_ALLOWED, f"{rel}:{node.lineno}: getattr (take it as a typed constructor parameter)"


def test_the_hub_has_no_attribute_filled_in_after_construction() -> None:
    tree = ast.parse((ROOT / "hub" / "wiring.py").read_text())
    hub = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Hub")
    init = next(n for n in hub.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    for node in ast.walk(init):
        if isinstance(node, ast.AnnAssign | ast.Assign) and isinstance(node.value, ast.Constant):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [ast.unparse(t) for t in targets]
            assert node.value.value is not None or names == ["self.redis"] or names == ["self.redis_breaker"], (
                f"hub/wiring.py:{node.lineno}: {names} = None, set later by someone else"
            )
