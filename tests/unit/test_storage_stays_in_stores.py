"""Storage details stay in the stores: outside a package's ``store.py`` / ``store_*.py`` no module spells a MongoDB
operator (``$set``, ``$inc``, ``$in`` …) or a raw status string (``"pending"``, ``"live"`` …); code says
``store.mark_applied(...)`` and ``TransferState.PENDING``.

Statuses are the values of the ``StrEnum`` classes named ``*Status`` / ``*State`` in the source packages; a raw
one is such a value written as a string where a status goes: ``{"status": "open"}``, ``x.state == "applied"``,
``status: Literal["live", …] = "live"``, ``f(status="paid")``. The same words elsewhere (a stream's end reason
``"ended"``, a ledger step name) are other vocabularies and pass; a line that must compare a status field with
another vocabulary (Stripe's) says so with ``# not-a-status``.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOT_SOURCE = {"tests", "scripts", "docs", "docker", ".venv", ".venv-runtime"}
JSON_SCHEMA_KEYWORDS = {"$ref", "$defs", "$schema", "$id"}
MONGO_OPERATOR = re.compile(r"\$[a-zA-Z][a-zA-Z0-9]*")
FIELD_PATH = re.compile(r"\$[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)+")  # "$refs.coins": an aggregation field path
MARKER = "# not-a-status"
STORAGE_MODULES = {"hub/mongo_standin.py"}  # the in-process MongoDB itself
# The media layer knows no business statuses (it imports nothing of rooms or wallet); the states it compares are
# aiortc's (RTCPeerConnection.connectionState: "new", "connecting", "connected", "failed", "closed").
OTHER_VOCABULARY_PACKAGES = {"sfu"}


def source_files() -> list[Path]:
    packages = [
        p
        for p in sorted(ROOT.iterdir())
        if p.is_dir() and p.name not in NOT_SOURCE and not p.name.startswith(".") and (p / "__init__.py").exists()
    ]
    return [f for pkg in packages for f in sorted(pkg.rglob("*.py"))]


def is_store(path: Path) -> bool:
    return path.name == "store.py" or path.name.startswith("store_")


def docstring_nodes(tree: ast.AST) -> set[int]:
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def status_values(files: list[Path]) -> dict[str, str]:
    """Every status value -> the enum member it belongs to."""
    values: dict[str, str] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and is_status_enum(node):
                for stmt in node.body:
                    if (
                        isinstance(stmt, ast.Assign)
                        and isinstance(stmt.value, ast.Constant)
                        and isinstance(stmt.value.value, str)
                        and isinstance(stmt.targets[0], ast.Name)
                    ):
                        member = f"{node.name}.{stmt.targets[0].id}"
                        values[stmt.value.value] = " or ".join(filter(None, (values.get(stmt.value.value), member)))
    return values


def is_status_enum(node: ast.ClassDef) -> bool:
    bases = {b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases}
    return node.name.endswith(("Status", "State")) and "StrEnum" in bases


STATUS_NAME = re.compile(r"(^|[._])(status|state)(es|s)?$", re.IGNORECASE)


def names_a_status(name: str) -> bool:
    return bool(STATUS_NAME.search(name))


def mentions_a_status(expr: ast.AST) -> bool:
    """``x.status``, ``status``, ``doc["state"]``, ``doc.get("hold.state")`` …"""
    for node in ast.walk(expr):
        if isinstance(node, ast.Name) and names_a_status(node.id):
            return True
        if isinstance(node, ast.Attribute) and names_a_status(node.attr):
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and names_a_status(node.value):
            return True
    return False


def status_positions(tree: ast.AST) -> list[ast.AST]:
    """Expressions whose value is (or is compared with) a status: the right side of ``{"status": …}``,
    ``status = …``, ``status: Literal[…] = …``, ``f(status=…)``, ``def f(status=…)`` and both sides of a
    comparison one side of which names a status."""
    found: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            for k, v in zip(node.keys, node.values, strict=True):
                if isinstance(k, ast.Constant) and isinstance(k.value, str) and names_a_status(k.value):
                    found.append(v)
        elif isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            if any(mentions_a_status(o) for o in operands):
                found.extend(operands)
        elif (isinstance(node, ast.keyword) and node.arg and names_a_status(node.arg)) or (
            isinstance(node, ast.Assign) and any(mentions_a_status(t) for t in node.targets)
        ):
            found.append(node.value)
        elif isinstance(node, ast.AnnAssign) and mentions_a_status(node.target):
            found.append(node.annotation)
            if node.value is not None:
                found.append(node.value)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            positional = [*args.posonlyargs, *args.args]
            pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None]
            for arg, default in pairs:
                if names_a_status(arg.arg):
                    found.append(default)
            for arg in [*positional, *args.kwonlyargs]:
                if names_a_status(arg.arg) and arg.annotation is not None:
                    found.append(arg.annotation)
    return found


@dataclass(frozen=True)
class Finding:
    where: str
    text: str
    why: str

    def __str__(self) -> str:
        return f"{self.where}: {self.text!r} {self.why}"


def field_name_constants(tree: ast.AST) -> set[int]:
    """Constants used as field names: dict keys, subscripts, ``x.get("name")``."""
    ids: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            ids.update(id(k) for k in node.keys if k is not None)
        elif isinstance(node, ast.Subscript) and not (isinstance(node.value, ast.Name) and node.value.id == "Literal"):
            ids.add(id(node.slice))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "pop", "setdefault")
            and node.args
        ):
            ids.add(id(node.args[0]))
    return ids


def findings(files: list[Path]) -> list[Finding]:
    statuses = status_values(files)
    out: list[Finding] = []
    for path in files:
        rel = path.relative_to(ROOT)
        if is_store(path) or str(rel) in STORAGE_MODULES:
            continue
        check_statuses = rel.parts[0] not in OTHER_VOCABULARY_PACKAGES
        text = path.read_text()
        lines = text.splitlines()
        tree = ast.parse(text, str(path))
        docstrings = docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                value = node.value
                if (MONGO_OPERATOR.fullmatch(value) or FIELD_PATH.fullmatch(value)) and (
                    value not in JSON_SCHEMA_KEYWORDS
                ):
                    out.append(Finding(f"{rel}:{node.lineno}", value, "is a MongoDB operator: query in a store"))
        field_names = field_name_constants(tree)
        seen: set[int] = set()
        for expr in status_positions(tree) if check_statuses else ():
            for node in ast.walk(expr):
                if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or id(node) in seen:
                    continue
                seen.add(id(node))
                if node.value in statuses and id(node) not in field_names and MARKER not in lines[node.lineno - 1]:
                    out.append(
                        Finding(f"{rel}:{node.lineno}", node.value, f"is a raw status: use {statuses[node.value]}")
                    )
    return sorted(out, key=str)


def test_no_mongodb_operator_or_raw_status_outside_the_stores() -> None:
    problems = findings(source_files())
    assert not problems, "\n".join(map(str, problems))


def test_the_check_catches_an_operator_and_a_status_and_passes_field_names(tmp_path: Path) -> None:
    """The check itself can fail: a domain module with ``$set`` and ``"pending"`` is caught, a store is not."""
    models = tmp_path / "models.py"
    models.write_text('import enum\nclass ThingState(enum.StrEnum):\n    PENDING = "pending"\n')
    service = tmp_path / "service.py"
    service.write_text(
        '"""docs may say $set and pending"""\n'
        'Q = {"$set": {"state": "pending"}}\n'
        'if doc["status"] in ("open", "pending"): pass\n'
        'ok = doc.get("pending"), doc["pending"], {"pending": 1}, hook(tid, "pending"), reason == "pending"\n'
        'stripe = doc["status"] == "pending"  # not-a-status\n'
        'schema = {"$ref": "#/x"}\n'
    )
    store = tmp_path / "store.py"
    store.write_text('Q = {"$inc": {"n": 1}, "state": "pending"}\n')
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        found = sorted((f.where.split(":")[0], f.text) for f in findings([models, service, store]))
    finally:
        ROOT = saved
    assert found == [("service.py", "$set"), ("service.py", "pending"), ("service.py", "pending")]
